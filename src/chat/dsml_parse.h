// Turning a finished completion into reasoning, visible content and tool calls (spec 6.3) and
// the OpenAI arguments string of a call (spec 6.4).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dstar::chat {

struct ParsedToolCall {
    std::string name;
    // ds4's internal arguments JSON: {"k": v, "k2": v2} in parameter order (note the spaces),
    // string values JSON-escaped, other values minified raw text (not validated).
    std::string arguments;
};

struct ParsedReply {
    // False when a tool block was found but could not be parsed: content is then the whole
    // completion, there is no reasoning and no call (the API response stays valid).
    bool ok = true;
    std::optional<std::string> reasoning;  // nullopt when the text has no </think>
    std::string content;
    std::vector<ParsedToolCall> calls;
    // The exact sampled block, from the start match (including a leading "\n\n" when that
    // variant matched) to the end of the closing tag.  This is what the tool
    // memory stores for exact replay.  "" when no block was found.
    std::string raw_block;
    // Why a started block could not be parsed (ok == false), naming the invoke and parameter,
    // e.g. "invoke 2 ('read'): parameter 'path' not closed (no </｜DSML｜parameter>)" or
    // "missing closing </｜DSML｜tool_calls> (the text ends after invoke 1)".  "" when ok.
    std::string error;
    // Non-empty when ds4's reading of the block fails or ends the block early, and a reading
    // that keeps DSML written as text inside a value was used instead (which one and why, for
    // the trace).  "" whenever the result is ds4's.
    std::string recovery;
};

// `thinking`: the prompt ended with <think>, so tool markers count only after the last
// </think> (DSML quoted in reasoning is never executed).
//
// Whenever ds4's parser reads the block completely and no closing tag of the block's family
// is left over after it, the result is exactly ds4's.  Otherwise a value may hold a closing
// tag that was meant as text (a write_file of a protocol document, say), and a second,
// lenient reading is tried: a value may run past a closing parameter tag that is not
// followed by more tool-call syntax, the block may start at an earlier marker whose block
// encloses the one ds4 picked, and in thinking mode a </think> inside a value does not hide
// the block.  It is used only if it reads the whole block with nothing left over; then
// `recovery` says so.  Else a block ds4 read stays ds4's result, and a block nobody could
// read is returned as text with `error` set.
ParsedReply parse_generated_message(std::string_view completion, bool thinking);

// The OpenAI `arguments` string (and Anthropic `input` object text) for an arguments JSON:
// re-serialised compactly as {"k":v,...} in member order, strings with ds4's escaping,
// non-strings as minified raw text; "{}" if the text is not a readable JSON object.
std::string compact_arguments_json(std::string_view arguments);

// Finish reason to report when parsing failed after the model opened a tool block with tools
// active: a length stop stays "length", anything else becomes "stop" ("error" is kept).
std::string finish_after_tool_parse_failure(std::string_view finish);

}  // namespace dstar::chat

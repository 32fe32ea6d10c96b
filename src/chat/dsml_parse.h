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
};

// `thinking`: the prompt ended with <think>, so tool markers count only after the last
// </think> (DSML quoted in reasoning is never executed).
ParsedReply parse_generated_message(std::string_view completion, bool thinking);

// The OpenAI `arguments` string (and Anthropic `input` object text) for an arguments JSON:
// re-serialised compactly as {"k":v,...} in member order, strings with ds4's escaping,
// non-strings as minified raw text; "{}" if the text is not a readable JSON object.
std::string compact_arguments_json(std::string_view arguments);

// Finish reason to report when parsing failed after the model opened a tool block with tools
// active: a length stop stays "length", anything else becomes "stop" ("error" is kept).
std::string finish_after_tool_parse_failure(std::string_view finish);

}  // namespace dstar::chat

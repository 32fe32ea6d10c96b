// A finished generation as every API reports it (spec server.md §7.3, §12, §13.4): the final
// DSML parse splits the raw text into reasoning, content and tool calls and decides the finish
// reason; usage carries the prompt, cached and generated token counts.  The four API formats
// (openai_chat, completions, responses, anthropic) render this one value.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kvcache/tool_memory.h"
#include "server/job.h"

namespace dstar::server::api {

struct Usage {
    uint32_t prompt = 0;     // P: tokens of the effective prompt
    uint32_t cached = 0;     // R: reused prefix (cache read)
    uint32_t generated = 0;  // C
    uint32_t written() const { return prompt > cached ? prompt - cached : 0; }  // W = P - R
};
Usage usage_of(const JobResult &r);

struct ReplyToolCall {
    std::string id;         // call_... / toolu_...
    std::string name;       // the name the model wrote (the prompt's name)
    std::string arguments;  // compact JSON object text: OpenAI "arguments", Anthropic "input"
};

struct FinalReply {
    Finish finish = Finish::Stop;   // after parsing (tool calls found -> ToolCalls)
    std::string error;              // the worker's reason when finish is Error
    bool recovered = false;         // a malformed tool block was returned as text (§7.3)
    std::string parse_error;        // why that block could not be parsed (recovered)
    std::string parse_note;         // the parser's lenient reading was used, and why
    bool has_reasoning = false;     // the text had a </think> (thinking modes)
    std::string reasoning;
    std::string content;            // visible answer (whole raw text for completions)
    std::vector<ReplyToolCall> calls;
    std::string raw_block;          // exact sampled DSML block of the calls ("" without calls)
    std::string text;               // the raw generated text
    Usage usage;
};

// Tool-call ids for one response: never twice in the response, never an id the tool memory
// already holds (so exact replay cannot confuse two turns).
class CallIdSource {
public:
    CallIdSource(std::string prefix, const kvcache::ToolMemory *memory)
        : prefix_(std::move(prefix)), memory_(memory) {}
    std::string next();
    const std::string &prefix() const { return prefix_; }

private:
    std::string prefix_;
    const kvcache::ToolMemory *memory_;
    std::set<std::string> used_;
};

// Chat-style replies (chat, responses, messages) of the generated `text` (r.text, or the text
// a stream saw).  thinking: the prompt ended with <think>.  streamed_ids: ids already sent for the first calls during streaming (reused, spec §13.4);
// the remaining calls get fresh ids from `ids`.
FinalReply chat_reply(const JobResult &r, std::string_view text, bool thinking, const std::vector<std::string> &streamed_ids,
                      CallIdSource &ids);
// /v1/completions: the raw text, no parsing (ds4 behaviour).
FinalReply completion_reply(const JobResult &r, std::string_view text);

// Finish names per API (spec §12).
const char *openai_finish_reason(Finish f);    // stop, tool_calls, length, error
const char *anthropic_stop_reason(Finish f);   // end_turn, tool_use, max_tokens
const char *responses_status(Finish f);        // completed, incomplete, failed
const char *responses_item_status(Finish f);   // completed, incomplete

// Where the visible answer starts in a thinking-mode completion, as the stream splitter sees it
// (after the first </think>, a leading <think> skipped); 0 when not thinking; npos while the
// reasoning is still open.
size_t visible_text_start(std::string_view text, bool thinking);

}  // namespace dstar::server::api

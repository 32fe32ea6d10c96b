// Streaming projection of a growing completion into reasoning / content / tool-call events
// (spec 6.5), independent of any wire format.  The OpenAI and Anthropic streams are thin
// encodings of these events; the final parse (parse_generated_message) stays authoritative
// for the returned objects.
//
// Two differences from ds4's stream, both where ds4's streamed arguments disagree with its
// final parse or break: a parameter value ends at the first closing tag followed by a tag of
// the block's family, so a closing tag written inside a value followed by ordinary text stays
// in the value (the closing tag and what follows it are held back until that is known); and
// an empty JSON value is sent as null.  Fed the same completion in any chunks, the events
// concatenate to the same reasoning, content, names and arguments.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "chat/dsml_syntax.h"

namespace dstar::chat {

struct StreamEvent {
    enum class Kind {
        Reasoning,      // text: reasoning bytes
        Content,        // text: visible answer bytes
        ToolCallStart,  // index, text: tool name (the caller assigns the call id here)
        ToolCallArgs,   // index, text: next fragment of the arguments JSON
        ToolCallEnd,    // index: the invoke closed (after its final "}" fragment)
    };
    Kind kind;
    int index = -1;
    std::string text;

    bool operator==(const StreamEvent &) const = default;
};

class StreamSplitter {
public:
    // thinking: the prompt ended with <think>.  tools: tools are active (tool markers are only
    // recognised then, and content near a possible marker is held back).
    // tool_stream_on_final: start live tool events even when the block is first seen by the
    // final update (OpenAI does; ds4's Anthropic stream leaves such calls to the final
    // emitter, i.e. pass false).
    StreamSplitter(bool thinking, bool tools, bool tool_stream_on_final = true);

    // Feed the whole completion so far (it only grows); final=true once generation ended
    // (flushes the held-back tails).  Returns the new events, in order.
    std::vector<StreamEvent> update(std::string_view completion, bool final = false);

    bool sent_reasoning() const { return sent_reasoning_; }
    bool sent_content() const { return sent_content_; }
    // Some ToolCallStart was emitted: the caller must not re-send the calls at the end.
    bool streamed_tool_calls() const { return tool_emitted_any_; }
    // Number of invokes started so far.
    int tool_calls_started() const { return tool_started_; }

private:
    enum class Mode { Thinking, Text, Tool, Suppress };
    enum class ToolState { BetweenInvokes, BetweenParams, ParamValue, Done, Error };

    bool tools_;
    bool tool_stream_on_final_;
    Mode mode_;
    size_t emit_pos_ = 0;
    bool checked_think_prefix_ = false;
    bool sent_reasoning_ = false;
    bool sent_content_ = false;

    // Live tool projection.
    const DsmlSyntax *syn_ = nullptr;
    ToolState tool_state_ = ToolState::BetweenInvokes;
    size_t parse_pos_ = 0;
    int tool_index_ = 0;
    int tool_started_ = 0;
    bool tool_active_ = false;
    bool tool_emitted_any_ = false;
    bool args_open_ = false;
    bool first_param_ = true;
    bool param_is_string_ = false;
    bool value_empty_ = true;  // no byte of the current value sent yet

    // Where the current parameter value ends: the closing tag's position and whether it is
    // known to be the real one (npos: no candidate yet).
    struct ValueEnd {
        size_t pos;
        bool closed;
    };
    ValueEnd find_value_end(std::string_view raw, bool final) const;

    bool start_tool_stream(std::string_view raw, size_t pos);
    void tool_update(std::string_view raw, bool final, std::vector<StreamEvent> &out);
    void emit_value(std::string_view bytes, std::vector<StreamEvent> &out);
};

// Length of s[0..limit) that can be sent without splitting a UTF-8 character, looking back no
// further than `start` (ds4's utf8_stream_safe_len); final=true returns limit.
size_t utf8_safe_limit(std::string_view s, size_t start, size_t limit, bool final);

// How much of the visible text from `start` may be streamed now (ds4's text_stream_safe_limit):
// with tools, content before a tool marker minus trailing whitespace, else (non-final)
// without trailing whitespace and without anything from a '<' in the last 80 bytes.
size_t text_stream_safe_limit(std::string_view raw, size_t start, bool tools, bool final);

}  // namespace dstar::chat

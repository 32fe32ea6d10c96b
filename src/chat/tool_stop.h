// When a chat generation with active tools must stop (spec 4.5): a complete closing
// tool-calls marker written after the reasoning ended finishes the turn with "tool_calls";
// a block opened but never closed is an "unterminated tool call" error.
//
// Unlike ds4, a closing marker counts only where it is DSML syntax: one written inside a
// parameter value (a write_file whose content is a DSML protocol document, say) is payload, and
// generation goes on until a marker outside any string payload (DsmlTracker's reading of the
// block) ends it.  ds4
// stops at the first marker and cuts such a value.  Likewise "<think>" inside an open block is
// payload and does not switch marker detection off.
#pragma once

#include <cstddef>
#include <string_view>

#include "chat/think_mode.h"

namespace dstar::chat {

class ToolStopWatch {
public:
    // prompt: the rendered prompt (its trailing <think> tells whether generation starts inside
    // reasoning); mode: the effective think mode (markers are gated by reasoning only when
    // thinking is enabled).
    ToolStopWatch(std::string_view prompt, ThinkMode mode);

    // Call after each sampled token: piece = the token's bytes, completion = all generated
    // text including piece.
    void feed(std::string_view piece, std::string_view completion);

    bool saw_start() const { return saw_start_; }
    // Stop now with finish reason "tool_calls".
    bool saw_end() const { return saw_end_; }
    // A closing marker without any opening one was seen (ds4 ignores it, with a warning).
    bool saw_orphan_end() const { return saw_orphan_end_; }
    // Generation ended inside an open block: report "unterminated tool call".
    bool unterminated() const { return saw_start_ && !saw_end_; }
    bool inside_reasoning() const { return inside_; }

private:
    bool gates_;
    bool inside_ = false;
    char tail_[8] = {};
    size_t tail_len_ = 0;
    bool waiting_for_think_close_ = false;
    size_t scan_from_ = 0;
    size_t block_start_ = 0;  // absolute position of the start marker's '<'
    bool saw_start_ = false, saw_end_ = false, saw_orphan_end_ = false;

    void feed_thinking(std::string_view bytes);
    bool tail_ends_with(std::string_view s) const;
    // True when the closing marker at text[marker] is DSML syntax, not string payload.
    bool end_is_syntax(std::string_view text, size_t marker) const;
};

}  // namespace dstar::chat

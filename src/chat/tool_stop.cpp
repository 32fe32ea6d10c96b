#include "chat/tool_stop.h"

#include <algorithm>
#include <cstring>

#include "chat/dsml_syntax.h"
#include "chat/dsml_tracker.h"

namespace dstar::chat {

ToolStopWatch::ToolStopWatch(std::string_view prompt, ThinkMode mode) : gates_(think_enabled(mode)) {
    feed_thinking(prompt);
    waiting_for_think_close_ = gates_ && inside_;
}

bool ToolStopWatch::tail_ends_with(std::string_view s) const {
    return tail_len_ >= s.size() && std::string_view(tail_ + tail_len_ - s.size(), s.size()) == s;
}

// Tracks whether the text so far ends inside <think>…</think> using only its last 8 bytes.
void ToolStopWatch::feed_thinking(std::string_view bytes) {
    for (const char c : bytes) {
        if (tail_len_ == sizeof tail_) {
            std::memmove(tail_, tail_ + 1, sizeof tail_ - 1);
            tail_len_--;
        }
        tail_[tail_len_++] = c;
        if (tail_ends_with("<think>")) inside_ = true;
        else if (tail_ends_with("</think>")) inside_ = false;
    }
}

bool ToolStopWatch::end_is_syntax(std::string_view text, size_t marker) const {
    // Where the block's own reading stands just before the marker: inside a string payload
    // (a string="true" value or a JSON string literal) the marker is text the model is writing.
    const DsmlDecodeState st = dsml_decode_state_for_text(text.substr(block_start_, marker - block_start_));
    return st != DsmlDecodeState::StringBody && st != DsmlDecodeState::JsonString;
}

void ToolStopWatch::feed(std::string_view piece, std::string_view text) {
    if (saw_end_) return;
    if (!saw_start_) {
        feed_thinking(piece);
        if (gates_ && inside_) {
            // A block quoted inside reasoning is not executable and must not stop decoding.
            waiting_for_think_close_ = true;
            scan_from_ = text.size();
            return;
        }
        if (waiting_for_think_close_) {
            const size_t close = text.rfind("</think>");
            scan_from_ = close == std::string_view::npos ? text.size() : close + 8;
            waiting_for_think_close_ = false;
        }
    }
    if (scan_from_ > text.size()) scan_from_ = text.size();
    const std::string_view scan = text.substr(scan_from_);

    if (!saw_start_) {
        if (auto start = find_any_tool_calls_start(scan)) {
            saw_start_ = true;
            block_start_ = scan_from_ + start->pos;
        } else if (find_any_tool_calls_end(scan)) {
            saw_orphan_end_ = true;
        }
    }
    if (saw_start_) {
        size_t from = std::max(scan_from_, block_start_);
        while (auto end = find_any_tool_calls_end(text.substr(from))) {
            const size_t marker = from + end->pos;
            if (end_is_syntax(text, marker)) {
                saw_end_ = true;
                break;
            }
            from = marker + 1;
        }
    }
    // Rescan only the last 80 bytes next time: enough for a marker split across tokens.
    constexpr size_t kMarkerHold = 80;
    const size_t hold_from = text.size() > kMarkerHold ? text.size() - kMarkerHold : 0;
    if (hold_from > scan_from_) scan_from_ = hold_from;
}

}  // namespace dstar::chat

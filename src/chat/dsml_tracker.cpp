#include "chat/dsml_tracker.h"

#include <algorithm>

#include "chat/lenient_json.h"

namespace dstar::chat {
namespace {

bool full_at(std::string_view raw, size_t pos, std::string_view lit) {
    return pos <= raw.size() && raw.size() - pos >= lit.size() && raw.compare(pos, lit.size(), lit) == 0;
}

// raw[pos..] is a proper prefix of lit (the text ends inside lit).
bool partial_at(std::string_view raw, size_t pos, std::string_view lit) {
    if (pos > raw.size() || raw.size() - pos >= lit.size()) return false;
    return lit.compare(0, raw.size() - pos, raw.substr(pos)) == 0;
}

bool partial_at_min(std::string_view raw, size_t pos, std::string_view lit, size_t min_len) {
    return partial_at(raw, pos, lit) && raw.size() - pos >= min_len;
}

// Some proper prefix of lit, at least min_len long, ends the text.
bool suffix_is_partial(std::string_view raw, std::string_view lit, size_t min_len) {
    if (raw.empty() || lit.empty()) return false;
    const size_t max = raw.size() < lit.size() ? raw.size() : lit.size() - 1;
    for (size_t n = min_len; n <= max; n++) {
        if (raw.compare(raw.size() - n, n, lit, 0, n) == 0) return true;
    }
    return false;
}

size_t max_start_len() {
    size_t m = 0;
    for (const DsmlSyntax *s : kDsmlSyntaxes) m = std::max(m, s->tool_calls_start.size());
    return m;
}

bool param_tag_is_string(std::string_view raw, size_t tag_start, size_t tag_after) {
    auto v = dsml_attr(raw.substr(tag_start, tag_after - tag_start), "string");
    return v && *v == "true";
}

}  // namespace

const char *dsml_decode_state_name(DsmlDecodeState s) {
    switch (s) {
    case DsmlDecodeState::Outside: return "OUTSIDE";
    case DsmlDecodeState::Structural: return "STRUCTURAL";
    case DsmlDecodeState::StringBody: return "STRING_BODY";
    case DsmlDecodeState::JsonStructural: return "JSON_STRUCTURAL";
    case DsmlDecodeState::JsonString: return "JSON_STRING";
    }
    return "?";
}

bool dsml_state_is_greedy(DsmlDecodeState s) {
    return s == DsmlDecodeState::Structural || s == DsmlDecodeState::JsonStructural;
}

bool DsmlTracker::structural(std::string_view raw) {
    const DsmlSyntax &syn = *syn_;
    if (string_close_end_ != std::string_view::npos) {
        switch (dsml_tag_follow(raw, string_close_end_, syn)) {
        case DsmlFollow::Tag:
            string_close_end_ = std::string_view::npos;
            break;
        case DsmlFollow::Pending:
            state_ = DsmlDecodeState::Structural;
            return false;
        case DsmlFollow::Other:
            // The closing tag was text inside the value: the value goes on after it.
            pos_ = string_close_end_;
            string_close_end_ = std::string_view::npos;
            mode_ = Mode::StringBody;
            state_ = DsmlDecodeState::StringBody;
            return true;
        }
    }
    for (;;) {
        pos_ = skip_ascii_space(raw, pos_);
        state_ = DsmlDecodeState::Structural;
        if (pos_ >= raw.size()) return false;
        if (full_at(raw, pos_, syn.tool_calls_end)) {
            mode_ = Mode::Done;
            pos_ += syn.tool_calls_end.size();
            state_ = DsmlDecodeState::Outside;
            return false;
        }
        if (full_at(raw, pos_, syn.invoke_end)) {
            pos_ += syn.invoke_end.size();
            continue;
        }
        if (full_at(raw, pos_, syn.invoke_start)) {
            const size_t gt = raw.find('>', pos_);
            if (gt == std::string_view::npos) return false;  // tag still being written
            pos_ = gt + 1;
            continue;
        }
        if (full_at(raw, pos_, syn.param_start)) {
            const size_t gt = raw.find('>', pos_);
            if (gt == std::string_view::npos) return false;
            const bool is_string = param_tag_is_string(raw, pos_, gt + 1);
            pos_ = gt + 1;
            if (is_string) {
                mode_ = Mode::StringBody;
                state_ = DsmlDecodeState::StringBody;
            } else {
                mode_ = Mode::JsonParam;
                json_in_string_ = json_escaped_ = false;
                state_ = DsmlDecodeState::JsonStructural;
            }
            return true;
        }
        // Partial tags and anything unexpected: stay structural (the final parse decides).
        return false;
    }
}

DsmlDecodeState DsmlTracker::update(std::string_view raw) {
    for (;;) {
        switch (mode_) {
        case Mode::Done:
            state_ = DsmlDecodeState::Outside;
            return state_;

        case Mode::Search: {
            pos_ = std::min(pos_, raw.size());
            auto m = find_any_tool_calls_start(raw.substr(pos_));
            if (!m) {
                // Keep enough bytes to find a marker that straddles this and the next token.
                const size_t hold = max_start_len();
                pos_ = raw.size() > hold ? raw.size() - hold : 0;
                state_ = DsmlDecodeState::Outside;
                return state_;
            }
            syn_ = m->syntax;
            pos_ += m->pos + syn_->tool_calls_start.size();
            mode_ = Mode::Structural;
            state_ = DsmlDecodeState::Structural;
            break;
        }

        case Mode::Structural:
            if (!structural(raw)) return state_;
            break;

        case Mode::StringBody:
            while (pos_ < raw.size()) {
                if (full_at(raw, pos_, syn_->param_end)) {
                    pos_ += syn_->param_end.size();
                    string_close_end_ = pos_;
                    mode_ = Mode::Structural;
                    break;
                }
                // "</" (or more of the closing tag) at the end: the rest of the tag is syntax.
                if (partial_at_min(raw, pos_, syn_->param_end, 2)) {
                    state_ = DsmlDecodeState::Structural;
                    return state_;
                }
                pos_++;
            }
            if (mode_ == Mode::StringBody) {
                state_ = DsmlDecodeState::StringBody;
                return state_;
            }
            break;

        case Mode::JsonParam:
            while (pos_ < raw.size()) {
                if (!json_in_string_) {
                    if (full_at(raw, pos_, syn_->param_end)) {
                        pos_ += syn_->param_end.size();
                        mode_ = Mode::Structural;
                        break;
                    }
                    if (partial_at_min(raw, pos_, syn_->param_end, 2)) {
                        state_ = DsmlDecodeState::Structural;
                        return state_;
                    }
                }
                const char c = raw[pos_++];
                if (json_in_string_) {
                    if (json_escaped_) json_escaped_ = false;
                    else if (c == '\\') json_escaped_ = true;
                    else if (c == '"') json_in_string_ = false;
                } else if (c == '"') {
                    json_in_string_ = true;
                }
            }
            if (mode_ == Mode::JsonParam) {
                state_ = json_in_string_ ? DsmlDecodeState::JsonString : DsmlDecodeState::JsonStructural;
                return state_;
            }
            break;
        }
    }
}

namespace {

// State after a JSON value starting at pos; `end` gets the closing tag's position when it is
// complete (outside any string literal).
DsmlDecodeState scan_json_param(std::string_view raw, size_t pos, const DsmlSyntax &syn, size_t &end) {
    bool in_string = false, escaped = false;
    end = std::string_view::npos;
    while (pos < raw.size()) {
        if (!in_string && full_at(raw, pos, syn.param_end)) {
            end = pos;
            return DsmlDecodeState::Structural;
        }
        const char c = raw[pos++];
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        }
    }
    if (!in_string && suffix_is_partial(raw, syn.param_end, 2)) return DsmlDecodeState::Structural;
    return in_string ? DsmlDecodeState::JsonString : DsmlDecodeState::JsonStructural;
}

}  // namespace

DsmlDecodeState dsml_decode_state_for_text(std::string_view raw) {
    auto m = find_any_tool_calls_start(raw);
    if (!m) return DsmlDecodeState::Outside;
    const DsmlSyntax &syn = *m->syntax;
    size_t pos = m->pos + syn.tool_calls_start.size();
    for (;;) {
        pos = skip_ascii_space(raw, pos);
        if (pos >= raw.size()) return DsmlDecodeState::Structural;
        if (full_at(raw, pos, syn.tool_calls_end)) return DsmlDecodeState::Outside;
        if (full_at(raw, pos, syn.invoke_end)) {
            pos += syn.invoke_end.size();
            continue;
        }
        if (full_at(raw, pos, syn.invoke_start)) {
            const size_t gt = raw.find('>', pos);
            if (gt == std::string_view::npos) return DsmlDecodeState::Structural;
            pos = gt + 1;
            continue;
        }
        if (full_at(raw, pos, syn.param_start)) {
            const size_t gt = raw.find('>', pos);
            if (gt == std::string_view::npos) return DsmlDecodeState::Structural;
            const bool is_string = param_tag_is_string(raw, pos, gt + 1);
            pos = gt + 1;
            if (is_string) {
                for (;;) {
                    const size_t end = raw.find(syn.param_end, pos);
                    if (end == std::string_view::npos) {
                        return suffix_is_partial(raw, syn.param_end, 2) ? DsmlDecodeState::Structural
                                                                        : DsmlDecodeState::StringBody;
                    }
                    pos = end + syn.param_end.size();
                    // A closing tag followed by ordinary text was written inside the value.
                    if (dsml_tag_follow(raw, pos, syn) != DsmlFollow::Other) break;
                }
                continue;
            }
            // The value ends at the closing tag the string-aware scan found.  (ds4's reference
            // searched again from the value start, landing on a closing tag inside a JSON
            // string and disagreeing with its own tracker.)
            size_t end = std::string_view::npos;
            const DsmlDecodeState s = scan_json_param(raw, pos, syn, end);
            if (s != DsmlDecodeState::Structural) return s;
            if (end == std::string_view::npos) return DsmlDecodeState::Structural;
            pos = end + syn.param_end.size();
            continue;
        }
        return DsmlDecodeState::Structural;
    }
}

}  // namespace dstar::chat

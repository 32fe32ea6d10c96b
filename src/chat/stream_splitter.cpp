#include "chat/stream_splitter.h"

#include <optional>

#include "chat/lenient_json.h"

namespace dstar::chat {
namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";

int utf8_expected_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return 2;
    if (c >= 0xe0 && c <= 0xef) return 3;
    if (c >= 0xf0 && c <= 0xf4) return 4;
    return 1;
}

bool is_cont(char c) { return (static_cast<unsigned char>(c) & 0xc0) == 0x80; }

bool full_at(std::string_view raw, size_t pos, std::string_view lit) {
    return pos <= raw.size() && raw.size() - pos >= lit.size() && raw.compare(pos, lit.size(), lit) == 0;
}

bool partial_at(std::string_view raw, size_t pos, std::string_view lit) {
    if (pos > raw.size() || raw.size() - pos >= lit.size()) return false;
    return lit.compare(0, raw.size() - pos, raw.substr(pos)) == 0;
}

// Holds back a trailing '&' that may be the start of an entity (&am...).
size_t entity_safe_limit(std::string_view raw, size_t start, size_t limit) {
    static constexpr std::string_view kEntities[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    const size_t scan = limit > start + 6 ? limit - 6 : start;
    for (size_t i = limit; i > scan; i--) {
        if (raw[i - 1] != '&') continue;
        const size_t amp = i - 1, tail = limit - amp;
        for (std::string_view e : kEntities) {
            if (tail < e.size() && e.compare(0, tail, raw.substr(amp, tail)) == 0) return amp;
        }
        break;
    }
    return limit;
}

// Value bytes before `limit` that can be sent: holds back a partial entity and partial UTF-8.
size_t value_safe_limit(std::string_view raw, size_t start, size_t limit, bool is_string) {
    if (is_string) limit = entity_safe_limit(raw, start, limit);
    return utf8_safe_limit(raw, start, limit, false);
}

// Holds back a possible partial closing parameter tag, partial entity and partial UTF-8.
size_t param_value_safe_limit(std::string_view raw, size_t start, std::string_view param_end,
                              bool is_string) {
    size_t limit = raw.size();
    const size_t scan = raw.size() > start + param_end.size() ? raw.size() - param_end.size() : start;
    for (size_t i = raw.size(); i > scan; i--) {
        if (raw[i - 1] != '<') continue;
        const size_t marker = i - 1;
        if (partial_at(raw, marker, param_end)) limit = marker;
        break;
    }
    return value_safe_limit(raw, start, limit, is_string);
}

}  // namespace

size_t utf8_safe_limit(std::string_view s, size_t start, size_t limit, bool final) {
    if (final || limit <= start) return limit;
    size_t p = limit;
    int cont = 0;
    while (p > start && cont < 4 && is_cont(s[p - 1])) {
        p--;
        cont++;
    }
    if (p == limit) {
        return utf8_expected_len(static_cast<unsigned char>(s[limit - 1])) > 1 ? limit - 1 : limit;
    }
    if (p == start && is_cont(s[p])) return start;
    const size_t lead = p - 1;
    const int need = utf8_expected_len(static_cast<unsigned char>(s[lead]));
    return limit - lead < static_cast<size_t>(need) ? lead : limit;
}

size_t text_stream_safe_limit(std::string_view raw, size_t start, bool tools, bool final) {
    if (raw.size() <= start) return raw.size();
    size_t limit = raw.size();
    if (tools) {
        if (auto m = find_any_tool_calls_start(raw.substr(start))) {
            // The whitespace before a marker is DSML syntax: a client that got it would send it
            // back and the canonical rendering would add "\n\n" again, breaking the prefix.
            limit = start + m->pos;
            while (limit > start && is_ascii_space(raw[limit - 1])) limit--;
            return utf8_safe_limit(raw, start, limit, true);
        }
        if (!final) {
            while (limit > start && is_ascii_space(raw[limit - 1])) limit--;
            // A '<' in the last 80 bytes may start a marker split across tokens.
            constexpr size_t kMaxMarker = 80;
            const size_t scan = raw.size() - start > kMaxMarker ? raw.size() - kMaxMarker : start;
            for (size_t i = raw.size(); i > scan; i--) {
                if (raw[i - 1] == '<') {
                    if (i - 1 < limit) limit = i - 1;
                    break;
                }
            }
            while (limit > start && is_ascii_space(raw[limit - 1])) limit--;
        }
    }
    return utf8_safe_limit(raw, start, limit, final);
}

StreamSplitter::StreamSplitter(bool thinking, bool tools, bool tool_stream_on_final)
    : tools_(tools), tool_stream_on_final_(tool_stream_on_final),
      mode_(thinking ? Mode::Thinking : Mode::Text) {}

std::vector<StreamEvent> StreamSplitter::update(std::string_view raw, bool final) {
    std::vector<StreamEvent> out;
    if (mode_ == Mode::Thinking) {
        if (!checked_think_prefix_) {
            // The model may repeat the prompt's <think>; wait until we know.
            if (raw.size() < kThinkOpen.size() && kThinkOpen.starts_with(raw) && !final) return out;
            if (raw.starts_with(kThinkOpen)) emit_pos_ = kThinkOpen.size();
            checked_think_prefix_ = true;
        }
        const size_t close = raw.find(kThinkClose, emit_pos_);
        size_t limit;
        if (close != std::string_view::npos) {
            limit = close;
        } else if (final) {
            limit = raw.size();
        } else {
            const size_t hold = kThinkClose.size() - 1;  // a partial "</think>"
            limit = raw.size() > hold ? raw.size() - hold : emit_pos_;
            limit = utf8_safe_limit(raw, emit_pos_, limit, false);
        }
        if (limit > emit_pos_) {
            out.push_back({StreamEvent::Kind::Reasoning, -1, std::string(raw.substr(emit_pos_, limit - emit_pos_))});
            sent_reasoning_ = true;
            emit_pos_ = limit;
        }
        if (close != std::string_view::npos) {
            emit_pos_ = close + kThinkClose.size();
            mode_ = Mode::Text;
        } else {
            if (final) mode_ = Mode::Suppress;
            return out;
        }
    }

    if (mode_ == Mode::Text) {
        std::optional<size_t> tool_pos;
        if (tools_ && emit_pos_ <= raw.size()) {
            if (auto m = find_any_tool_calls_start(raw.substr(emit_pos_))) tool_pos = emit_pos_ + m->pos;
        }
        const size_t limit = text_stream_safe_limit(raw, emit_pos_, tools_, final);
        if (limit > emit_pos_) {
            out.push_back({StreamEvent::Kind::Content, -1, std::string(raw.substr(emit_pos_, limit - emit_pos_))});
            sent_content_ = true;
            emit_pos_ = limit;
        }
        if (tool_pos) {
            emit_pos_ = *tool_pos;
            const bool start = (!final || tool_stream_on_final_) && start_tool_stream(raw, emit_pos_);
            mode_ = start ? Mode::Tool : Mode::Suppress;
        } else if (final) {
            mode_ = Mode::Suppress;
        }
    }

    if (mode_ == Mode::Tool) {
        tool_update(raw, final, out);
        if (!tool_active_) mode_ = Mode::Suppress;
    }
    return out;
}

bool StreamSplitter::start_tool_stream(std::string_view raw, size_t pos) {
    for (const DsmlSyntax *syn : kDsmlSyntaxes) {
        if (full_at(raw, pos, syn->tool_calls_start)) {
            syn_ = syn;
            parse_pos_ = pos + syn->tool_calls_start.size();
            tool_state_ = ToolState::BetweenInvokes;
            tool_active_ = true;
            return true;
        }
    }
    tool_state_ = ToolState::Error;
    tool_active_ = false;
    return false;
}

StreamSplitter::ValueEnd StreamSplitter::find_value_end(std::string_view raw, bool final) const {
    // The value ends at the first closing tag followed by a tag of the family.  One followed
    // by ordinary text was written inside the value (ds4 would cut the value there and then
    // fail on the text; the final parse keeps it in the value too).  While what follows is not
    // known yet, the closing tag and everything after it are held back; at the end of the
    // text it counts.
    for (size_t end = raw.find(syn_->param_end, parse_pos_); end != std::string_view::npos;
         end = raw.find(syn_->param_end, end + 1)) {
        switch (dsml_tag_follow(raw, end + syn_->param_end.size(), *syn_)) {
        case DsmlFollow::Tag: return {end, true};
        case DsmlFollow::Pending: return {end, final};
        case DsmlFollow::Other: break;
        }
    }
    return {std::string_view::npos, false};
}

void StreamSplitter::emit_value(std::string_view bytes, std::vector<StreamEvent> &out) {
    if (bytes.empty()) return;
    value_empty_ = false;
    std::string frag;
    if (param_is_string_) append_json_escaped(frag, dsml_unescape(bytes));
    else frag = std::string(bytes);  // JSON values are forwarded raw (not minified)
    out.push_back({StreamEvent::Kind::ToolCallArgs, tool_index_, std::move(frag)});
}

void StreamSplitter::tool_update(std::string_view raw, bool final, std::vector<StreamEvent> &out) {
    // Any shape the live projection cannot follow stops it; the final parse then decides.
    auto fail = [&] {
        tool_active_ = false;
        tool_state_ = ToolState::Error;
    };
    while (tool_active_ && parse_pos_ < raw.size()) {
        if (tool_state_ == ToolState::BetweenInvokes) {
            parse_pos_ = skip_ascii_space(raw, parse_pos_);
            if (parse_pos_ >= raw.size()) return;
            if (full_at(raw, parse_pos_, syn_->tool_calls_end)) {
                parse_pos_ += syn_->tool_calls_end.size();
                tool_active_ = false;
                tool_state_ = ToolState::Done;
                return;
            }
            if (partial_at(raw, parse_pos_, syn_->tool_calls_end) ||
                partial_at(raw, parse_pos_, syn_->invoke_start)) {
                return;
            }
            if (!full_at(raw, parse_pos_, syn_->invoke_start)) return fail();
            const size_t gt = raw.find('>', parse_pos_);
            if (gt == std::string_view::npos) return;
            auto name = dsml_attr(raw.substr(parse_pos_, gt - parse_pos_ + 1), "name");
            if (!name) return fail();
            out.push_back({StreamEvent::Kind::ToolCallStart, tool_index_, std::move(*name)});
            out.push_back({StreamEvent::Kind::ToolCallArgs, tool_index_, "{"});
            tool_emitted_any_ = true;
            tool_started_++;
            args_open_ = true;
            first_param_ = true;
            parse_pos_ = gt + 1;
            tool_state_ = ToolState::BetweenParams;
            continue;
        }
        if (tool_state_ == ToolState::BetweenParams) {
            parse_pos_ = skip_ascii_space(raw, parse_pos_);
            if (parse_pos_ >= raw.size()) return;
            if (full_at(raw, parse_pos_, syn_->invoke_end)) {
                if (args_open_) out.push_back({StreamEvent::Kind::ToolCallArgs, tool_index_, "}"});
                args_open_ = false;
                out.push_back({StreamEvent::Kind::ToolCallEnd, tool_index_, ""});
                parse_pos_ += syn_->invoke_end.size();
                tool_index_++;
                tool_state_ = ToolState::BetweenInvokes;
                continue;
            }
            if (partial_at(raw, parse_pos_, syn_->invoke_end) ||
                partial_at(raw, parse_pos_, syn_->param_start)) {
                return;
            }
            if (!full_at(raw, parse_pos_, syn_->param_start)) return fail();
            const size_t gt = raw.find('>', parse_pos_);
            if (gt == std::string_view::npos) return;
            const std::string_view tag = raw.substr(parse_pos_, gt - parse_pos_ + 1);
            auto name = dsml_attr(tag, "name");
            auto is_string = dsml_attr(tag, "string");
            // Live streaming needs both attributes to know how to encode the value.
            if (!name || !is_string) return fail();
            param_is_string_ = *is_string == "true";
            std::string frag = first_param_ ? "" : ",";
            first_param_ = false;
            append_json_string(frag, *name);
            frag += ':';
            if (param_is_string_) frag += '"';
            out.push_back({StreamEvent::Kind::ToolCallArgs, tool_index_, std::move(frag)});
            parse_pos_ = gt + 1;
            tool_state_ = ToolState::ParamValue;
            value_empty_ = true;
            continue;
        }
        if (tool_state_ == ToolState::ParamValue) {
            const ValueEnd end = find_value_end(raw, final);
            if (end.closed) {
                emit_value(raw.substr(parse_pos_, end.pos - parse_pos_), out);
                if (param_is_string_) {
                    out.push_back({StreamEvent::Kind::ToolCallArgs, tool_index_, "\""});
                } else if (value_empty_) {
                    // An empty JSON value is null in the final parse; ds4 streams nothing for
                    // it, which leaves the streamed arguments invalid JSON.
                    out.push_back({StreamEvent::Kind::ToolCallArgs, tool_index_, "null"});
                }
                parse_pos_ = end.pos + syn_->param_end.size();
                tool_state_ = ToolState::BetweenParams;
                continue;
            }
            const size_t limit = end.pos != std::string_view::npos
                                     ? value_safe_limit(raw, parse_pos_, end.pos, param_is_string_)
                                     : param_value_safe_limit(raw, parse_pos_, syn_->param_end, param_is_string_);
            if (limit > parse_pos_) {
                emit_value(raw.substr(parse_pos_, limit - parse_pos_), out);
                parse_pos_ = limit;
            }
            return;
        }
        return;
    }
}

}  // namespace dstar::chat

#include "chat/dsml_parse.h"

#include "chat/dsml_syntax.h"
#include "chat/lenient_json.h"

namespace dstar::chat {
namespace {

constexpr std::string_view kThinkClose = "</think>";
constexpr std::string_view kThinkOpen = "<think>";

bool starts_at(std::string_view s, size_t pos, std::string_view lit) {
    return pos <= s.size() && s.substr(pos).starts_with(lit);
}

// Strips one leading <think>, then splits at the first </think>.
void split_reasoning(std::string_view text, ParsedReply &out) {
    std::string_view body = text;
    if (body.starts_with(kThinkOpen)) body.remove_prefix(kThinkOpen.size());
    const size_t close = body.find(kThinkClose);
    if (close == std::string_view::npos) {
        out.reasoning.reset();
        out.content = std::string(text);  // note: the whole text, <think> included (ds4)
        return;
    }
    out.reasoning = std::string(body.substr(0, close));
    out.content = std::string(body.substr(close + kThinkClose.size()));
}

// Appends `"name": value` to ds4's internal arguments form.
void add_argument(std::string &args, std::string_view name, std::string_view value, bool is_string) {
    if (!args.empty()) args += ", ";
    append_json_string(args, name);
    args += ": ";
    if (is_string) {
        append_json_string(args, value);
    } else {
        const std::string min = minify_json_value(value);
        args += min.empty() ? "null" : min;
    }
}

class BlockParser {
public:
    BlockParser(std::string_view text, const DsmlSyntax &syn) : s_(text), syn_(syn) {}

    // Parses invokes from pos (just after the start marker) to the closing marker; returns
    // the position after the closing marker, or nullopt on malformed input.
    std::optional<size_t> parse(size_t pos, std::vector<ParsedToolCall> &calls) {
        for (;;) {
            pos = skip_ascii_space(s_, pos);
            if (starts_at(s_, pos, syn_.tool_calls_end)) return pos + syn_.tool_calls_end.size();
            if (!starts_at(s_, pos, syn_.invoke_start)) return std::nullopt;
            const size_t tag_end = s_.find('>', pos);
            if (tag_end == std::string_view::npos) return std::nullopt;
            auto name = dsml_attr(s_.substr(pos, tag_end - pos + 1), "name");
            if (!name) return std::nullopt;
            pos = tag_end + 1;

            std::string args;
            for (;;) {
                pos = skip_ascii_space(s_, pos);
                if (starts_at(s_, pos, syn_.invoke_end)) {
                    pos += syn_.invoke_end.size();
                    break;
                }
                if (!parameter(pos, args)) return std::nullopt;
            }
            calls.push_back(ParsedToolCall{std::move(*name), "{" + args + "}"});
        }
    }

private:
    std::string_view s_;
    const DsmlSyntax &syn_;

    // One <…parameter …>value</…parameter> at pos (which must start with the tag).
    bool parameter(size_t &pos, std::string &args) {
        if (!starts_at(s_, pos, syn_.param_start)) return false;
        const size_t tag_end = s_.find('>', pos);
        if (tag_end == std::string_view::npos) return false;
        const std::string_view tag = s_.substr(pos, tag_end - pos + 1);
        auto name = dsml_attr(tag, "name");
        auto is_string = dsml_attr(tag, "string");
        if (!name) return false;
        const size_t value_start = tag_end + 1;

        // Drifted shape seen in long generations: no string attribute and child parameters
        // inside.  Turning it into an object lets the client reject or repair the call
        // instead of losing the whole turn.
        if (!is_string && starts_at(s_, skip_ascii_space(s_, value_start), syn_.param_start)) {
            size_t p = value_start;
            std::string members;
            bool any = false;
            for (;;) {
                p = skip_ascii_space(s_, p);
                if (!starts_at(s_, p, syn_.param_start)) break;
                if (!leaf_parameter(p, members)) return false;
                any = true;
            }
            if (!any) return false;
            add_argument(args, *name, "{" + members + "}", false);
            p = skip_ascii_space(s_, p);
            if (starts_at(s_, p, syn_.param_end)) p += syn_.param_end.size();
            pos = p;
            return true;
        }
        return value(pos, value_start, *name, is_string, args);
    }

    // A parameter inside a nested one: same rules, no further nesting.
    bool leaf_parameter(size_t &pos, std::string &members) {
        const size_t tag_end = s_.find('>', pos);
        if (tag_end == std::string_view::npos) return false;
        const std::string_view tag = s_.substr(pos, tag_end - pos + 1);
        auto name = dsml_attr(tag, "name");
        auto is_string = dsml_attr(tag, "string");
        if (!name) return false;
        return value(pos, tag_end + 1, *name, is_string, members);
    }

    // The value runs to the next closing parameter tag.  A missing string attribute means
    // string; any value other than "true" means raw JSON.
    bool value(size_t &pos, size_t value_start, const std::string &name,
               const std::optional<std::string> &is_string, std::string &args) {
        const size_t value_end = s_.find(syn_.param_end, value_start);
        if (value_end == std::string_view::npos) return false;
        const std::string_view raw = s_.substr(value_start, value_end - value_start);
        const bool str = !is_string || *is_string == "true";
        if (str) add_argument(args, name, dsml_unescape(raw), true);
        else add_argument(args, name, raw, false);
        pos = value_end + syn_.param_end.size();
        return true;
    }
};

}  // namespace

ParsedReply parse_generated_message(std::string_view text, bool thinking) {
    ParsedReply out;
    size_t search_from = 0;
    if (thinking) {
        const size_t close = text.rfind(kThinkClose);
        if (close == std::string_view::npos) {
            split_reasoning(text, out);
            return out;
        }
        search_from = close + kThinkClose.size();
    }
    const std::string_view region = text.substr(search_from);

    // The order matters: a "\n\n"-preceded canonical marker anywhere wins over an earlier bare
    // one, then the short family, then plain XML (ds4's search order).
    struct Candidate {
        std::string prefix;
        const DsmlSyntax *syn;
    };
    const Candidate candidates[] = {
        {"\n\n", &kDsmlFull}, {"", &kDsmlFull}, {"\n\n", &kDsmlShort},
        {"", &kDsmlShort},    {"\n\n", &kDsmlXml}, {"", &kDsmlXml},
    };
    size_t start = std::string_view::npos;
    const DsmlSyntax *syn = nullptr;
    for (const Candidate &c : candidates) {
        const size_t p = region.find(c.prefix + std::string(c.syn->tool_calls_start));
        if (p != std::string_view::npos) {
            start = search_from + p;
            syn = c.syn;
            break;
        }
    }
    if (!syn) {
        split_reasoning(text, out);
        return out;
    }

    size_t content_end = start;
    while (content_end > 0 && is_ascii_space(text[content_end - 1])) content_end--;

    const size_t marker = text.find(syn->tool_calls_start, start);
    std::vector<ParsedToolCall> calls;
    auto block_end = BlockParser(text, *syn).parse(marker + syn->tool_calls_start.size(), calls);
    if (!block_end) {
        ParsedReply failed;
        failed.ok = false;
        failed.content = std::string(text);
        return failed;
    }
    out.calls = std::move(calls);
    out.raw_block = std::string(text.substr(start, *block_end - start));
    split_reasoning(text.substr(0, content_end), out);
    return out;
}

std::string compact_arguments_json(std::string_view arguments) {
    auto members = parse_json_object_members(arguments);
    if (!members) return "{}";
    std::string out = "{";
    for (size_t i = 0; i < members->size(); i++) {
        const JsonMember &m = (*members)[i];
        if (i) out += ',';
        append_json_string(out, m.key);
        out += ':';
        if (m.is_string) append_json_string(out, m.value);
        else out += m.value;
    }
    out += '}';
    return out;
}

std::string finish_after_tool_parse_failure(std::string_view finish) {
    if (finish == "length" || finish == "error") return std::string(finish);
    return "stop";
}

}  // namespace dstar::chat

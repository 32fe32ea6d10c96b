// ds4's parse_generated_message_ex (ds4_server.c) as a plain, separate reference for tests:
// the value of a parameter ends at the first closing tag, any unexpected byte fails the whole
// block.  This is dstar's parser as it was before the lenient reading was added (the version
// checked against ds4's behaviour), kept here so that tests can check that the production
// parser still gives exactly this result whenever ds4 reads a block.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/dsml_parse.h"
#include "chat/dsml_syntax.h"
#include "chat/lenient_json.h"

namespace dstar::chat::test {

struct Ds4Parse {
    ParsedReply reply;
    // Where the block ended (just after its closing marker) and its family; npos/null when
    // no block was read.
    size_t block_end = std::string_view::npos;
    const DsmlSyntax *syntax = nullptr;
};

class Ds4DsmlOracle {
public:
    static Ds4Parse parse(std::string_view text, bool thinking) {
        Ds4Parse out;
        size_t from = 0;
        if (thinking) {
            const size_t close = text.rfind("</think>");
            if (close == std::string_view::npos) return split(text, out);
            from = close + 8;
        }
        static const std::pair<std::string_view, const DsmlSyntax *> kOrder[] = {
            {"\n\n", &kDsmlFull}, {"", &kDsmlFull}, {"\n\n", &kDsmlShort},
            {"", &kDsmlShort},    {"\n\n", &kDsmlXml}, {"", &kDsmlXml},
        };
        size_t start = std::string_view::npos;
        const DsmlSyntax *syn = nullptr;
        for (const auto &[prefix, family] : kOrder) {
            start = text.find(std::string(prefix) + std::string(family->tool_calls_start), from);
            if (start != std::string_view::npos) {
                syn = family;
                break;
            }
        }
        if (!syn) return split(text, out);
        Ds4Parse parsed;
        Walker w{text, *syn, {}};
        const size_t marker = text.find(syn->tool_calls_start, start);
        const std::optional<size_t> end = w.block(marker + syn->tool_calls_start.size());
        if (!end) {
            parsed.reply.ok = false;
            parsed.reply.content = std::string(text);
            return parsed;
        }
        size_t content_end = start;
        while (content_end > 0 && is_ascii_space(text[content_end - 1])) content_end--;
        split(text.substr(0, content_end), parsed);
        parsed.reply.calls = std::move(w.calls);
        parsed.reply.raw_block = std::string(text.substr(start, *end - start));
        parsed.block_end = *end;
        parsed.syntax = syn;
        return parsed;
    }

private:
    static Ds4Parse &split(std::string_view text, Ds4Parse &out) {
        std::string_view body = text;
        if (body.starts_with("<think>")) body.remove_prefix(7);
        const size_t close = body.find("</think>");
        if (close == std::string_view::npos) {
            out.reply.content = std::string(text);
        } else {
            out.reply.reasoning = std::string(body.substr(0, close));
            out.reply.content = std::string(body.substr(close + 8));
        }
        return out;
    }

    struct Walker {
        std::string_view s;
        const DsmlSyntax &syn;
        std::vector<ParsedToolCall> calls;

        bool at(size_t pos, std::string_view lit) const { return pos <= s.size() && s.substr(pos).starts_with(lit); }

        static void add(std::string &args, std::string_view name, std::string_view value, bool is_string) {
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

        std::optional<size_t> block(size_t pos) {
            for (;;) {
                pos = skip_ascii_space(s, pos);
                if (at(pos, syn.tool_calls_end)) return pos + syn.tool_calls_end.size();
                if (!at(pos, syn.invoke_start)) return std::nullopt;
                const size_t gt = s.find('>', pos);
                if (gt == std::string_view::npos) return std::nullopt;
                auto name = dsml_attr(s.substr(pos, gt - pos + 1), "name");
                if (!name) return std::nullopt;
                pos = gt + 1;
                std::string args;
                for (;;) {
                    pos = skip_ascii_space(s, pos);
                    if (at(pos, syn.invoke_end)) {
                        pos += syn.invoke_end.size();
                        break;
                    }
                    if (!param(pos, args, true)) return std::nullopt;
                }
                calls.push_back({*name, "{" + args + "}"});
            }
        }

        // One parameter at pos; `nesting` allows the one-level drifted shape.
        bool param(size_t &pos, std::string &args, bool nesting) {
            if (!at(pos, syn.param_start)) return false;
            const size_t gt = s.find('>', pos);
            if (gt == std::string_view::npos) return false;
            auto name = dsml_attr(s.substr(pos, gt - pos + 1), "name");
            auto is_string = dsml_attr(s.substr(pos, gt - pos + 1), "string");
            if (!name) return false;
            if (nesting && !is_string && at(skip_ascii_space(s, gt + 1), syn.param_start)) {
                size_t p = gt + 1;
                std::string members;
                for (;;) {
                    p = skip_ascii_space(s, p);
                    if (!at(p, syn.param_start)) break;
                    if (!param(p, members, false)) return false;
                }
                add(args, *name, "{" + members + "}", false);
                p = skip_ascii_space(s, p);
                if (at(p, syn.param_end)) p += syn.param_end.size();
                pos = p;
                return true;
            }
            const size_t end = s.find(syn.param_end, gt + 1);
            if (end == std::string_view::npos) return false;
            const std::string_view raw = s.substr(gt + 1, end - gt - 1);
            if (!is_string || *is_string == "true") add(args, *name, dsml_unescape(raw), true);
            else add(args, *name, raw, false);
            pos = end + syn.param_end.size();
            return true;
        }
    };
};

}  // namespace dstar::chat::test

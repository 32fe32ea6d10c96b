#include "chat/dsml_syntax.h"

#include "chat/lenient_json.h"

namespace dstar::chat {
namespace {

std::optional<DsmlMarker> find_earliest(std::string_view text, bool end) {
    std::optional<DsmlMarker> best;
    for (const DsmlSyntax *syn : kDsmlSyntaxes) {
        const size_t p = text.find(end ? syn->tool_calls_end : syn->tool_calls_start);
        if (p != std::string_view::npos && (!best || p < best->pos)) best = DsmlMarker{p, syn};
    }
    return best;
}

}  // namespace

std::optional<DsmlMarker> find_any_tool_calls_start(std::string_view text) {
    return find_earliest(text, false);
}

std::optional<DsmlMarker> find_any_tool_calls_end(std::string_view text) {
    return find_earliest(text, true);
}

DsmlFollow dsml_follow(std::string_view text, size_t pos, std::initializer_list<std::string_view> tags) {
    pos = skip_ascii_space(text, pos);
    if (pos >= text.size()) return DsmlFollow::Pending;
    const std::string_view rest = text.substr(pos);
    bool partial = false;
    for (std::string_view tag : tags) {
        if (rest.starts_with(tag)) return DsmlFollow::Tag;
        if (rest.size() < tag.size() && tag.starts_with(rest)) partial = true;
    }
    return partial ? DsmlFollow::Pending : DsmlFollow::Other;
}

DsmlFollow dsml_value_follow(std::string_view text, size_t pos, const DsmlSyntax &syn, bool nested) {
    if (nested) return dsml_follow(text, pos, {syn.param_start, syn.param_end, syn.invoke_end});
    return dsml_follow(text, pos, {syn.param_start, syn.invoke_end});
}

DsmlFollow dsml_tag_follow(std::string_view text, size_t pos, const DsmlSyntax &syn) {
    return dsml_follow(text, pos,
                       {syn.tool_calls_end, syn.invoke_start, syn.invoke_end, syn.param_start, syn.param_end});
}

std::string dsml_unescape(std::string_view s) {
    static constexpr struct {
        std::string_view entity;
        char c;
    } kEntities[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); i++) {
        bool decoded = false;
        if (s[i] == '&') {
            for (const auto &e : kEntities) {
                if (s.compare(i, e.entity.size(), e.entity) == 0) {
                    out.push_back(e.c);
                    i += e.entity.size() - 1;
                    decoded = true;
                    break;
                }
            }
        }
        if (!decoded) out.push_back(s[i]);
    }
    return out;
}

std::optional<std::string> dsml_attr(std::string_view tag, std::string_view name) {
    std::string pattern(name);
    pattern += "=\"";
    const size_t p = tag.find(pattern);
    if (p == std::string_view::npos) return std::nullopt;
    const size_t v = p + pattern.size();
    const size_t q = tag.find('"', v);
    if (q == std::string_view::npos) return std::nullopt;
    return dsml_unescape(tag.substr(v, q - v));
}

}  // namespace dstar::chat

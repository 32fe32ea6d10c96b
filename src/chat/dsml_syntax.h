// The three DSML tag families the model may write (spec 6.3 step 2): the canonical
// "<｜DSML｜…" one, "<DSML｜…" (first bar dropped) and plain XML "<tool_calls>".  Once a block's
// start marker is found, its family fixes the invoke/parameter tags of the whole block.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dstar::chat {

struct DsmlSyntax {
    std::string_view tool_calls_start, tool_calls_end;
    std::string_view invoke_start, invoke_end;  // invoke_start lacks '>' (attributes follow)
    std::string_view param_start, param_end;
};

inline constexpr DsmlSyntax kDsmlFull{"<｜DSML｜tool_calls>", "</｜DSML｜tool_calls>",
                                      "<｜DSML｜invoke",      "</｜DSML｜invoke>",
                                      "<｜DSML｜parameter",   "</｜DSML｜parameter>"};
inline constexpr DsmlSyntax kDsmlShort{"<DSML｜tool_calls>", "</DSML｜tool_calls>",
                                       "<DSML｜invoke",      "</DSML｜invoke>",
                                       "<DSML｜parameter",   "</DSML｜parameter>"};
inline constexpr DsmlSyntax kDsmlXml{"<tool_calls>", "</tool_calls>", "<invoke",
                                     "</invoke>",    "<parameter",    "</parameter>"};
inline constexpr const DsmlSyntax *kDsmlSyntaxes[] = {&kDsmlFull, &kDsmlShort, &kDsmlXml};

// Earliest start marker of any family in text (position of its '<'), with its family.
struct DsmlMarker {
    size_t pos;
    const DsmlSyntax *syntax;
};
std::optional<DsmlMarker> find_any_tool_calls_start(std::string_view text);
// Earliest closing marker of any family.
std::optional<DsmlMarker> find_any_tool_calls_end(std::string_view text);

// Entity decoding used for DSML attribute values and string parameters: &amp; &lt; &gt;
// &quot; &apos; are decoded, any other '&' is kept.
std::string dsml_unescape(std::string_view s);

// Value of attribute `name` in a tag: the text between `name="` and the next '"', unescaped.
// Like ds4 this is a plain substring search (no tokenisation of the tag).
std::optional<std::string> dsml_attr(std::string_view tag, std::string_view name);

}  // namespace dstar::chat

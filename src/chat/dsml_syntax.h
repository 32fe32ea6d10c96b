// The three DSML tag families the model may write (spec 6.3 step 2): the canonical
// "<｜DSML｜…" one, "<DSML｜…" (first bar dropped) and plain XML "<tool_calls>".  Once a block's
// start marker is found, its family fixes the invoke/parameter tags of the whole block.
#pragma once

#include <initializer_list>
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

// What follows a closing parameter tag (after ASCII whitespace), which tells a real closer
// from a lookalike written inside a value: the real one is followed by more tool-call syntax
// (the next parameter or the end of the invoke), a lookalike by ordinary text.
enum class DsmlFollow {
    Tag,      // one of the expected tags starts there (complete)
    Pending,  // the text ends in whitespace or in a proper prefix of one of them: not known yet
    Other,    // anything else
};
DsmlFollow dsml_follow(std::string_view text, size_t pos, std::initializer_list<std::string_view> tags);

// dsml_follow for the closing tag of a parameter value, as the final parse reads it: a
// top-level value is followed by the next parameter or the end of the invoke; a value nested
// inside a parameter without a string attribute (the recovery shape of spec 6.3) also by the
// outer parameter's closing tag.
DsmlFollow dsml_value_follow(std::string_view text, size_t pos, const DsmlSyntax &syn, bool nested);
// dsml_follow with any tag of the family (tool_calls end, invoke start/end, parameter
// start/end): what the incremental projections (sampling tracker, stream) take as syntax after
// a closing tag.  They cannot look ahead to the end of the block, so a closing tag followed
// by, say, </…tool_calls> ends the value there, as in ds4, even where the final parse finds no
// valid reading that way.
DsmlFollow dsml_tag_follow(std::string_view text, size_t pos, const DsmlSyntax &syn);

// Entity decoding used for DSML attribute values and string parameters: &amp; &lt; &gt;
// &quot; &apos; are decoded, any other '&' is kept.
std::string dsml_unescape(std::string_view s);

// Value of attribute `name` in a tag: the text between `name="` and the next '"', unescaped.
// Like ds4 this is a plain substring search (no tokenisation of the tag).
std::optional<std::string> dsml_attr(std::string_view tag, std::string_view name);

}  // namespace dstar::chat

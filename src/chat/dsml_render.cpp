#include "chat/dsml_render.h"

#include "chat/lenient_json.h"

namespace dstar::chat {
namespace {

constexpr std::string_view kParamEnd = "</｜DSML｜parameter>";

// Replaces each occurrence of `tag` by `replacement` + tag minus its first byte ('<').
void append_protecting(std::string &out, std::string_view s, std::string_view tag,
                       std::string_view replacement) {
    size_t i = 0;
    while (i < s.size()) {
        if (s.compare(i, tag.size(), tag) == 0) {
            out += replacement;
            i++;
        } else {
            out.push_back(s[i++]);
        }
    }
}

void append_parameter(std::string &out, const JsonMember &m) {
    out += "<｜DSML｜parameter name=\"";
    append_dsml_attr_escaped(out, m.key);
    out += m.is_string ? "\" string=\"true\">" : "\" string=\"false\">";
    if (m.is_string) append_dsml_parameter_text(out, m.value);
    else append_dsml_json_literal(out, m.value);
    out += kParamEnd;
    out += '\n';
}

}  // namespace

void append_dsml_attr_escaped(std::string &out, std::string_view s) {
    for (const char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        default: out.push_back(c);
        }
    }
}

void append_dsml_parameter_text(std::string &out, std::string_view s) {
    append_protecting(out, s, kParamEnd, "&lt;");
}

void append_dsml_json_literal(std::string &out, std::string_view s) {
    append_protecting(out, s, kParamEnd, "\\u003c");
}

void append_tool_result_text(std::string &out, std::string_view s) {
    append_protecting(out, s, "</tool_result>", "&lt;");
}

void append_canonical_dsml(std::string &out, const std::vector<ToolCall> &calls) {
    if (calls.empty()) return;
    out += "\n\n<｜DSML｜tool_calls>\n";
    for (const ToolCall &tc : calls) {
        out += "<｜DSML｜invoke name=\"";
        append_dsml_attr_escaped(out, tc.name);
        out += "\">\n";
        if (auto members = parse_json_object_members(tc.arguments)) {
            for (const JsonMember &m : *members) append_parameter(out, m);
        } else {
            out += "<｜DSML｜parameter name=\"arguments\" string=\"true\">";
            append_dsml_parameter_text(out, tc.arguments);
            out += kParamEnd;
            out += '\n';
        }
        out += "</｜DSML｜invoke>\n";
    }
    out += "</｜DSML｜tool_calls>";
}

std::string canonical_dsml(const std::vector<ToolCall> &calls) {
    std::string out;
    append_canonical_dsml(out, calls);
    return out;
}

}  // namespace dstar::chat

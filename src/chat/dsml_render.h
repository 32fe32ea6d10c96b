// Canonical DSML text for tool calls sent back in a client's history (spec 7.2), and the
// escapes the prompt renderer applies to client-supplied text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "chat/conversation.h"

namespace dstar::chat {

// DSML attribute values: & < > " become entities.
void append_dsml_attr_escaped(std::string &out, std::string_view s);
// Raw string parameter bodies: only "</｜DSML｜parameter>" is protected, as "&lt;/｜DSML｜parameter>".
void append_dsml_parameter_text(std::string &out, std::string_view s);
// Non-string (JSON) parameter bodies: the closing tag becomes "\u003c/｜DSML｜parameter>" so the
// JSON stays valid.
void append_dsml_json_literal(std::string &out, std::string_view s);
// Tool output inside <tool_result>: only "</tool_result>" is protected, as "&lt;/tool_result>".
void append_tool_result_text(std::string &out, std::string_view s);

// Appends "\n\n<｜DSML｜tool_calls>\n" + one invoke per call + "</｜DSML｜tool_calls>".  Arguments
// that read as a JSON object become typed parameters in the client's member order; anything
// else becomes a single string parameter named "arguments".  Nothing is appended for no calls.
void append_canonical_dsml(std::string &out, const std::vector<ToolCall> &calls);
std::string canonical_dsml(const std::vector<ToolCall> &calls);

}  // namespace dstar::chat

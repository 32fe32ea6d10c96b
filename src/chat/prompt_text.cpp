#include "chat/prompt_text.h"

namespace dstar::chat {

// Written line by line so that every newline is visible; tests compare these bytes with
// spec/data/*.txt and their SHA-256.

std::string_view think_max_prefix() {
    static constexpr std::string_view text =
        "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
        "You MUST be very thorough in your thinking and comprehensively decompose the problem "
        "to resolve the root cause, rigorously stress-testing your logic against all potential "
        "paths, edge cases, and adversarial scenarios.\n"
        "Explicitly write out your entire deliberation process, documenting every intermediate "
        "step, considered alternative, and rejected hypothesis to ensure absolutely no "
        "assumption is left unchecked.\n"
        "\n";
    return text;
}

std::string_view tools_prompt_head() {
    static constexpr std::string_view text =
        "## Tools\n"
        "\n"
        "You have access to a set of tools to help answer the user question. You can invoke "
        "tools by writing a \"<｜DSML｜tool_calls>\" block like the following:\n"
        "\n"
        "<｜DSML｜tool_calls>\n"
        "<｜DSML｜invoke name=\"$TOOL_NAME\">\n"
        "<｜DSML｜parameter name=\"$PARAMETER_NAME\" string=\"true|false\">$PARAMETER_VALUE"
        "</｜DSML｜parameter>\n"
        "...\n"
        "</｜DSML｜invoke>\n"
        "<｜DSML｜invoke name=\"$TOOL_NAME2\">\n"
        "...\n"
        "</｜DSML｜invoke>\n"
        "</｜DSML｜tool_calls>\n"
        "\n"
        "String parameters should be specified as raw text and set `string=\"true\"`. "
        "Preserve characters such as `>`, `&`, and `&&` exactly; never replace normal string "
        "characters with XML or HTML entity escapes. Only if a string value itself contains "
        "the exact closing parameter tag `</｜DSML｜parameter>`, write that tag as "
        "`&lt;/｜DSML｜parameter>` inside the value. For all other types (numbers, booleans, "
        "arrays, objects), pass the value in JSON format and set `string=\"false\"`.\n"
        "\n"
        "If thinking_mode is enabled (triggered by <think>), you MUST output your complete "
        "reasoning inside <think>...</think> BEFORE any tool calls or final response.\n"
        "\n"
        "Otherwise, output directly after </think> with tool calls or final response.\n"
        "\n"
        "### Available Tool Schemas\n"
        "\n";
    return text;
}

std::string_view tools_prompt_tail() {
    static constexpr std::string_view text =
        "\n"
        "\n"
        "You MUST strictly follow the above defined tool name and parameter schemas to invoke "
        "tool calls. Use the exact parameter names from the schemas.";
    return text;
}

}  // namespace dstar::chat

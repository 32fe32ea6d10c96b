// POST /v1/messages (Anthropic) -> Conversation (spec 4.4 "Anthropic messages").
#include "chat/dsml_render.h"
#include "chat/prompt_text.h"
#include "chat/request.h"
#include "chat/request_common.h"
#include "common/error.h"

namespace dstar::chat {
namespace {

// System parts starting with this prefix are client bookkeeping (billing headers), not
// instructions, and would change on every request.
bool system_part_is_private(const std::string &s) { return s.starts_with("x-anthropic-"); }

void append_system_part(std::string &out, const std::string &part) {
    if (part.empty() || system_part_is_private(part)) return;
    if (!out.empty() && out.back() != '\n') out += '\n';
    out += part;
}

std::string parse_system(const JsonRef &v) {
    std::string out;
    if (v.is_string()) {
        append_system_part(out, v.str());
    } else if (v.is_array()) {
        for (const JsonRef &e : v.elements()) {
            if (e.is_string()) append_system_part(out, e.str());
            else if (e.is_object()) {
                if (auto text = e.get_str("text")) append_system_part(out, *text);
            }
        }
    }
    return out;
}

// One content block.  Blocks are classified by their own "type" (not the message role), so
// the result does not depend on whether "role" came before "content" in the client's JSON.
void parse_block(const JsonRef &b, Message &m) {
    auto type = b.get_str("type");
    std::optional<std::string> text, thinking, result;
    if (auto v = b.get("text")) text = content_text(*v);
    if (auto v = b.get("thinking")) thinking = content_text(*v);
    if (auto v = b.get("content")) result = content_text(*v);
    // ds4 reads "id" and "tool_use_id" into one slot; each block type normally has one.
    std::optional<std::string> id = b.get_str("id");
    if (auto v = b.get_str("tool_use_id")) id = v;
    auto name = b.get_str("name");

    if (type && *type == "tool_use") {
        ToolCall tc;
        tc.id = id.value_or("");
        tc.name = name.value_or("");
        auto input = b.get("input");
        tc.arguments = input ? input->raw() : "{}";
        m.tool_calls.push_back(std::move(tc));
    } else if (type && *type == "tool_result") {
        // Results stay inside the user message so that a user turn made of tool_result
        // blocks renders exactly like consecutive OpenAI tool messages.
        m.add_tool_call_id(id.value_or(""));
        m.content += kToolResultOpen;
        append_tool_result_text(m.content, result.value_or(""));
        m.content += kToolResultClose;
    } else {
        if (text) m.content += *text;
        if (thinking) m.reasoning += *thinking;
    }
}

Message parse_message(const JsonRef &v) {
    if (!v.is_object()) fail("%s: expected an object", v.path().c_str());
    Message m;
    if (auto role = v.get_str("role")) m.role = *role;
    if (auto content = v.get("content")) {
        if (content->is_string()) {
            m.content = content->str();
        } else if (content->is_array()) {
            for (const JsonRef &e : content->elements()) {
                if (e.is_string()) m.content += e.str();
                else if (e.is_object()) parse_block(e, m);
            }
        }
    }
    return m;
}

}  // namespace

Conversation parse_anthropic_messages(const nlohmann::json &request, std::string_view raw_body) {
    RequestRoot r(request, raw_body);
    const JsonRef &root = r.root;
    Conversation conv;
    ThinkControls think;
    for (const JsonRef &m : r.messages()) conv.messages.push_back(parse_message(m));

    // The system text becomes one system message; its position in the list does not matter
    // because the renderer hoists all system messages to the top (ds4 appends it last).
    if (auto system = root.get("system")) {
        std::string text = parse_system(*system);
        if (!text.empty()) {
            Message m;
            m.role = "system";
            m.content = std::move(text);
            conv.messages.push_back(std::move(m));
        }
    }
    if (auto tools = root.get("tools")) parse_tools_into(*tools, conv);
    if (auto choice = root.get("tool_choice"); choice && choice->is_object()) {
        if (auto type = choice->get_str("type")) conv.tool_choice_none = *type == "none";
    }
    if (auto model = root.get("model")) apply_model_field(conv, *model);
    if (auto v = root.get("thinking")) apply_thinking_field(think, *v);
    if (auto v = root.get("output_config"); v && v->is_object()) {
        if (auto effort = v->get("effort")) apply_effort_field(think, *effort);
    }
    if (auto v = root.get("reasoning_effort")) apply_effort_field(think, *v);
    conv.think_mode = think.resolve(conv.model);
    return conv;
}

Conversation parse_anthropic_messages_body(std::string_view body) {
    return parse_anthropic_messages(parse_request_body(body), body);
}

}  // namespace dstar::chat

// POST /v1/chat/completions -> Conversation (spec 4.4 "OpenAI chat").
#include "chat/request.h"
#include "chat/request_common.h"
#include "common/error.h"

namespace dstar::chat {
namespace {

// tool_calls: [{id, function:{name, arguments}}]; entries lacking name or arguments are
// dropped, as ds4 does.
std::vector<ToolCall> parse_tool_calls(const JsonRef &v) {
    std::vector<ToolCall> calls;
    if (v.is_null()) return calls;
    if (!v.is_array()) fail("%s: expected an array or null", v.path().c_str());
    for (const JsonRef &e : v.elements()) {
        if (!e.is_object()) fail("%s: expected an object", e.path().c_str());
        ToolCall tc;
        if (auto id = e.get_str("id")) tc.id = *id;
        bool have_name = false, have_args = false;
        if (auto fn = e.get("function")) {
            if (!fn->is_object()) fail("%s: expected an object", fn->path().c_str());
            if (auto name = fn->get_str("name")) {
                tc.name = *name;
                have_name = true;
            }
            if (auto args = fn->get("arguments")) {
                // A JSON string is the usual OpenAI form; some clients send the object itself,
                // whose bytes are then kept as written.
                tc.arguments = args->is_string() ? args->str() : args->raw();
                have_args = true;
            }
        }
        if (have_name && have_args) calls.push_back(std::move(tc));
    }
    return calls;
}

Message parse_message(const JsonRef &v) {
    if (!v.is_object()) fail("%s: expected an object", v.path().c_str());
    Message m;
    if (auto role = v.get_str("role")) m.role = *role;
    if (auto content = v.get("content")) m.content = content_text(*content);
    if (auto reasoning = v.get("reasoning_content")) m.reasoning = content_text(*reasoning);
    if (auto id = v.get_str("tool_call_id")) m.add_tool_call_id(*id);
    if (auto calls = v.get("tool_calls")) m.tool_calls = parse_tool_calls(*calls);
    return m;
}

}  // namespace

Conversation parse_openai_chat(const nlohmann::json &request, std::string_view raw_body) {
    RequestRoot r(request, raw_body);
    const JsonRef &root = r.root;
    Conversation conv;
    ThinkControls think;
    for (const JsonRef &m : r.messages()) conv.messages.push_back(parse_message(m));

    if (auto tools = root.get("tools")) parse_tools_into(*tools, conv);
    if (auto choice = root.get("tool_choice"); choice && choice->is_string()) {
        conv.tool_choice_none = choice->str() == "none";  // any other choice is ignored
    }
    if (auto model = root.get("model")) apply_model_field(conv, *model);
    if (auto v = root.get("thinking")) apply_thinking_field(think, *v);
    if (auto v = root.get("think")) apply_think_field(think, *v);
    if (auto v = root.get("reasoning_effort")) apply_effort_field(think, *v);
    conv.think_mode = think.resolve(conv.model);
    return conv;
}

Conversation parse_openai_chat_body(std::string_view body) {
    return parse_openai_chat(parse_request_body(body), body);
}

}  // namespace dstar::chat

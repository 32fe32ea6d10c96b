// POST /v1/completions -> Conversation (spec 4.4 "/v1/completions").
#include "chat/prompt_text.h"
#include "chat/request.h"
#include "chat/request_common.h"
#include "common/error.h"

namespace dstar::chat {

Conversation parse_completions(const nlohmann::json &request, std::string_view raw_body) {
    RequestRoot r(request, raw_body);
    const JsonRef &root = r.root;
    if (!root.is_object()) fail("request: expected a JSON object");

    auto prompt = root.get("prompt");
    if (!prompt) fail("missing prompt");
    std::string text;
    if (prompt->is_string()) {
        text = prompt->str();
    } else if (prompt->is_array()) {
        // Batched prompts are not supported: the first one is used, a non-string one is "".
        auto items = prompt->elements();
        if (!items.empty() && items[0].is_string()) text = items[0].str();
    }

    Conversation conv;
    ThinkControls think;
    if (auto model = root.get("model")) apply_model_field(conv, *model);
    if (auto v = root.get("thinking")) apply_thinking_field(think, *v);
    if (auto v = root.get("think")) apply_think_field(think, *v);
    if (auto v = root.get("reasoning_effort")) apply_effort_field(think, *v);
    conv.think_mode = think.resolve(conv.model);

    // The fixed template is exactly what the chat renderer makes of these two messages.
    Message system;
    system.role = "system";
    system.content = std::string(kDefaultSystemPrompt);
    Message user;
    user.content = std::move(text);
    conv.messages.push_back(std::move(system));
    conv.messages.push_back(std::move(user));
    return conv;
}

Conversation parse_completions_body(std::string_view body) {
    return parse_completions(parse_request_body(body), body);
}

}  // namespace dstar::chat

// POST /v1/responses -> Conversation (spec 4.4 "OpenAI Responses").
#include "chat/request.h"
#include "chat/request_common.h"
#include "common/error.h"

namespace dstar::chat {
namespace {

// Content of message / reasoning items.  Strict on purpose (ds4): images and unknown parts are
// rejected so that the client gets an error instead of an answer built on dropped context.
std::string responses_content(const JsonRef &v) {
    if (v.is_string()) return v.str();
    if (v.is_null()) return "";
    if (!v.is_array()) fail("%s: expected a string, null or an array of text parts", v.path().c_str());
    std::string out;
    for (const JsonRef &e : v.elements()) {
        if (e.is_string()) {
            out += e.str();
            continue;
        }
        if (!e.is_object()) fail("%s: expected a string or a text part", e.path().c_str());
        auto type = e.get_str("type");
        auto text = e.get("text");
        const bool text_type = type && (*type == "input_text" || *type == "output_text" ||
                                        *type == "text" || *type == "summary_text" ||
                                        *type == "reasoning_text");
        if (!text_type) {
            fail("%s: unsupported content part type \"%s\"", e.path().c_str(),
                 type ? type->c_str() : "");
        }
        if (!text) fail("%s: missing text", e.path().c_str());
        if (!text->is_null()) out += text->str();
    }
    return out;
}

// Fields whose value is kept as text: a JSON string decoded, anything else as raw bytes.
std::optional<std::string> string_or_raw(const JsonRef &item, std::string_view key) {
    auto v = item.get(key);
    if (!v) return std::nullopt;
    return v->is_string() ? v->str() : v->raw();
}

// Every field ds4 reads from an input item, read up front with ds4's type rules.
struct Item {
    std::optional<std::string> type, role, content, name, ns, call_id, item_id, arguments, output,
        input, summary, action, result, status;
    std::optional<JsonRef> tools;

    explicit Item(const JsonRef &v) {
        if (!v.is_object()) fail("%s: expected an object", v.path().c_str());
        type = v.get_str("type");
        role = v.get_str("role");
        if (auto c = v.get("content")) content = responses_content(*c);
        name = v.get_str("name");
        ns = v.get_str("namespace");
        call_id = v.get_str("call_id");
        item_id = v.get_str("id");
        arguments = string_or_raw(v, "arguments");
        if (auto o = v.get("output")) output = o->is_array() ? responses_content(*o)
                                               : o->is_string() ? o->str() : o->raw();
        input = string_or_raw(v, "input");
        if (auto s = v.get("summary")) summary = responses_content(*s);
        if (auto a = v.get("action")) action = a->raw();
        result = string_or_raw(v, "result");
        status = v.get_str("status");
        tools = v.get("tools");
    }

    std::string call_or_item_id() const { return call_id ? *call_id : item_id.value_or(""); }
};

class InputParser {
public:
    explicit InputParser(Conversation &conv) : conv_(conv) {}

    void item(const JsonRef &v) {
        const Item it(v);
        const std::string t = it.type.value_or("message");
        // Replayed items must be final: continuing from an unfinished tool action would build
        // on something the client never confirmed.
        if (it.status && !it.status->empty() && *it.status != "completed") {
            fail("%s.status: item is \"%s\", expected \"completed\"", v.path().c_str(),
                 it.status->c_str());
        }
        const bool consumes_reasoning =
            (t == "message" && it.role && *it.role == "assistant") || t == "function_call" ||
            t == "custom_tool_call" || is_hosted_call(t);
        const bool bookkeeping = t == "compaction" || t == "context_compaction";
        // Reasoning followed by a user/tool item keeps its place as an empty assistant turn.
        if (!consumes_reasoning && !bookkeeping && !pending_reasoning_.empty()) flush_reasoning();

        if (t == "message") {
            Message m;
            m.role = it.role.value_or("user");
            m.content = it.content.value_or("");
            if (m.role == "assistant" && !pending_reasoning_.empty()) {
                m.reasoning = std::move(pending_reasoning_);
                pending_reasoning_.clear();
            }
            conv_.messages.push_back(std::move(m));
        } else if (t == "function_call" || t == "custom_tool_call") {
            ToolCall tc;
            tc.id = it.call_or_item_id();
            // function_call carries JSON text in "arguments", custom_tool_call free text in
            // "input"; the DSML renderer falls back to one string parameter for non-objects.
            tc.arguments = it.arguments ? *it.arguments : it.input ? *it.input : "{}";
            if (t != "custom_tool_call" && it.ns && !it.ns->empty() && it.name && !it.name->empty()) {
                tc.name = *it.ns + *it.name;
            } else {
                tc.name = it.name.value_or("");
            }
            add_call(std::move(tc));
        } else if (t == "function_call_output" || t == "custom_tool_call_output") {
            Message m;
            m.role = "tool";
            m.content = it.output.value_or("");
            if (it.call_id || it.item_id) m.add_tool_call_id(it.call_or_item_id());
            conv_.messages.push_back(std::move(m));
        } else if (t == "reasoning") {
            for (const auto *part : {&it.summary, &it.content}) {
                if (!*part || (*part)->empty()) continue;
                if (!pending_reasoning_.empty()) pending_reasoning_ += '\n';
                pending_reasoning_ += **part;
            }
        } else if (is_hosted_call(t)) {
            // ds4 registers no hosted tools, but a client may replay their use; keep the action
            // in the history as a function call.
            ToolCall tc;
            tc.id = it.call_or_item_id();
            tc.name = t == "tool_search_call" ? "tool_search"
                      : t == "local_shell_call" ? "local_shell"
                                                : t;
            tc.arguments = it.action      ? *it.action
                           : it.arguments ? *it.arguments
                           : it.input     ? *it.input
                                          : "{}";
            add_call(std::move(tc));
        } else if (t == "local_shell_call_output" || t == "web_search_call_output" ||
                   t == "tool_search_output" || t == "tool_search_call_output" ||
                   t == "image_generation_call_output") {
            if (t == "tool_search_output" && it.tools) parse_tools_into(*it.tools, loaded_tools_);
            Message m;
            m.role = "tool";
            m.content = it.output   ? *it.output
                        : it.result ? *it.result
                        : it.tools  ? it.tools->raw()
                                    : "";
            if (it.call_id || it.item_id) m.add_tool_call_id(it.call_or_item_id());
            conv_.messages.push_back(std::move(m));
        } else if (!bookkeeping) {
            fail("%s.type: unsupported input item type \"%s\"", v.path().c_str(), t.c_str());
        }
    }

    // A trailing reasoning item still becomes a (reasoning-only) assistant turn.
    void finish() {
        if (!pending_reasoning_.empty()) flush_reasoning();
    }

    // Schemas loaded by tool_search_output items, appended after the request's own tools.
    Conversation &loaded_tools() { return loaded_tools_; }

private:
    Conversation &conv_;
    Conversation loaded_tools_;
    std::string pending_reasoning_;

    static bool is_hosted_call(const std::string &t) {
        return t == "local_shell_call" || t == "web_search_call" || t == "tool_search_call" ||
               t == "image_generation_call";
    }

    void flush_reasoning() {
        Message m;
        m.role = "assistant";
        m.reasoning = std::move(pending_reasoning_);
        pending_reasoning_.clear();
        conv_.messages.push_back(std::move(m));
    }

    // Responses splits one assistant turn into a message item and call items; merge calls
    // into the preceding assistant message so the renderer sees a single turn.
    void add_call(ToolCall tc) {
        if (!conv_.messages.empty() && conv_.messages.back().role == "assistant") {
            Message &last = conv_.messages.back();
            // Reasoning is only attached if the turn has none yet; otherwise it stays pending
            // for the next turn (ds4 behaviour).
            if (!pending_reasoning_.empty() && last.reasoning.empty()) {
                last.reasoning = std::move(pending_reasoning_);
                pending_reasoning_.clear();
            }
            last.tool_calls.push_back(std::move(tc));
            return;
        }
        Message m;
        m.role = "assistant";
        m.reasoning = std::move(pending_reasoning_);
        pending_reasoning_.clear();
        m.tool_calls.push_back(std::move(tc));
        conv_.messages.push_back(std::move(m));
    }
};

}  // namespace

Conversation parse_openai_responses(const nlohmann::json &request, std::string_view raw_body) {
    RequestRoot r(request, raw_body);
    const JsonRef &root = r.root;
    if (!root.is_object()) fail("request: expected a JSON object");

    Conversation conv;
    ThinkControls think;
    InputParser parser(conv);
    auto input = root.get("input");
    if (!input) fail("missing input");
    if (input->is_string()) {
        Message m;
        m.content = input->str();
        conv.messages.push_back(std::move(m));
    } else if (input->is_array()) {
        for (const JsonRef &item : input->elements()) parser.item(item);
        parser.finish();
    } else {
        fail("input: expected a string or an array");
    }

    // Durable server-side state is not implemented; accepting a reference without loading it
    // would silently truncate the conversation.
    for (const char *key : {"previous_response_id", "conversation"}) {
        if (auto v = root.get(key); v && !v->is_null()) {
            fail("%s is not supported; replay full input instead", key);
        }
    }
    if (auto v = root.get("instructions"); v && !v->is_null()) {
        if (!v->str().empty()) {
            Message m;
            m.role = "system";
            m.content = v->str();
            conv.messages.insert(conv.messages.begin(), std::move(m));
        }
    }
    if (auto tools = root.get("tools")) parse_tools_into(*tools, conv);
    Conversation &loaded = parser.loaded_tools();
    conv.tool_schemas.insert(conv.tool_schemas.end(), loaded.tool_schemas.begin(),
                             loaded.tool_schemas.end());
    conv.tool_specs.insert(conv.tool_specs.end(), loaded.tool_specs.begin(), loaded.tool_specs.end());
    if (auto choice = root.get("tool_choice")) {
        if (choice->is_string()) {
            // Only "auto" and "none" are honoured; "required" or a forced function would need
            // constrained decoding, so refuse rather than silently downgrade.
            if (choice->str() == "none") conv.tool_choice_none = true;
            else if (choice->str() != "auto") fail("tool_choice=%s not supported", choice->str().c_str());
        } else if (choice->is_object()) {
            fail("forced tool_choice not supported");
        }
    }
    if (auto model = root.get("model")) apply_model_field(conv, *model);
    if (auto reasoning = root.get("reasoning"); reasoning && reasoning->is_object()) {
        if (auto effort = reasoning->get("effort"); effort && !effort->is_null()) {
            apply_effort_field(think, *effort);
            // Only an explicit effort overrides the model alias; summary alone does not.
            think.explicit_control = true;
            if (think.effort == ThinkMode::None) think.enabled = false;
        }
        if (auto summary = reasoning->get("summary"); summary && summary->is_string()) {
            const std::string &s = summary->str();
            if (s == "auto" || s == "concise" || s == "detailed") conv.reasoning_summary = true;
        }
    }
    conv.think_mode = think.resolve(conv.model);
    return conv;
}

Conversation parse_openai_responses_body(std::string_view body) {
    return parse_openai_responses(parse_request_body(body), body);
}

}  // namespace dstar::chat

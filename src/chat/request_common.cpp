#include "chat/request_common.h"

#include "chat/lenient_json.h"
#include "common/error.h"

namespace dstar::chat {
namespace {

constexpr std::string_view kEmptyParameters = "{\"type\":\"object\",\"properties\":{}}";

// A member that ds4 reads with json_string: absent is fine, present-but-not-a-string makes
// ds4's small sub-parser give up (the tool then falls through to the next interpretation).
bool optional_string(const JsonRef &obj, std::string_view key, std::optional<std::string> &out) {
    auto v = obj.get(key);
    if (!v) return true;
    if (!v->is_string()) return false;
    out = v->str();
    return true;
}

std::optional<std::string> schema_name(const JsonRef &schema) {
    if (auto n = schema.get("name"); n && n->is_string()) return n->str();
    return std::nullopt;
}

void add_schema(Conversation &conv, std::string line, ToolSpec spec, bool have_spec) {
    conv.tool_schemas.push_back(std::move(line));
    if (have_spec) conv.tool_specs.push_back(std::move(spec));
}

// Responses {"type":"namespace","name":NS,"tools":[...]}: one built schema line per inner
// function, named NS+name so the model sees a flat list.  False if nothing was added (ds4
// then treats the tool like any other object).
bool add_namespace_tools(const JsonRef &tool, Conversation &conv) {
    if (!tool.is_object()) return false;
    std::optional<std::string> type, ns;
    if (!optional_string(tool, "type", type) || !optional_string(tool, "name", ns)) return false;
    auto inner_tools = tool.get("tools");
    if (!type || *type != "namespace" || !ns || !inner_tools || !inner_tools->is_array()) {
        return false;
    }
    bool appended = false;
    for (const JsonRef &inner : inner_tools->elements()) {
        if (!inner.is_object()) continue;
        std::optional<std::string> itype, name, description;
        if (!optional_string(inner, "type", itype) || !optional_string(inner, "name", name) ||
            !optional_string(inner, "description", description)) {
            continue;
        }
        if ((itype && *itype != "function") || !name || name->empty()) continue;
        // ds4 keeps whichever of parameters/input_schema comes last; we prefer "parameters".
        auto params = inner.get("parameters");
        if (!params) params = inner.get("input_schema");
        std::string line = "{\"name\":";
        append_json_string(line, *ns + *name);
        line += ",\"description\":";
        append_json_string(line, description ? *description : "");
        line += ",\"parameters\":";
        line += params ? params->raw() : std::string(kEmptyParameters);
        line += '}';
        add_schema(conv, std::move(line), ToolSpec{*ns + *name, *name, *ns, false}, true);
        appended = true;
    }
    return appended;
}

// Responses hosted {"type":"tool_search",...}: described to the model as a function.
std::optional<std::string> tool_search_schema(const JsonRef &tool) {
    if (!tool.is_object()) return std::nullopt;
    std::optional<std::string> type, description;
    if (!optional_string(tool, "type", type) || !optional_string(tool, "description", description)) {
        return std::nullopt;
    }
    if (!type || *type != "tool_search") return std::nullopt;
    auto params = tool.get("parameters");
    std::string line = "{\"name\":\"tool_search\",\"description\":";
    append_json_string(line, description ? *description : "Search available tools.");
    line += ",\"parameters\":";
    line += params ? params->raw() : std::string(kEmptyParameters);
    line += '}';
    return line;
}

}  // namespace

RequestRoot::RequestRoot(const nlohmann::json &request, std::string_view raw_body)
    : spans(raw_body.empty() ? std::nullopt : JsonSpans::build(raw_body)),
      root(request, spans ? &*spans : nullptr, spans ? spans->root() : JsonSpans::kNone, "") {}

std::vector<JsonRef> RequestRoot::messages() const {
    if (!root.is_object()) fail("request: expected a JSON object");
    auto list = root.get("messages");
    if (!list) fail("missing messages");
    if (!list->is_array()) fail("messages: expected an array");
    return list->elements();
}

std::string content_text(const JsonRef &v) {
    if (v.is_string()) return v.str();
    std::string out;
    if (!v.is_array()) return out;
    for (const JsonRef &e : v.elements()) {
        if (e.is_string()) {
            out += e.str();
        } else if (e.is_object()) {
            if (auto text = e.get("text")) out += text->str();
        }
    }
    return out;
}

void apply_thinking_field(ThinkControls &tc, const JsonRef &v) {
    tc.explicit_control = true;
    if (v.json().is_boolean()) {
        tc.enabled = v.json().get<bool>();
    } else if (v.is_object()) {
        if (auto type = v.get("type")) {
            const std::string &t = type->str();
            if (t == "enabled") tc.enabled = true;
            else if (t == "disabled") tc.enabled = false;
        }
    }
}

void apply_think_field(ThinkControls &tc, const JsonRef &v) {
    if (!v.json().is_boolean()) fail("%s: expected a boolean", v.path().c_str());
    tc.enabled = v.json().get<bool>();
    tc.explicit_control = true;
}

void apply_effort_field(ThinkControls &tc, const JsonRef &v) {
    if (v.is_null()) return;
    if (!v.is_string()) fail("%s: expected a string or null", v.path().c_str());
    auto mode = parse_reasoning_effort(v.str());
    if (!mode) fail("%s: unknown reasoning effort \"%s\"", v.path().c_str(), v.str().c_str());
    tc.effort = *mode;
}

void parse_tools_into(const JsonRef &tools, Conversation &conv) {
    if (tools.is_null()) return;
    if (!tools.is_array()) fail("%s: expected an array or null", tools.path().c_str());
    for (const JsonRef &tool : tools.elements()) {
        // OpenAI {"type":"function","function":{...}}: the function value, as sent.
        if (auto fn = tool.get("function")) {
            auto name = schema_name(*fn);
            add_schema(conv, fn->raw(), ToolSpec{name.value_or(""), "", "", false},
                       name.has_value());
            continue;
        }
        if (add_namespace_tools(tool, conv)) continue;
        if (auto line = tool_search_schema(tool)) {
            add_schema(conv, std::move(*line), ToolSpec{"tool_search", "", "", true}, true);
            continue;
        }
        // Anthropic and anything else: the whole tool object, as sent.
        auto name = schema_name(tool);
        add_schema(conv, tool.raw(), ToolSpec{name.value_or(""), "", "", false}, name.has_value());
    }
}

void apply_model_field(Conversation &conv, const JsonRef &v) { conv.model = v.str(); }

}  // namespace dstar::chat

#include "chat/request_json.h"

#include "common/error.h"

namespace dstar::chat {

void JsonRef::check_node() {
    if (node_ == JsonSpans::kNone) return;
    using T = JsonSpans::Type;
    const T t = spans_->type(node_);
    bool same = false;
    switch (value_->type()) {
    case nlohmann::json::value_t::null: same = t == T::Null; break;
    case nlohmann::json::value_t::boolean: same = t == T::Bool; break;
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float: same = t == T::Number; break;
    case nlohmann::json::value_t::string: same = t == T::String; break;
    case nlohmann::json::value_t::array: same = t == T::Array; break;
    case nlohmann::json::value_t::object: same = t == T::Object; break;
    default: same = false;
    }
    if (!same) node_ = JsonSpans::kNone;
}

std::optional<JsonRef> JsonRef::get(std::string_view key) const {
    if (!value_->is_object()) return std::nullopt;
    auto it = value_->find(key);
    if (it == value_->end()) return std::nullopt;
    const int child = node_ == JsonSpans::kNone ? JsonSpans::kNone : spans_->member(node_, key);
    std::string p = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    return JsonRef(*it, child == JsonSpans::kNone ? nullptr : spans_, child, std::move(p));
}

std::vector<JsonRef> JsonRef::elements() const {
    std::vector<JsonRef> out;
    if (!value_->is_array()) return out;
    std::vector<int> kids;
    if (node_ != JsonSpans::kNone) kids = spans_->children(node_);
    const bool use_spans = kids.size() == value_->size();
    for (size_t i = 0; i < value_->size(); i++) {
        out.emplace_back((*value_)[i], use_spans ? spans_ : nullptr,
                         use_spans ? kids[i] : JsonSpans::kNone,
                         path_ + "[" + std::to_string(i) + "]");
    }
    return out;
}

std::string JsonRef::raw() const {
    if (node_ != JsonSpans::kNone) return std::string(spans_->text(node_));
    return value_->dump();
}

const std::string &JsonRef::str() const {
    if (!value_->is_string()) fail("%s: expected a string", path_.c_str());
    return value_->get_ref<const std::string &>();
}

std::optional<std::string> JsonRef::get_str(std::string_view key) const {
    auto v = get(key);
    if (!v) return std::nullopt;
    return v->str();
}

nlohmann::json parse_request_body(std::string_view body) {
    try {
        return nlohmann::json::parse(body);
    } catch (const nlohmann::json::exception &e) {
        fail("invalid JSON request: %s", e.what());
    }
}

}  // namespace dstar::chat

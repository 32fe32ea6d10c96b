// A cursor over a parsed request: nlohmann for the values, JsonSpans for the original bytes,
// and a path for error messages ("messages[3].content").  Shared by the request parsers.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/json_spans.h"

namespace dstar::chat {

class JsonRef {
public:
    // spans may be null (no raw body): raw() then falls back to nlohmann's compact dump.
    JsonRef(const nlohmann::json &value, const JsonSpans *spans, int node, std::string path)
        : value_(&value), spans_(spans), node_(spans ? node : JsonSpans::kNone),
          path_(std::move(path)) {
        check_node();
    }

    const nlohmann::json &json() const { return *value_; }
    const std::string &path() const { return path_; }

    bool is_null() const { return value_->is_null(); }
    bool is_string() const { return value_->is_string(); }
    bool is_object() const { return value_->is_object(); }
    bool is_array() const { return value_->is_array(); }

    // The member `key` of an object (nullopt if absent or this is not an object).
    std::optional<JsonRef> get(std::string_view key) const;
    // The elements of an array (empty if this is not an array).
    std::vector<JsonRef> elements() const;

    // The client's bytes for this value (or a compact re-serialisation without a raw body).
    std::string raw() const;
    // The string value; throws "<path>: expected a string" otherwise.
    const std::string &str() const;
    // The string value of member `key` if present; throws if present but not a string.
    std::optional<std::string> get_str(std::string_view key) const;

private:
    const nlohmann::json *value_;
    const JsonSpans *spans_;
    int node_;
    std::string path_;

    // Drops the span if it does not describe the same kind of value (defensive: a raw body
    // that does not match the parsed JSON must not leak wrong bytes into the prompt).
    void check_node();
};

// Parses a request body; throws dstar::Error("invalid JSON request: ...") on bad JSON.
nlohmann::json parse_request_body(std::string_view body);

}  // namespace dstar::chat

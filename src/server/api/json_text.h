// JSON output of the server: member order as written (ordered_json), and text that is not
// valid UTF-8 (a model can sample a stray byte) replaced by U+FFFD instead of throwing, so a
// response is always valid JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace dstar::server::api {

using Json = nlohmann::ordered_json;

// Compact JSON text.
std::string dump_json(const Json &j);

}  // namespace dstar::server::api

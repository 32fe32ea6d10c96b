#include "server/api/json_text.h"

namespace dstar::server::api {

std::string dump_json(const Json &j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace dstar::server::api

#include "server/api/models.h"

#include <algorithm>

namespace dstar::server::api {

ModelCatalog::ModelCatalog(std::vector<std::string> aliases, uint32_t ctx, uint32_t max_tokens)
    : ids_{kModelId, "deepseek-chat", "deepseek-reasoner"}, ctx_(ctx), max_tokens_(max_tokens) {
    ids_.insert(ids_.end(), aliases.begin(), aliases.end());
}

bool ModelCatalog::accepts(const std::string &id) const {
    return std::find(ids_.begin(), ids_.end(), id) != ids_.end();
}

Json ModelCatalog::model_object(const std::string &id) const {
    Json m;
    m["id"] = id;
    m["object"] = "model";
    m["created"] = 1767225600;  // ds4's fixed value (2026-01-01)
    m["owned_by"] = "dstar";
    m["name"] = "DeepSeek V4 Flash";
    m["context_length"] = ctx_;
    m["top_provider"] = Json{{"context_length", ctx_},
                             {"max_completion_tokens", std::min(max_tokens_, ctx_)},
                             {"is_moderated", false}};
    m["supported_parameters"] = Json::array({"tools", "tool_choice", "max_tokens", "temperature",
                                             "top_p", "top_k", "min_p", "stop", "seed", "stream",
                                             "reasoning_effort"});
    return m;
}

Json ModelCatalog::list() const {
    return Json{{"object", "list"}, {"data", Json::array({model_object(kModelId)})}};
}

}  // namespace dstar::server::api

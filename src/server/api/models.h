// The model ids the server answers to (GET /v1/models, the "model" field of requests): the
// published id, ds4's two aliases (deepseek-chat: no thinking, deepseek-reasoner: thinking,
// applied by the chat parsers) and every --model-alias.  Anything else is a 404, so that a
// misconfigured client fails loudly instead of silently talking to another model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "server/api/json_text.h"

namespace dstar::server::api {

inline constexpr const char *kModelId = "deepseek-v4-flash";

class ModelCatalog {
public:
    // ctx: --ctx; max_tokens: -n (the model object reports min(max_tokens, ctx)).
    ModelCatalog(std::vector<std::string> aliases, uint32_t ctx, uint32_t max_tokens);

    bool accepts(const std::string &id) const;
    // The model object (spec §7A) under `id`.
    Json model_object(const std::string &id) const;
    // {"object":"list","data":[<deepseek-v4-flash>]}
    Json list() const;

private:
    std::vector<std::string> ids_;
    uint32_t ctx_, max_tokens_;
};

}  // namespace dstar::server::api

// A Hugging Face DeepSeek V4 config.json as a dstar ModelConfig.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "model/config.h"

namespace dstar::convert {

// Reads both the official checkpoint's keys (legacy: `compress_ratios`, `num_hash_layers`,
// `qk_rope_head_dim`, `rope_scaling`) and transformers' (`layer_types` + `compress_rates`,
// `mlp_layer_types`, `partial_rotary_factor`, nested `rope_parameters`), with transformers'
// defaults where a key is absent.  Throws Error naming the key for anything dstar cannot run
// (several KV heads, a non-sqrtsoftplus router, hash layers that are not a prefix, ...).
model::ModelConfig config_from_hf(const nlohmann::json &config, const std::string &what);
model::ModelConfig config_from_hf_file(const std::string &config_json_path);

}  // namespace dstar::convert

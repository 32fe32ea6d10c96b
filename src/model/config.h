// Model hyper-parameters read from GGUF metadata (deepseek4.* keys, model.md §2.2).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dstar::gguf { class Reader; struct Value; }

namespace dstar::model {

struct ModelConfig {
    uint32_t n_layer = 0;
    uint32_t n_embd = 0;
    uint32_t n_vocab = 0;
    uint32_t n_head = 0;
    uint32_t n_head_kv = 0;
    uint32_t head_dim = 0;        // key_length (= value_length)
    uint32_t n_rot = 0;           // rotary tail of each head
    uint32_t q_lora = 0;
    uint32_t n_out_group = 0;
    uint32_t out_lora = 0;        // per group
    uint32_t n_expert = 0;
    uint32_t n_expert_used = 0;
    uint32_t n_expert_shared = 0;
    uint32_t expert_ff = 0;
    uint32_t n_hash_layer = 0;
    uint32_t window = 0;          // raw sliding window (current token included)
    uint32_t idx_head = 0;
    uint32_t idx_head_dim = 0;
    uint32_t idx_top_k = 0;
    uint32_t n_hc = 0;
    uint32_t sinkhorn_iters = 0;
    std::vector<uint32_t> compress_ratio;  // per layer: 0, 4 (overlapping + indexer) or r
    std::vector<float> swiglu_clamp;       // per layer
    float rope_base = 0, compress_rope_base = 0, rope_scale = 0;
    uint64_t rope_orig_ctx = 0;
    float yarn_beta_fast = 0, yarn_beta_slow = 0;
    float expert_weights_scale = 0;
    float rms_eps = 0, hc_eps = 0;
    uint64_t context_length = 0;  // informational (training context)
    std::string name;             // general.name

    // Derived widths.
    uint32_t hc_dim() const { return n_hc * n_embd; }
    uint32_t hc_mix() const { return 2 * n_hc + n_hc * n_hc; }
    uint32_t q_dim() const { return n_head * head_dim; }
    uint32_t n_nope() const { return head_dim - n_rot; }
    uint32_t group_heads() const { return n_head / n_out_group; }
    uint32_t group_dim() const { return group_heads() * head_dim; }
    uint32_t out_low_dim() const { return n_out_group * out_lora; }
    uint32_t ratio(uint32_t l) const { return compress_ratio[l]; }
    bool is_hash_layer(uint32_t l) const { return l < n_hash_layer; }
    bool has_indexer(uint32_t l) const;           // ratio-4 layers
    uint32_t compressor_coff(uint32_t l) const;   // 2 for ratio 4, else 1
    uint32_t idx_q_dim() const { return idx_head * idx_head_dim; }

    // True when every value equals the published DeepSeek V4 Flash (model/shape.h).
    bool is_flash_shape() const;
    std::string summary() const;  // one line: "43 layers, embd 4096, ..."

    // Reads and validates the config.  Throws Error naming the key and the problem
    // (missing key, wrong GGUF type, value out of range, inconsistent dimensions).
    static ModelConfig from_gguf(const gguf::Reader &reader);
    // The published model (used by synth and tests).
    static ModelConfig flash();
    // Empty if the model's quantization-aware-training simulations (FP8 KV rows in 64-value
    // blocks, Hadamard-128 + FP4 indexer) fit these dimensions; otherwise why not.
    std::string qat_problem() const;
    // Checks internal consistency (what the forward pass relies on).  Throws Error.
    void validate() const;
};

}  // namespace dstar::model

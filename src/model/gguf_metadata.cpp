#include "model/gguf_metadata.h"

#include "gguf/writer.h"

namespace dstar::model {

void write_model_metadata(gguf::Writer &w, const ModelConfig &c, const tok::HfVocab &vocab, const std::string &name) {
    using gguf::Value;
    const std::string A = "deepseek4.";
    w.add_kv("general.architecture", Value::make_string("deepseek4"));
    w.add_kv("general.name", Value::make_string(name));
    w.add_kv("general.alignment", Value::make_u32(32));
    auto u32 = [&](const std::string &k, uint32_t v) { w.add_kv(A + k, Value::make_u32(v)); };
    auto f32 = [&](const std::string &k, float v) { w.add_kv(A + k, Value::make_f32(v)); };
    u32("block_count", c.n_layer);
    w.add_kv(A + "context_length", Value::make_u64(c.context_length));
    u32("embedding_length", c.n_embd);
    u32("vocab_size", c.n_vocab);
    u32("attention.head_count", c.n_head);
    u32("attention.head_count_kv", c.n_head_kv);
    u32("attention.key_length", c.head_dim);
    u32("attention.value_length", c.head_dim);
    u32("rope.dimension_count", c.n_rot);
    u32("attention.q_lora_rank", c.q_lora);
    u32("attention.output_lora_rank", c.out_lora);
    u32("attention.output_group_count", c.n_out_group);
    u32("expert_count", c.n_expert);
    u32("expert_used_count", c.n_expert_used);
    u32("expert_feed_forward_length", c.expert_ff);
    u32("expert_shared_count", c.n_expert_shared);
    u32("hash_layer_count", c.n_hash_layer);
    u32("expert_group_count", 0);
    u32("expert_group_used_count", 0);
    u32("attention.sliding_window", c.window);
    u32("attention.indexer.head_count", c.idx_head);
    u32("attention.indexer.key_length", c.idx_head_dim);
    u32("attention.indexer.top_k", c.idx_top_k);
    u32("hyper_connection.count", c.n_hc);
    u32("hyper_connection.sinkhorn_iterations", c.sinkhorn_iters);
    w.add_kv(A + "rope.scaling.type", Value::make_string(c.rope_scale > 1.0f ? "yarn" : "none"));
    w.add_kv(A + "rope.scaling.original_context_length", Value::make_u64(c.rope_orig_ctx));
    w.add_kv(A + "expert_weights_norm", Value::make_bool(true));
    f32("rope.freq_base", c.rope_base);
    f32("rope.scaling.factor", c.rope_scale);
    f32("rope.scaling.yarn_beta_fast", c.yarn_beta_fast);
    f32("rope.scaling.yarn_beta_slow", c.yarn_beta_slow);
    f32("attention.compress_rope_freq_base", c.compress_rope_base);
    f32("expert_weights_scale", c.expert_weights_scale);
    f32("attention.layer_norm_rms_epsilon", c.rms_eps);
    f32("hyper_connection.epsilon", c.hc_eps);
    w.add_kv(A + "attention.compress_ratios",
             Value::make_u32_array(std::vector<uint32_t>(c.compress_ratio.begin(), c.compress_ratio.begin() + c.n_layer)));
    w.add_kv(A + "swiglu_clamp_exp",
             Value::make_f32_array(std::vector<float>(c.swiglu_clamp.begin(), c.swiglu_clamp.begin() + c.n_layer)));
    w.add_kv("tokenizer.ggml.model", Value::make_string("gpt2"));
    w.add_kv("tokenizer.ggml.pre", Value::make_string("joyai-llm"));
    w.add_kv("tokenizer.ggml.tokens", Value::make_string_array(vocab.tokens));
    w.add_kv("tokenizer.ggml.token_type", Value::make_i32_array(vocab.token_types));
    w.add_kv("tokenizer.ggml.merges", Value::make_string_array(vocab.merges));
    if (vocab.bos_id >= 0) w.add_kv("tokenizer.ggml.bos_token_id", Value::make_u32(static_cast<uint32_t>(vocab.bos_id)));
    if (vocab.eos_id >= 0) w.add_kv("tokenizer.ggml.eos_token_id", Value::make_u32(static_cast<uint32_t>(vocab.eos_id)));
}

}  // namespace dstar::model

// The decode floor: KV bytes read per token match model.md §6.2's table for the published
// shape, and the floor adds them to the weight bytes of model.md §6.1.
#include "cli/bench_floor.h"

#include <cstdio>
#include <gtest/gtest.h>
#include <unistd.h>

#include "gguf/reader.h"
#include "model/decode_bytes.h"
#include "model/synth.h"
#include "model/weights.h"
#include "tokenizer/hf_vocab.h"

namespace dstar::cli::bench {
namespace {

model::SynthOptions flash_options() {
    model::SynthOptions o;
    o.preset = model::SynthPreset::Flash;
    o.tokenizer_json = tok::default_npm_tokenizer_json();
    return o;
}

TEST(BenchFloor, KvBytesMatchTheModelSpecTable) {
    const model::ModelConfig c = model::synth_config(flash_options());
    // model.md §6.2: 45.6 MB, 131.9 MB, 334.1 MB, 3.04 GB.
    EXPECT_NEAR(kv_read_bytes(c, 4096) / 1e6, 45.6, 0.05);
    EXPECT_NEAR(kv_read_bytes(c, 32768) / 1e6, 131.9, 0.05);
    EXPECT_NEAR(kv_read_bytes(c, 100000) / 1e6, 334.1, 0.05);
    EXPECT_NEAR(kv_read_bytes(c, 1000000) / 1e9, 3.04, 0.005);
    // Below the window every layer reads the tokens it has; the indexer keys are read only
    // once there are more than top-k rows to choose from.
    EXPECT_EQ(kv_read_bytes(c, 1), 43u * 512u * 4u);
    const uint64_t at_top_k = kv_read_bytes(c, 4 * 512), past = kv_read_bytes(c, 4 * 513);
    EXPECT_EQ(past - at_top_k, 21u * 513u * 128u * 4u);  // 21 ratio-4 layers score 513 keys of 128 f32
}

TEST(BenchFloor, FloorIsWeightsPlusKv) {
    // The full published layout, written sparse (no disk space): model.md §6 gives
    // 9,193,024,420 weight bytes below 2052 tokens and 9.56 + 0.13 GB at 32K.
    const std::string path =
        std::string(::testing::TempDir()) + "/dstar_floor_flash_" + std::to_string(::getpid()) + ".gguf";
    model::SynthOptions o = flash_options();
    o.sparse = true;
    model::write_synthetic(path, o);
    gguf::Reader r(path);
    const model::ModelWeights w = model::bind_model(r);
    EXPECT_EQ(decode_floor_bytes(w, 512), 9193024420ull + kv_read_bytes(w.config, 512));
    EXPECT_NEAR(decode_floor_bytes(w, 32768) / 1e9, 9.69, 0.005);
    // The mean over a generation lies between its first and last step.
    const double mean = mean_decode_floor_bytes(w, 2040, 20);
    EXPECT_GT(mean, static_cast<double>(decode_floor_bytes(w, 2041)));
    EXPECT_LT(mean, static_cast<double>(decode_floor_bytes(w, 2060)));
    EXPECT_NEAR(floor_tokens_per_second(9.19e9, 4180), 454.8, 0.1);
    EXPECT_EQ(floor_tokens_per_second(9.19e9, 0), 0.0);
    std::remove(path.c_str());
}

}  // namespace
}  // namespace dstar::cli::bench

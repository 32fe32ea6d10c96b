// The CPU forward pass against Hugging Face transformers' DeepseekV4ForCausalLM
// (shared/testdata/hf-ref, README there): each tiny checkpoint, converted with
// `--quant f32`, must give every logit within 1e-3 of transformers' at every position of
// every prompt, the same argmax everywhere and the same 8-token greedy continuation.
// transformers has no FP8/FP4 simulation, so the engine runs with Numerics::qat off, and
// its indexer breaks exact score ties the way torch.topk does on a whole-prompt batch
// (these tiny models have 2 indexer heads, so all-ReLU-zero rows tie often; see
// docs/NUMERICS.md), so the prompt is evaluated as one batch with Torch ties.
#include <cmath>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "common/mapped_file.h"
#include "convert/converter.h"
#include "engine/engine.h"
#include "engine/sampler.h"
#include "engine/session.h"

namespace dstar::engine {
namespace {

const std::string kRef = std::string(DSTAR_SHARED_DIR) + "/testdata/hf-ref";

std::vector<float> read_f32(const std::string &path) {
    const std::string b = read_file(path);
    std::vector<float> v(b.size() / 4);
    std::memcpy(v.data(), b.data(), v.size() * 4);
    return v;
}

size_t argmax_row(const float *r, size_t n) { return static_cast<size_t>(std::max_element(r, r + n) - r); }

class HfReference : public ::testing::TestWithParam<std::string> {};

TEST_P(HfReference, MatchesTransformersInF32) {
    const std::string dir = kRef + "/" + GetParam();
    ASSERT_EQ(::access((dir + "/config.json").c_str(), R_OK), 0) << "missing " << dir;
    const std::string gguf = std::string(::testing::TempDir()) + "/dstar_hfref_" + GetParam() + ".gguf";
    convert::ConvertOptions co;
    co.checkpoint_dir = dir;
    co.out = gguf;
    co.quant = "f32";
    convert::convert_checkpoint(co);

    EngineOptions eo;
    eo.model_path = gguf;
    eo.qat = false;
    eo.indexer_ties = backend::Numerics::IndexerTies::Torch;
    eo.threads = 2;
    Engine e(eo);
    const uint32_t V = e.config().n_vocab;
    const nlohmann::json ref = nlohmann::json::parse(read_file(dir + "/reference.json"));
    for (const auto &[pn, p] : ref["prompts"].items()) {
        SCOPED_TRACE(GetParam() + "/" + pn);
        const std::vector<int32_t> ids = p["ids"].get<std::vector<int32_t>>();
        const std::vector<float> want = read_f32(dir + "/" + p["logits_file"].get<std::string>());
        ASSERT_EQ(want.size(), ids.size() * V);
        {
            const uint32_t chunk = 512;  // the whole prompt as one batch, as transformers ran it
            Session s(e, static_cast<uint32_t>(ids.size() + 16), chunk);
            const std::vector<float> got = s.append_all_logits(ids.data(), static_cast<uint32_t>(ids.size()));
            float max_abs = 0;
            size_t argmax_diff = 0;
            for (size_t i = 0; i < want.size(); i++) max_abs = std::max(max_abs, std::fabs(got[i] - want[i]));
            for (size_t t = 0; t < ids.size(); t++)
                argmax_diff += argmax_row(&got[t * V], V) != argmax_row(&want[t * V], V);
            std::printf("%s %s chunk %u: max |dlogit| %.3g over %zu positions, argmax differs at %zu\n",
                        GetParam().c_str(), pn.c_str(), chunk, max_abs, ids.size(), argmax_diff);
            EXPECT_LE(max_abs, 1e-3f);
            EXPECT_EQ(argmax_diff, 0u);
            // The continuation, computed as the reference did: the whole sequence again at
            // every step (with Torch ties an earlier position's choice can depend on how many
            // rows the batch has, so a cached decode step may legitimately differ).
            std::vector<int32_t> seq = ids, greedy;
            for (int i = 0; i < 8; i++) {
                const int32_t next = argmax(s.logits().data(), V);
                greedy.push_back(next);
                seq.push_back(next);
                s.reset();
                s.sync(seq);
            }
            EXPECT_EQ(greedy, p["greedy8"].get<std::vector<int32_t>>());
        }
    }
    std::remove(gguf.c_str());
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, HfReference, ::testing::Values("hf-a-2layer", "hf-b-5layer"),
                         [](const ::testing::TestParamInfo<std::string> &p) {
                             std::string n = p.param;
                             for (char &c : n) if (c == '-') c = '_';
                             return n;
                         });

}  // namespace
}  // namespace dstar::engine

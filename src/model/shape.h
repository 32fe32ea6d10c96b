// DeepSeek V4 Flash: the published model's shape and fixed hyper-parameters, plus the
// limits dstar enforces on any file.  The engine reads every dimension from GGUF metadata
// (so reduced-size synthetic files in the same layout load); these constants describe the
// real model, drive `dstar-gguf synth --preset flash`, and tell `info` whether a file has
// the published shape.  Values: shared/spec/model.md §1.
#pragma once

#include <cstdint>

namespace dstar::model::flash {

constexpr uint32_t kLayers = 43;
constexpr uint32_t kEmbd = 4096;
constexpr uint32_t kVocab = 129280;
constexpr uint32_t kHeads = 64;
constexpr uint32_t kHeadsKv = 1;
constexpr uint32_t kHeadDim = 512;        // key = value length
constexpr uint32_t kRot = 64;             // rotary dims (the last 64 of a head)
constexpr uint32_t kQLora = 1024;
constexpr uint32_t kOutGroups = 8;
constexpr uint32_t kOutLora = 1024;
constexpr uint32_t kExperts = 256;
constexpr uint32_t kExpertsUsed = 6;
constexpr uint32_t kExpertsShared = 1;
constexpr uint32_t kExpertFf = 2048;
constexpr uint32_t kHashLayers = 3;
constexpr uint32_t kWindow = 128;         // raw sliding window, current token included
constexpr uint32_t kIdxHeads = 64;
constexpr uint32_t kIdxHeadDim = 128;
constexpr uint32_t kIdxTopK = 512;
constexpr uint32_t kHc = 4;               // hyper-connection streams
constexpr uint32_t kSinkhornIters = 20;
constexpr uint32_t kRatioCsa = 4;         // even layers >= 2 (with indexer)
constexpr uint32_t kRatioHca = 128;       // odd layers >= 3
constexpr float kRopeBase = 10000.0f;
constexpr float kCompressRopeBase = 160000.0f;
constexpr float kRopeScale = 16.0f;
constexpr uint64_t kRopeOrigCtx = 65536;
constexpr float kYarnBetaFast = 32.0f;
constexpr float kYarnBetaSlow = 1.0f;
constexpr float kExpertWeightsScale = 1.5f;
constexpr float kSwigluClamp = 10.0f;
constexpr float kRmsEps = 1e-6f;
constexpr float kHcEps = 1e-6f;
constexpr uint64_t kContextLength = 1048576;

// Compression ratio of layer l in the published schedule (model.md §1.1).
constexpr uint32_t compress_ratio(uint32_t l) { return l < 2 ? 0 : (l % 2 == 0 ? kRatioCsa : kRatioHca); }

}  // namespace dstar::model::flash

namespace dstar::model::limits {

// Hard limits dstar accepts from metadata (sanity, not the model's values).
constexpr uint32_t kMaxLayers = 256;
constexpr uint32_t kMaxEmbd = 65536;
constexpr uint32_t kMaxVocab = 1u << 22;
constexpr uint32_t kMaxHeads = 1024;
constexpr uint32_t kMaxExperts = 4096;
constexpr uint32_t kMaxExpertsUsed = 64;
constexpr uint32_t kMaxHc = 16;
constexpr uint64_t kMaxContext = 1ull << 24;
// Ratio-4 layers use the overlapping compressor (two windows) and the indexer; any other
// non-zero ratio is a plain (non-overlapping) compressor.
constexpr uint32_t kOverlapRatio = 4;
// FP8 KV simulation works on 64-value blocks; the indexer's Hadamard is 128 wide.
constexpr uint32_t kFp8Block = 64;
constexpr uint32_t kFp4Block = 32;
constexpr uint32_t kHadamardDim = 128;
// Floor of the sum of the selected router scores (2^-14).
constexpr float kMinRouterSum = 6.103515625e-5f;

}  // namespace dstar::model::limits

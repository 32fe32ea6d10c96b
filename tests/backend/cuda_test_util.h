// Shared helpers of the CUDA op tests (tests/backend/cuda_*_test.cpp): a CPU reference and a
// CUDA backend side by side, buffers mirrored on both, synthetic weights of every type, and
// error statistics.  Every test skips itself on a machine without a GPU.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "backend/backend.h"
#include "gguf/types.h"
#include "model/weights.h"

namespace dstar::backend::test {

// The two backends, created once per process; null when no GPU is present.
struct Backends {
    std::unique_ptr<Backend> cpu, gpu;
};
Backends *backends();

#define DSTAR_REQUIRE_GPU()                                                   \
    do {                                                                      \
        if (!::dstar::backend::test::backends()) GTEST_SKIP() << "no CUDA GPU"; \
    } while (0)

// Sets a CUDA kernel switch (DSTAR_CUDA_<NAME>, read at each launch) to 0 for its lifetime:
// the old path, for bit-for-bit comparisons with the new one.
class SwitchOff {
public:
    explicit SwitchOff(const char *name);
    ~SwitchOff();
    SwitchOff(const SwitchOff &) = delete;
    SwitchOff &operator=(const SwitchOff &) = delete;

private:
    const char *name_;
    bool had_ = false;
    std::string old_;
};

// n normal(0, sigma) floats from `seed`.
std::vector<float> random_floats(size_t n, uint32_t seed, float sigma = 1.0f);

// A float buffer with the same contents on both backends (outputs start as NaN, so an
// element the GPU never writes shows up as a mismatch).
class Mirror {
public:
    explicit Mirror(const std::vector<float> &values);
    explicit Mirror(size_t n, float fill = NAN);
    ~Mirror();
    Mirror(const Mirror &) = delete;
    Mirror &operator=(const Mirror &) = delete;
    float *cpu = nullptr;
    float *gpu = nullptr;
    size_t n = 0;
    std::vector<float> cpu_values() const;
    std::vector<float> gpu_values() const;
};

// A weight tensor in host memory with random contents of `type` (valid codes and finite
// scales for quantized types; values of about unit output scale for a unit input).
struct HostWeight {
    std::vector<uint8_t> bytes;
    model::WeightTensor tensor;
};
HostWeight make_weight(gguf::TensorType type, uint64_t ne0, uint64_t ne1, uint64_t ne2, uint32_t seed,
                       const std::string &name = "test.weight");
// An F32 vector tensor (norm weights, sinks, ...).
HostWeight make_vector(const std::vector<float> &values, const std::string &name = "test.vector");

// Differences of a result against the CPU reference.
struct Diff {
    size_t n = 0, mismatches = 0;  // elements not bitwise equal (NaN never equal)
    size_t bad = 0;                // NaN/inf in the result where the reference is finite
    double max_abs = 0, ref_max = 0, rel_l2 = 0;
    std::string str() const;
};
Diff compare(const std::vector<float> &ref, const std::vector<float> &got);

const char *tname(gguf::TensorType t);

}  // namespace dstar::backend::test

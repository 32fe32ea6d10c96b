#include "backend/cuda_test_util.h"

#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "common/fp16.h"
#include "quant/blocks.h"

namespace dstar::backend::test {

SwitchOff::SwitchOff(const char *name) : name_(name) {
    const char *v = std::getenv(name);
    had_ = v != nullptr;
    if (had_) old_ = v;
    setenv(name, "0", 1);
}

SwitchOff::~SwitchOff() {
    if (had_) setenv(name_, old_.c_str(), 1);
    else unsetenv(name_);
}

Backends *backends() {
    static Backends *b = [] {
        if (cuda_device_count() == 0) return static_cast<Backends *>(nullptr);
        auto *p = new Backends;
        p->cpu = make_cpu_backend(2);
        p->gpu = make_cuda_backend(0);
        return p;
    }();
    return b;
}

std::vector<float> random_floats(size_t n, uint32_t seed, float sigma) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, sigma);
    std::vector<float> v(n);
    for (float &x : v) x = dist(rng);
    return v;
}

Mirror::Mirror(const std::vector<float> &values) : n(values.size()) {
    Backends *b = backends();
    cpu = b->cpu->alloc(n);
    gpu = b->gpu->alloc(n);
    b->cpu->upload(cpu, values.data(), n);
    b->gpu->upload(gpu, values.data(), n);
}

Mirror::Mirror(size_t count, float fill) : n(count) {
    Backends *b = backends();
    cpu = b->cpu->alloc(n);
    gpu = b->gpu->alloc(n);
    b->cpu->fill(cpu, fill, n);
    b->gpu->fill(gpu, fill, n);
}

Mirror::~Mirror() {
    Backends *b = backends();
    b->cpu->release(cpu);
    b->gpu->release(gpu);
}

std::vector<float> Mirror::cpu_values() const {
    std::vector<float> v(n);
    backends()->cpu->download(v.data(), cpu, n);
    return v;
}

std::vector<float> Mirror::gpu_values() const {
    std::vector<float> v(n);
    backends()->gpu->download(v.data(), gpu, n);
    return v;
}

namespace {

uint16_t f16(float x) { return f32_to_f16(x); }

// Random codes for one row of a block type: every byte pattern of the code fields is valid;
// scales are positive, finite, and sized for outputs of about unit scale.
void random_blocks(gguf::TensorType type, uint64_t ne0, std::mt19937 &rng, uint8_t *out) {
    using gguf::TensorType;
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> u(0.5f, 1.5f);
    const float unit = 1.0f / std::sqrt(static_cast<float>(ne0));
    switch (type) {
    case TensorType::Q8_0:
        for (uint64_t b = 0; b < ne0 / 32; b++) {
            quant::BlockQ8_0 blk;
            blk.d = f16(u(rng) * unit / 64.0f);
            for (auto &q : blk.qs) q = static_cast<int8_t>(byte(rng) - 128);
            std::memcpy(out + b * sizeof blk, &blk, sizeof blk);
        }
        break;
    case TensorType::Q2_K:
        for (uint64_t b = 0; b < ne0 / 256; b++) {
            quant::BlockQ2_K blk;
            for (auto &s : blk.scales) s = static_cast<uint8_t>(byte(rng));
            for (auto &q : blk.qs) q = static_cast<uint8_t>(byte(rng));
            blk.d = f16(u(rng) * unit / 16.0f);
            blk.dmin = f16(u(rng) * unit / 16.0f);
            std::memcpy(out + b * sizeof blk, &blk, sizeof blk);
        }
        break;
    case TensorType::Q4_K:
        for (uint64_t b = 0; b < ne0 / 256; b++) {
            quant::BlockQ4_K blk;
            for (auto &s : blk.scales) s = static_cast<uint8_t>(byte(rng));
            for (auto &q : blk.qs) q = static_cast<uint8_t>(byte(rng));
            blk.d = f16(u(rng) * unit / 128.0f);
            blk.dmin = f16(u(rng) * unit / 128.0f);
            std::memcpy(out + b * sizeof blk, &blk, sizeof blk);
        }
        break;
    case TensorType::IQ2_XXS:
        for (uint64_t b = 0; b < ne0 / 256; b++) {
            quant::BlockIQ2_XXS blk;
            for (auto &q : blk.qs) q = static_cast<uint16_t>(byte(rng) | (byte(rng) << 8));
            blk.d = f16(u(rng) * unit / 64.0f);
            std::memcpy(out + b * sizeof blk, &blk, sizeof blk);
        }
        break;
    default: fail("random_blocks: %s is not a block type", gguf::type_name(type).c_str());
    }
}

}  // namespace

HostWeight make_weight(gguf::TensorType type, uint64_t ne0, uint64_t ne1, uint64_t ne2, uint32_t seed,
                       const std::string &name) {
    using gguf::TensorType;
    HostWeight w;
    uint64_t row_bytes = 0;
    if (!gguf::row_bytes(type, ne0, &row_bytes)) fail("make_weight: %llu is not whole blocks", static_cast<unsigned long long>(ne0));
    const uint64_t rows = ne1 * ne2;
    w.bytes.resize(row_bytes * rows);
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f / std::sqrt(static_cast<float>(ne0)));
    for (uint64_t r = 0; r < rows; r++) {
        uint8_t *row = w.bytes.data() + r * row_bytes;
        switch (type) {
        case TensorType::F32:
            for (uint64_t i = 0; i < ne0; i++) {
                const float v = normal(rng);
                std::memcpy(row + 4 * i, &v, 4);
            }
            break;
        case TensorType::F16:
        case TensorType::BF16:
            for (uint64_t i = 0; i < ne0; i++) {
                const uint16_t h = type == TensorType::F16 ? f32_to_f16(normal(rng)) : f32_to_bf16(normal(rng));
                std::memcpy(row + 2 * i, &h, 2);
            }
            break;
        default: random_blocks(type, ne0, rng, row);
        }
    }
    w.tensor.name = name;
    w.tensor.type = type;
    w.tensor.dims = {ne0, ne1, ne2};
    w.tensor.data = w.bytes.data();
    w.tensor.n_bytes = w.bytes.size();
    w.tensor.row_bytes = row_bytes;
    return w;
}

HostWeight make_vector(const std::vector<float> &values, const std::string &name) {
    HostWeight w;
    w.bytes.resize(values.size() * 4);
    std::memcpy(w.bytes.data(), values.data(), w.bytes.size());
    w.tensor.name = name;
    w.tensor.type = gguf::TensorType::F32;
    w.tensor.dims = {values.size()};
    w.tensor.data = w.bytes.data();
    w.tensor.n_bytes = w.bytes.size();
    w.tensor.row_bytes = w.bytes.size();
    return w;
}

Diff compare(const std::vector<float> &ref, const std::vector<float> &got) {
    Diff d;
    d.n = ref.size();
    if (got.size() != ref.size()) {
        d.bad = d.mismatches = d.n;
        return d;
    }
    double num = 0, den = 0;
    for (size_t i = 0; i < ref.size(); i++) {
        if (std::memcmp(&ref[i], &got[i], 4) != 0 && !(ref[i] == got[i])) d.mismatches++;
        if (std::isfinite(ref[i]) && !std::isfinite(got[i])) {
            d.bad++;
            continue;
        }
        if (!std::isfinite(ref[i])) continue;
        const double e = std::fabs(static_cast<double>(got[i]) - ref[i]);
        d.max_abs = std::max(d.max_abs, e);
        d.ref_max = std::max(d.ref_max, std::fabs(static_cast<double>(ref[i])));
        num += e * e;
        den += static_cast<double>(ref[i]) * ref[i];
    }
    d.rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
    return d;
}

std::string Diff::str() const {
    return strformat("n %zu, not equal %zu, non-finite %zu, max|d| %.3g (ref max %.3g), rel L2 %.3g", n, mismatches,
                     bad, max_abs, ref_max, rel_l2);
}

const char *tname(gguf::TensorType t) { return gguf::type_info(t) ? gguf::type_info(t)->name : "?"; }

}  // namespace dstar::backend::test

#include "model/synth.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <mutex>
#include <sys/mman.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "common/error.h"
#include "common/fp16.h"
#include "common/thread_pool.h"
#include "gguf/writer.h"
#include "model/gguf_metadata.h"
#include "model/shape.h"
#include "model/synth_vocab.h"
#include "model/tensor_table.h"
#include "quant/blocks.h"
#include "quant/dequant.h"
#include "quant/quantize.h"

namespace dstar::model {

namespace {

using gguf::TensorType;
using gguf::Value;

// Output gain of every residual branch (attention output, expert down projections): keeps
// the residual stream, and so every router input, stable through the layers.
constexpr float kBranchGain = 0.25f;

// ---- deterministic random numbers -------------------------------------------------------

uint64_t fnv1a(const std::string &s, uint64_t h = 1469598103934665603ull) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}

// splitmix64's state advances by the same constant at every draw, so a generator can jump
// straight to its n-th draw: every chunk of a tensor starts where a single sequential pass
// would be at that point, and chunks made on any number of threads give the same bytes.
constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ull;

// The inverse of kGolden modulo 2^64 (Newton's iteration doubles the correct bits each
// step), to turn a state difference back into a number of draws.
constexpr uint64_t inverse_mod_2_64(uint64_t a) {
    uint64_t x = a;  // correct to 3 bits for odd a
    for (int i = 0; i < 5; i++) x *= 2 - a * x;
    return x;
}
static_assert(kGolden * inverse_mod_2_64(kGolden) == 1);

class Rng {
public:
    explicit Rng(uint64_t seed) : s_(seed) {}
    uint64_t next() {  // splitmix64
        uint64_t z = (s_ += kGolden);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
    // Approximately standard normal (Irwin-Hall of 4 uniforms, rescaled): cheap, bounded.
    float normal() {
        const uint64_t a = next(), b = next();
        const float s = static_cast<float>(a & 0xffffffu) + static_cast<float>(a >> 40) +
                        static_cast<float>(b & 0xffffffu) + static_cast<float>(b >> 40);
        return (s * (1.0f / 16777216.0f) - 2.0f) * 1.7320508f;
    }
    uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }

    // Advances as `draws` calls of next() would.
    void skip(uint64_t draws) { s_ += draws * kGolden; }
    // next() calls made since `earlier` was a copy of this generator.
    uint64_t draws_since(const Rng &earlier) const { return (s_ - earlier.s_) * inverse_mod_2_64(kGolden); }

private:
    uint64_t s_;
};

// ---- what each tensor holds -------------------------------------------------------------

enum class Fill { Const, Uniform, Normal, Experts, HashTable };

struct TensorPlan {
    std::string name;
    TensorType type;
    std::vector<uint64_t> dims;
    Fill fill;
    float a = 0, b = 0;  // Const: value; Uniform: [a, b); Normal: std; Experts: base std
    int down = 0;        // Experts: 1 for down projections (gain^-2), 0 for gate/up (gain)
};

float lin(uint64_t fan_in, float gain = 1.0f) { return gain / std::sqrt(static_cast<float>(fan_in)); }

// Per-expert output scale: most experts O(1), a few large enough that the SwiGLU clamp
// really triggers.
float expert_gain(uint64_t e) {
    static const float g[8] = {0.7f, 1.0f, 1.0f, 1.3f, 1.6f, 2.2f, 3.5f, 7.0f};
    return g[e % 8];
}

// Recipe for one block tensor.
void plan_layer_tensor(LayerTensor id, const ModelConfig &c, TensorPlan *p) {
    using L = LayerTensor;
    const uint64_t E = c.n_embd, ff = c.expert_ff;
    switch (id) {
    case L::HcAttnFn: case L::HcFfnFn: p->fill = Fill::Normal; p->a = lin(c.hc_dim()); break;
    case L::HcAttnScale: case L::HcFfnScale: p->fill = Fill::Uniform; p->a = 0.5f; p->b = 1.5f; break;
    case L::HcAttnBase: case L::HcFfnBase: p->fill = Fill::Normal; p->a = 0.5f; break;
    case L::AttnNorm: case L::FfnNorm: case L::AttnQANorm: case L::AttnKvANorm:
    case L::AttnCompressorNorm: case L::IndexerCompressorNorm: p->fill = Fill::Const; p->a = 1.0f; break;
    case L::AttnQA: case L::AttnKv: case L::AttnCompressorKv: case L::AttnCompressorGate:
    case L::IndexerProj: case L::IndexerCompressorKv: case L::IndexerCompressorGate:
    case L::FfnGateInp: case L::FfnGateShexp: case L::FfnUpShexp: p->fill = Fill::Normal; p->a = lin(E); break;
    case L::AttnQB: case L::IndexerAttnQB: p->fill = Fill::Normal; p->a = lin(c.q_lora); break;
    case L::AttnSinks: p->fill = Fill::Normal; p->a = 1.0f; break;
    case L::AttnOutputA: p->fill = Fill::Normal; p->a = lin(c.group_dim()); break;
    case L::AttnOutputB: p->fill = Fill::Normal; p->a = lin(c.out_low_dim(), kBranchGain); break;
    case L::AttnCompressorApe: case L::IndexerCompressorApe: p->fill = Fill::Normal; p->a = 0.5f; break;
    case L::ExpProbsB: p->fill = Fill::Normal; p->a = 0.1f; break;
    case L::FfnGateExps: case L::FfnUpExps: p->fill = Fill::Experts; p->a = lin(E); p->down = 0; break;
    case L::FfnDownExps: p->fill = Fill::Experts; p->a = lin(ff, kBranchGain); p->down = 1; break;
    case L::FfnDownShexp: p->fill = Fill::Normal; p->a = lin(ff, kBranchGain); break;
    case L::FfnGateTid2eid: p->fill = Fill::HashTable; break;
    case L::Count: break;
    }
}

std::vector<TensorPlan> plan_main(const ModelConfig &c, const std::string &quant) {
    const bool q2 = quant == "q2";
    std::vector<TensorPlan> out;
    auto add = [&](std::string name, TensorType type, std::vector<uint64_t> dims, Fill fill, float a, float b = 0) {
        out.push_back({std::move(name), type, std::move(dims), fill, a, b, 0});
    };
    add(tensor_name(GlobalTensor::TokenEmbd), TensorType::F16, expected_dims(GlobalTensor::TokenEmbd, c), Fill::Normal, 1.0f);
    for (uint32_t l = 0; l < c.n_layer; l++) {
        for (int i = 0; i < static_cast<int>(LayerTensor::Count); i++) {
            const auto id = static_cast<LayerTensor>(i);
            const bool bias_here = id == LayerTensor::ExpProbsB && !c.is_hash_layer(l);
            if (!is_required(id, c, l, false) && !bias_here) continue;
            TensorPlan p;
            p.name = tensor_name(id, l);
            p.dims = expected_dims(id, c, l, false);
            p.type = spec(id).ds4_types.front();
            if (id == LayerTensor::FfnGateExps || id == LayerTensor::FfnUpExps)
                p.type = q2 ? TensorType::IQ2_XXS : TensorType::Q4_K;
            if (id == LayerTensor::FfnDownExps) p.type = q2 ? TensorType::Q2_K : TensorType::Q4_K;
            plan_layer_tensor(id, c, &p);
            out.push_back(p);
        }
    }
    add(tensor_name(GlobalTensor::OutputHcBase), TensorType::F32, expected_dims(GlobalTensor::OutputHcBase, c), Fill::Normal, 0.5f);
    add(tensor_name(GlobalTensor::OutputHcFn), TensorType::F16, expected_dims(GlobalTensor::OutputHcFn, c), Fill::Normal, lin(c.hc_dim()));
    add(tensor_name(GlobalTensor::OutputHcScale), TensorType::F32, expected_dims(GlobalTensor::OutputHcScale, c), Fill::Uniform, 0.5f, 1.5f);
    add(tensor_name(GlobalTensor::OutputNorm), TensorType::F32, expected_dims(GlobalTensor::OutputNorm, c), Fill::Const, 1.0f);
    // Logit spread ~4: a peaked but not degenerate next-token distribution.
    add(tensor_name(GlobalTensor::Output), TensorType::Q8_0, expected_dims(GlobalTensor::Output, c), Fill::Normal, lin(c.n_embd, 4.0f));
    return out;
}

// The MTP companion file, as published: Q8_0 projections, F32 plain matrices, Q4_K experts.
std::vector<TensorPlan> plan_mtp(const ModelConfig &c) {
    std::vector<TensorPlan> out;
    for (int i = 0; i < static_cast<int>(MtpTensor::Count); i++) {
        const auto id = static_cast<MtpTensor>(i);
        TensorPlan p;
        p.name = tensor_name(id);
        p.dims = expected_dims(id, c);
        p.type = spec(id).ds4_types.back();
        switch (id) {
        case MtpTensor::EProj: case MtpTensor::HProj: p.fill = Fill::Normal; p.a = lin(c.n_embd); break;
        case MtpTensor::ENorm: case MtpTensor::HNorm: case MtpTensor::Norm: p.fill = Fill::Const; p.a = 1.0f; break;
        case MtpTensor::HcHeadBase: p.fill = Fill::Normal; p.a = 0.5f; break;
        case MtpTensor::HcHeadFn: p.fill = Fill::Normal; p.a = lin(c.hc_dim()); break;
        case MtpTensor::HcHeadScale: p.fill = Fill::Uniform; p.a = 0.5f; p.b = 1.5f; break;
        case MtpTensor::Count: break;
        }
        out.push_back(p);
    }
    for (int i = 0; i < static_cast<int>(LayerTensor::Count); i++) {
        const auto id = static_cast<LayerTensor>(i);
        if (!is_required(id, c, 0, true)) continue;
        TensorPlan p;
        p.name = mtp_block_tensor_name(id);
        p.dims = expected_dims(id, c, 0, true);
        p.type = ds4_types(id, true).back();
        if (id == LayerTensor::FfnGateExps || id == LayerTensor::FfnUpExps || id == LayerTensor::FfnDownExps)
            p.type = TensorType::Q4_K;
        plan_layer_tensor(id, c, &p);
        out.push_back(p);
    }
    return out;
}

// ---- random quant blocks ------------------------------------------------------------------

// Random valid K-quant / IQ2 blocks: random codes, per-block scales around `d` (+-50%), mins
// chosen to centre the weights.
void random_blocks(TensorType t, Rng &rng, float d, uint64_t n_blocks, uint8_t *out) {
    auto scale = [&](float base) {
        const uint16_t h = f32_to_f16(base * (0.5f + rng.uniform()));
        return h ? h : uint16_t{1};  // never a zero scale
    };
    auto bytes = [&](uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i += 8) {
            const uint64_t r = rng.next();
            std::memcpy(p + i, &r, std::min<size_t>(8, n - i));
        }
    };
    for (uint64_t b = 0; b < n_blocks; b++) {
        if (t == TensorType::Q2_K) {
            auto *blk = reinterpret_cast<quant::BlockQ2_K *>(out + b * sizeof(quant::BlockQ2_K));
            bytes(blk->scales, sizeof blk->scales);
            bytes(blk->qs, sizeof blk->qs);
            blk->d = scale(d);
            blk->dmin = scale(1.5f * d);  // E[(sc&15) q] = 11.25 = 1.5 E[sc>>4]
        } else if (t == TensorType::Q4_K) {
            auto *blk = reinterpret_cast<quant::BlockQ4_K *>(out + b * sizeof(quant::BlockQ4_K));
            bytes(blk->scales, sizeof blk->scales);
            bytes(blk->qs, sizeof blk->qs);
            blk->d = scale(d);
            blk->dmin = scale(7.5f * d);  // E[sc q] = 236.25 = 7.5 E[m]
        } else if (t == TensorType::IQ2_XXS) {
            auto *blk = reinterpret_cast<quant::BlockIQ2_XXS *>(out + b * sizeof(quant::BlockIQ2_XXS));
            bytes(reinterpret_cast<uint8_t *>(blk->qs), sizeof blk->qs);
            blk->d = scale(d);
        } else {
            fail("synth: no random block generator for %s", gguf::type_name(t).c_str());
        }
    }
}

// Standard deviation of weights decoded from random blocks with base scale 1.
float unit_std(TensorType t) {
    Rng rng(12345);
    const uint64_t n_blocks = 256;
    const gguf::TypeInfo *info = gguf::type_info(t);
    std::vector<uint8_t> raw(n_blocks * info->block_bytes);
    random_blocks(t, rng, 1.0f, n_blocks, raw.data());
    std::vector<float> v(n_blocks * info->block_elems);
    quant::dequantize_row(t, raw.data(), v.data(), v.size());
    double s = 0, s2 = 0;
    for (float x : v) {
        s += x;
        s2 += static_cast<double>(x) * x;
    }
    const double mean = s / static_cast<double>(v.size());
    return static_cast<float>(std::sqrt(s2 / static_cast<double>(v.size()) - mean * mean));
}

// ---- the data of one tensor, in independent chunks --------------------------------------------

// Default bytes of one chunk of a tensor: a few MB, so that even the largest tensors spread
// over all threads.
constexpr uint64_t kChunkBytes = 8u << 20;

// A run of whole rows of one tensor, generated on its own.
struct Chunk {
    size_t tensor = 0;        // index into the plan
    uint64_t row0 = 0, rows = 0;
    uint64_t first_draw = 0;  // random draws the tensor's generator made before this chunk
    uint64_t bytes = 0;
};

// What the chunks of one tensor share.
struct TensorRecipe {
    uint64_t seed = 0;        // the tensor's generator starts here
    uint64_t row_bytes = 0;
    uint64_t rows = 0;
    uint64_t rows_per_expert = 0;
    float unit = 1.0f;        // Experts: standard deviation of blocks made with base scale 1
};

float fill_value(const TensorPlan &p, Rng &rng) {
    switch (p.fill) {
    case Fill::Const: return p.a;
    case Fill::Uniform: return p.a + (p.b - p.a) * rng.uniform();
    case Fill::Normal: return rng.normal() * p.a;
    default: return 0.0f;
    }
}

// Random draws one unit of a tensor's data takes: one element for value fills, one block for
// Experts.  Measured on a scratch generator, so it always agrees with the code that draws.
uint64_t draws_per_unit(const TensorPlan &p) {
    Rng rng(0);
    const Rng start = rng;
    if (p.fill == Fill::Experts) {
        std::vector<uint8_t> block(gguf::type_info(p.type)->block_bytes);
        random_blocks(p.type, rng, 1.0f, 1, block.data());
    } else {
        fill_value(p, rng);
    }
    return rng.draws_since(start);
}

void encode_values(const TensorPlan &p, const float *f, uint64_t n, uint8_t *out) {
    switch (p.type) {
    case TensorType::F32: std::memcpy(out, f, n * 4); break;
    case TensorType::F16:
        for (uint64_t i = 0; i < n; i++) {
            const uint16_t h = f32_to_f16(f[i]);
            std::memcpy(out + 2 * i, &h, 2);
        }
        break;
    case TensorType::Q8_0: quant::quantize_row_q8_0(f, out, n); break;
    default: fail("synth: cannot encode %s values for '%s'", gguf::type_name(p.type).c_str(), p.name.c_str());
    }
}

// Hash routing: each token id gets k distinct experts.
void hash_table(const TensorPlan &p, const ModelConfig &c, Rng &rng, uint8_t *out) {
    const uint32_t k = static_cast<uint32_t>(p.dims[0]);
    const uint64_t vocab = p.dims[1];
    std::vector<int32_t> perm(c.n_expert), row(k);
    for (uint64_t t = 0; t < vocab; t++) {
        for (uint32_t e = 0; e < c.n_expert; e++) perm[e] = static_cast<int32_t>(e);
        for (uint32_t j = 0; j < k; j++) {
            const uint32_t pick = j + rng.below(c.n_expert - j);
            std::swap(perm[j], perm[pick]);
            row[j] = perm[j];
        }
        std::memcpy(out + t * k * sizeof(int32_t), row.data(), k * sizeof(int32_t));
    }
}

// Splits every tensor into chunks of whole rows (never straddling two experts: each has its
// own gain; the hash table is one chunk) and records where each chunk's draws start.
std::vector<Chunk> plan_chunks(const std::vector<TensorPlan> &plan, uint64_t seed, uint64_t chunk_bytes,
                               std::vector<TensorRecipe> *recipes) {
    std::vector<Chunk> chunks;
    recipes->assign(plan.size(), {});
    for (size_t ti = 0; ti < plan.size(); ti++) {
        const TensorPlan &p = plan[ti];
        TensorRecipe &r = (*recipes)[ti];
        r.seed = fnv1a(p.name, fnv1a(std::to_string(seed)));
        gguf::row_bytes(p.type, p.dims[0], &r.row_bytes);
        r.rows = 1;
        for (size_t i = 1; i < p.dims.size(); i++) r.rows *= p.dims[i];
        if (p.fill == Fill::HashTable) {
            chunks.push_back({ti, 0, r.rows, 0, r.rows * r.row_bytes});
            continue;
        }
        r.rows_per_expert = p.dims.size() > 2 ? p.dims[1] : r.rows;
        if (p.fill == Fill::Experts) r.unit = unit_std(p.type);
        const uint64_t unit_elems = p.fill == Fill::Experts ? gguf::type_info(p.type)->block_elems : 1;
        const uint64_t draws_per_row = p.dims[0] / unit_elems * draws_per_unit(p);
        const uint64_t chunk_rows = std::max<uint64_t>(1, chunk_bytes / r.row_bytes);
        for (uint64_t r0 = 0; r0 < r.rows;) {
            const uint64_t expert = r0 / r.rows_per_expert;
            const uint64_t end = std::min({r.rows, r0 + chunk_rows, (expert + 1) * r.rows_per_expert});
            chunks.push_back({ti, r0, end - r0, r0 * draws_per_row, (end - r0) * r.row_bytes});
            r0 = end;
        }
    }
    return chunks;
}

// Writes the bytes of one chunk to `out`.
void make_chunk(const TensorPlan &p, const TensorRecipe &r, const ModelConfig &c, const Chunk &ch, uint8_t *out) {
    Rng rng(r.seed);
    rng.skip(ch.first_draw);
    if (p.fill == Fill::HashTable) return hash_table(p, c, rng, out);
    const gguf::TypeInfo *info = gguf::type_info(p.type);
    const uint64_t elems = ch.rows * p.dims[0];
    if (p.fill == Fill::Experts) {
        const uint64_t expert = ch.row0 / r.rows_per_expert;
        const float g = expert_gain(expert);
        const float std = p.down ? p.a / (g * g) : p.a * g;
        random_blocks(p.type, rng, std / r.unit, elems / info->block_elems, out);
        return;
    }
    // Values in slices of whole blocks (rows are whole blocks, so a slice never splits one):
    // the floats stay in cache between drawing and encoding.
    constexpr uint64_t kSlice = 8192;
    static_assert(kSlice % 256 == 0, "slices hold whole blocks of every type");
    float f[kSlice];
    uint64_t bytes_per_slice = 0;
    gguf::row_bytes(p.type, kSlice, &bytes_per_slice);
    for (uint64_t e0 = 0, o = 0; e0 < elems; e0 += kSlice, o += bytes_per_slice) {
        const uint64_t n = std::min(kSlice, elems - e0);
        for (uint64_t i = 0; i < n; i++) f[i] = fill_value(p, rng);
        encode_values(p, f, n, out + o);
    }
}

// The data section of a file whose layout is already on disk (tensor data as holes), mapped
// writable: every thread fills its chunks in place, so no single thread copies all the bytes
// (one writer into tmpfs tops out near 1-2 GB/s; the full file is 87 GB).
class MappedData {
public:
    explicit MappedData(const std::string &path) : path_(path) {
        fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
        if (fd_ < 0) fail("cannot open '%s' for writing: %s", path.c_str(), std::strerror(errno));
        struct stat st;
        if (::fstat(fd_, &st) != 0) fail("cannot stat '%s': %s", path.c_str(), std::strerror(errno));
        size_ = static_cast<uint64_t>(st.st_size);
        void *p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
        if (p == MAP_FAILED) fail("cannot map '%s' for writing: %s", path.c_str(), std::strerror(errno));
        base_ = static_cast<uint8_t *>(p);
    }
    ~MappedData() {
        if (base_) ::munmap(base_, size_);
        if (fd_ >= 0) ::close(fd_);
    }
    MappedData(const MappedData &) = delete;
    MappedData &operator=(const MappedData &) = delete;

    uint8_t *at(uint64_t offset, uint64_t bytes) const {
        if (offset + bytes > size_)
            fail("synth: chunk at byte %llu overruns '%s'", static_cast<unsigned long long>(offset), path_.c_str());
        return base_ + offset;
    }
    // Writes the pages back and closes the file; errors (a full disk) are reported here.
    void finish() {
        if (::msync(base_, size_, MS_SYNC) != 0) fail("cannot write '%s': %s", path_.c_str(), std::strerror(errno));
        ::munmap(base_, size_);
        base_ = nullptr;
        const int rc = ::fsync(fd_);
        ::close(fd_);
        fd_ = -1;
        if (rc != 0) fail("cannot sync '%s': %s", path_.c_str(), std::strerror(errno));
    }

private:
    std::string path_;
    int fd_ = -1;
    uint8_t *base_ = nullptr;
    uint64_t size_ = 0;
};

// Runs work(i) for every i in [0, n) on `threads` threads (each takes the next index), and
// rethrows the first exception once all have stopped.
void run_parallel(size_t n, int threads, const std::function<void(size_t)> &work) {
    std::atomic<size_t> next{0};
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::exception_ptr error;
    auto worker = [&] {
        for (size_t i; !stop.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < n;) {
            try {
                work(i);
            } catch (...) {
                std::lock_guard<std::mutex> lock(mu);
                if (!error) error = std::current_exception();
                stop = true;
            }
        }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; t++) pool.emplace_back(worker);
    worker();  // the calling thread is one of them
    for (std::thread &t : pool) t.join();
    if (error) std::rethrow_exception(error);
}

// Removes a file unless dismissed (the half-made data of a failed synthesis).
class RemoveOnError {
public:
    explicit RemoveOnError(std::string path) : path_(std::move(path)) {}
    ~RemoveOnError() {
        if (!path_.empty()) ::unlink(path_.c_str());
    }
    void dismiss() { path_.clear(); }

private:
    std::string path_;
};

// ---- metadata --------------------------------------------------------------------------------

void add_metadata(gguf::Writer &w, const ModelConfig &c, const SynthOptions &opt, const tok::HfVocab &vocab) {
    const std::string preset = opt.preset == SynthPreset::Tiny ? "tiny" : "flash";
    const std::string name = "DeepSeek-V4-Flash SYNTHETIC random weights (" + preset + ", " +
                             std::to_string(c.n_layer) + " layers, " + opt.quant + ")";
    if (opt.mtp) {  // ds4 reads no metadata from the MTP file
        w.add_kv("general.architecture", gguf::Value::make_string("deepseek4"));
        w.add_kv("general.name", gguf::Value::make_string(name + " MTP"));
    } else {
        write_model_metadata(w, c, vocab, name);
    }
    w.add_kv("dstar.synthetic.generator", gguf::Value::make_string("dstar-gguf synth"));
    w.add_kv("dstar.synthetic.preset", gguf::Value::make_string(preset + "-" + opt.quant));
    w.add_kv("dstar.synthetic.seed", gguf::Value::make_u64(opt.seed));
}

}  // namespace

ModelConfig synth_config(const SynthOptions &opt) {
    ModelConfig c = ModelConfig::flash();
    if (opt.preset == SynthPreset::Tiny) {
        // The ds4-oracle tiny shape: every constraint of the real layout, a few MB.
        c.n_layer = 6;
        c.n_embd = 256;
        c.n_vocab = 4096;
        c.n_head = 4;
        c.head_dim = 192;
        c.q_lora = 96;
        c.n_out_group = 2;
        c.out_lora = 64;
        c.n_expert = 8;
        c.n_expert_used = 3;
        c.expert_ff = 512;
        c.window = 16;
        c.idx_head = 6;
        c.idx_top_k = 8;
    }
    const uint32_t hca = opt.preset == SynthPreset::Tiny ? 16 : flash::kRatioHca;
    if (opt.layers) c.n_layer = opt.layers;
    if (c.n_layer < 1 || c.n_layer > limits::kMaxLayers) fail("synth: --layers must be in 1..%u", limits::kMaxLayers);
    c.compress_ratio.clear();
    c.swiglu_clamp.clear();
    for (uint32_t l = 0; l < c.n_layer; l++) {
        c.compress_ratio.push_back(l < 2 ? 0 : (l % 2 == 0 ? flash::kRatioCsa : hca));
        c.swiglu_clamp.push_back(flash::kSwigluClamp);
    }
    c.n_hash_layer = std::min(c.n_hash_layer, c.n_layer);
    if (opt.quant != "q2" && opt.quant != "q4") fail("synth: --quant must be q2 or q4, not '%s'", opt.quant.c_str());
    c.validate();
    return c;
}

SynthResult write_synthetic(const std::string &path, const SynthOptions &opt, const SynthProgress &progress) {
    const ModelConfig c = synth_config(opt);
    const std::vector<TensorPlan> plan = opt.mtp ? plan_mtp(c) : plan_main(c, opt.quant);
    // The layout (metadata, directory, data as holes) goes to a side file first; the data is
    // then made in place and the file renamed, so `path` only ever names a complete file.
    const std::string layout_path = opt.sparse ? path : path + ".synth";
    RemoveOnError cleanup(opt.sparse ? std::string() : layout_path);
    gguf::Writer w(layout_path);
    if (!opt.mtp) add_metadata(w, c, opt, synth_vocab(opt.tokenizer_json, c.n_vocab));
    else add_metadata(w, c, opt, tok::HfVocab{});
    for (const TensorPlan &p : plan) w.add_tensor(p.name, p.type, p.dims);
    w.begin_data();
    std::vector<uint64_t> file_offset;  // of each tensor's data
    for (const auto &[name, bytes] : w.tensor_sizes()) {
        file_offset.push_back(w.file_size());
        w.skip_data(bytes);
    }
    w.finish();
    const uint64_t total = w.total_tensor_bytes();
    if (!opt.sparse) {
        std::vector<TensorRecipe> recipes;
        const uint64_t chunk_bytes = opt.chunk_bytes ? opt.chunk_bytes : kChunkBytes;
        const std::vector<Chunk> chunks = plan_chunks(plan, opt.seed, chunk_bytes, &recipes);
        MappedData data(layout_path);
        std::mutex progress_mu;
        uint64_t done = 0;
        run_parallel(chunks.size(), opt.threads > 0 ? opt.threads : ThreadPool::default_threads(), [&](size_t i) {
            const Chunk &ch = chunks[i];
            const TensorRecipe &r = recipes[ch.tensor];
            make_chunk(plan[ch.tensor], r, c, ch, data.at(file_offset[ch.tensor] + ch.row0 * r.row_bytes, ch.bytes));
            std::lock_guard<std::mutex> lock(progress_mu);
            done += ch.bytes;
            if (progress) progress(done, total);
        });
        data.finish();
        if (std::rename(layout_path.c_str(), path.c_str()) != 0)
            fail("cannot rename '%s' to '%s': %s", layout_path.c_str(), path.c_str(), std::strerror(errno));
        cleanup.dismiss();
    } else if (progress) {
        progress(total, total);
    }
    SynthResult r;
    r.tensor_bytes = total;
    r.n_tensors = plan.size();
    r.file_bytes = w.file_size();
    return r;
}

}  // namespace dstar::model

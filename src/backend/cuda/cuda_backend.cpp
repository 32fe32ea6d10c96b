// The CUDA backend: memory, weights and the plain ops (cuda_backend.h).
#include "backend/cuda/cuda_backend.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "backend/cuda/check.h"
#include "common/error.h"
#include "model/weights.h"
#include "quant/dequant.h"

namespace dstar::backend::cuda {

CudaBackend::CudaBackend(int device) {
    check(cudaSetDevice(device), "cudaSetDevice");
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    sm_count_ = prop.multiProcessorCount;
    name_ = strformat("cuda (%s, sm_%d%d, %d SMs, %.1f GiB)", prop.name, prop.major, prop.minor, prop.multiProcessorCount,
                      static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    for (cudaEvent_t &e : tokens_done_) check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
    check(cudaMalloc(reinterpret_cast<void **>(&iq2_grid_), 256 * sizeof(uint64_t)), "cudaMalloc (IQ2 grid)");
    check(cudaMemcpy(iq2_grid_, quant::kIq2xxsGrid, 256 * sizeof(uint64_t), cudaMemcpyHostToDevice),
          "cudaMemcpy (IQ2 grid)");
    check(cudaMalloc(reinterpret_cast<void **>(&hc_partial_), size_t{kHcFusedTokens} * kHcFusedPartials * sizeof(float)),
          "cudaMalloc (HC partials)");
    check(cudaMalloc(reinterpret_cast<void **>(&hc_counters_), kHcFusedTokens * sizeof(uint32_t)),
          "cudaMalloc (HC counters)");
    check(cudaMemset(hc_counters_, 0, kHcFusedTokens * sizeof(uint32_t)), "cudaMemset (HC counters)");
    {
        const std::vector<int32_t> sel(MatmulRunner::kMatvecTokens, 0);
        const std::vector<float> weight(MatmulRunner::kMatvecTokens, 1.0f);
        check(cudaMalloc(reinterpret_cast<void **>(&unit_sel_), sel.size() * sizeof(int32_t)), "cudaMalloc (unit)");
        check(cudaMalloc(reinterpret_cast<void **>(&unit_weight_), weight.size() * sizeof(float)), "cudaMalloc (unit)");
        check(cudaMemcpy(unit_sel_, sel.data(), sel.size() * sizeof(int32_t), cudaMemcpyHostToDevice), "cudaMemcpy (unit)");
        check(cudaMemcpy(unit_weight_, weight.data(), weight.size() * sizeof(float), cudaMemcpyHostToDevice),
              "cudaMemcpy (unit)");
    }
    mm_ = std::make_unique<MatmulRunner>(stream_, sm_count_);
    prof_ = std::make_unique<OpProfiler>(stream_);
    {
        // Side sections, unless turned off or the profiler times ops one by one on stream_.
        const char *v = std::getenv("DSTAR_CUDA_LANES");
        lanes_ = !(v && std::strcmp(v, "0") == 0) && !prof_->on();
        check(cudaStreamCreateWithFlags(&side_stream_, cudaStreamNonBlocking), "cudaStreamCreate (side)");
        check(cudaEventCreateWithFlags(&side_fork_, cudaEventDisableTiming), "cudaEventCreate (side)");
        check(cudaEventCreateWithFlags(&side_done_, cudaEventDisableTiming), "cudaEventCreate (side)");
        mm_side_ = std::make_unique<MatmulRunner>(side_stream_, sm_count_);
    }
    step_ = std::make_unique<StepParams>(stream_);
    // The per-op profiler times ops one by one: nothing is recorded while it is on.
    graphs_ = std::make_unique<StepGraphs>(stream_, !prof_->on());
}

CudaBackend::~CudaBackend() {
    cudaStreamSynchronize(stream_);
    if (prof_->on()) std::fprintf(stderr, "%s", prof_->report().c_str());
    graphs_.reset();
    step_.reset();
    prof_.reset();
    uploader_.reset();
    mm_.reset();
    mm_side_.reset();
    cudaStreamSynchronize(side_stream_);
    cudaEventDestroy(side_fork_);
    cudaEventDestroy(side_done_);
    cudaStreamDestroy(side_stream_);
    for (auto &kv : owned_) cudaFree(kv.first);
    for (void *p : weights_) cudaFree(p);
    if (tokens_dev_) cudaFree(tokens_dev_);
    for (int32_t *h : tokens_host_)
        if (h) cudaFreeHost(h);
    cudaFree(iq2_grid_);
    cudaFree(hc_partial_);
    cudaFree(hc_counters_);
    cudaFree(unit_sel_);
    cudaFree(unit_weight_);
    for (cudaEvent_t e : tokens_done_) cudaEventDestroy(e);
    cudaStreamDestroy(stream_);
}

std::string CudaBackend::name() const {
    return strformat("%s; %.2f GB of weights on the GPU", name_.c_str(), static_cast<double>(weight_bytes_) / 1e9);
}

// ---- memory ----

void *CudaBackend::alloc_bytes(size_t bytes) {
    void *p = nullptr;
    check(cudaMalloc(&p, bytes ? bytes : 4), "cudaMalloc");
    check(cudaMemsetAsync(p, 0, bytes ? bytes : 4, stream_), "cudaMemsetAsync");
    std::lock_guard<std::mutex> lock(mu_);
    owned_[p] = bytes;
    return p;
}

void CudaBackend::release(void *p) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = owned_.find(p);
    if (it == owned_.end()) return;
    check(cudaStreamSynchronize(stream_), "release");  // queued kernels may still use it
    bump_memory_generation();                         // and recorded ones may point at it
    mm_->forget();
    check(cudaFree(p), "cudaFree");
    owned_.erase(it);
}

void CudaBackend::upload(float *dst, const float *src, size_t n) {
    mm_->forget();
    if (n == 0) return;
    check(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync (upload)");
    check(cudaStreamSynchronize(stream_), "upload");
}

void CudaBackend::download(float *dst, const float *src, size_t n) {
    if (n == 0) return;
    check(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync (download)");
    check(cudaStreamSynchronize(stream_), "download");
    if (prof_->on()) prof_->resolve();
}

void CudaBackend::fill(float *dst, float value, size_t n) {
    mm_->forget();
    launch_fill(dst, value, n, stream_);
}

void CudaBackend::copy(float *dst, const float *src, size_t n) {
    main_lane("copy");  // copy_tmp_
    mm_->forget();
    if (n == 0 || dst == src) return;
    const size_t bytes = n * sizeof(float);
    const bool overlap = dst < src + n && src < dst + n;
    if (!overlap) {
        check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), "cudaMemcpyAsync (copy)");
        return;
    }
    // memmove semantics through a temporary.
    float *tmp = copy_tmp_.get<float>(n);
    check(cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDeviceToDevice, stream_), "cudaMemcpyAsync (copy)");
    check(cudaMemcpyAsync(dst, tmp, bytes, cudaMemcpyDeviceToDevice, stream_), "cudaMemcpyAsync (copy)");
}

Weight CudaBackend::bind(const model::WeightTensor &t, bool as_f32_vector) {
    Weight w = describe_weight(t);
    if (as_f32_vector) {
        // Small vectors are read elementwise by kernels: keep an f32 copy.
        const std::vector<float> v = model::vector_values(t);
        float *p = alloc(v.size());
        upload(p, v.data(), v.size());
        w.type = gguf::TensorType::F32;
        w.row_bytes = w.ne0 * sizeof(float);
        w.data = p;
        return w;
    }
    const WType wt = weight_type(t.type, t.name);
    const uint32_t elems = block_geom(wt).elems;
    if (w.ne0 % elems != 0)
        fail("tensor '%s': rows of %llu elements are not whole %s blocks", t.name.c_str(),
             static_cast<unsigned long long>(w.ne0), gguf::type_name(t.type).c_str());
    if (w.ne0 > UINT32_MAX) fail("tensor '%s': rows are too long for the CUDA kernels", t.name.c_str());
    const uint64_t rows = w.ne1 * w.ne2;
    const uint64_t bytes = device_bytes(wt, w.ne0, rows);
    void *dst = nullptr;
    check(cudaMalloc(&dst, bytes ? bytes : 256), ("cudaMalloc (weight " + t.name + ")").c_str());
    weights_.push_back(dst);
    weight_bytes_ += bytes;
    if (!uploader_) uploader_ = std::make_unique<WeightUploader>(stream_);
    uploader_->upload(wt, t.data, w.ne0, rows, static_cast<uint8_t *>(dst));
    w.data = dst;
    return w;
}

// ---- plain ops ----
// Every op but the products (which only write their output) drops the prepared
// activations first: it may rewrite a product's input (dispatch.h, MatmulRunner::forget).

void CudaBackend::embed(const Weight &te, const int32_t *tokens, uint32_t n, uint32_t n_hc, float *x_hc) {
    OpScope scope(*prof_, "embed");
    main_lane("embed");
    mm_->forget();
    for (uint32_t t = 0; t < n; t++)
        if (tokens[t] < 0 || static_cast<uint64_t>(tokens[t]) >= te.ne1)
            fail("token id %d is outside the vocabulary (0..%llu)", tokens[t],
                 static_cast<unsigned long long>(te.ne1 - 1));
    launch_embed(dev(te), op_tokens(tokens, n), n, n_hc, x_hc, stream_);
}

void CudaBackend::rms_norm(float *out, const float *x, const Weight *w, uint32_t rows, uint32_t dim, float eps) {
    OpScope scope(*prof_, "rms_norm");
    mm_->forget();
    const float *wf = w ? f32(*w) : nullptr;
    // Decode rows: the Q8_0 codes too (the low-rank query's norm feeds Q8_0 products).
    if (producer_q8_enabled() && rows <= MatmulRunner::kMatvecTokens && rms_norm_q8_supported(x, out, wf, dim)) {
        const MatmulRunner::Q8Out a = mm_->produce_q8_0(out, dim, rows);
        launch_rms_norm(out, x, wf, rows, dim, eps, stream_, a.q, a.d);
        return;
    }
    launch_rms_norm(out, x, wf, rows, dim, eps, stream_);
}

void CudaBackend::matmul(float *out, const Weight &w, const float *x, uint32_t n) {
    OpScope scope(*prof_, "matmul");
    mm_->matmul(dev(w), x, w.ne0, n, out, w.ne1 * w.ne2);
}

void CudaBackend::matmul_grouped(float *out, const Weight &w, const float *x, uint32_t n, uint32_t groups,
                                 uint32_t rank) {
    OpScope scope(*prof_, "matmul_grouped");
    mm_->matmul_grouped(dev(w), x, n, groups, rank, out);
}

void CudaBackend::hc_pre(const HcWeights &hc, const float *x_hc, uint32_t n, uint32_t n_hc, uint32_t embd,
                         uint32_t iters, float rms_eps, float hc_eps, float *out, float *post, float *comb) {
    OpScope scope(*prof_, "hc_pre");
    main_lane("hc_pre");
    mm_->forget();
    if (n_hc == 0 || n_hc > 16) fail("CUDA hyper-connections support 1..16 streams (got %u)", n_hc);
    const uint64_t hc_dim = uint64_t{n_hc} * embd;
    const uint32_t n_mix = 2 * n_hc + n_hc * n_hc;
    if (hc.fn.ne0 != hc_dim || hc.fn.ne1 * hc.fn.ne2 != n_mix)
        fail("tensor '%s': expected [%llu, %u] for %u hyper-connection streams", hc.fn.name.c_str(),
             static_cast<unsigned long long>(hc_dim), n_mix, n_hc);
    const DevWeight fn = dev(hc.fn);
    float *mix = hc_mix_.get<float>(uint64_t{n} * n_mix);
    if (hc_mix_supported(fn, x_hc)) {
        // Norm and mix product of the whole batch in one pass over x (hc_mix.cu); hc_flat_
        // holds its per-slice partial sums.
        launch_hc_mix(fn, x_hc, n, rms_eps, hc_flat_.get<float>(hc_mix_partial_floats(fn, n)), mix, stream_);
    } else {
        float *flat = hc_flat_.get<float>(n * hc_dim);
        launch_rms_norm(flat, x_hc, nullptr, n, static_cast<uint32_t>(hc_dim), rms_eps, stream_);
        mm_->matmul(fn, flat, hc_dim, n, mix, n_mix);
    }
    launch_hc_split_sum(mix, f32(hc.scale), f32(hc.base), x_hc, n, n_hc, embd, iters, hc_eps, out, post, comb, stream_);
}

void CudaBackend::hc_post(float *out_hc, const float *y, const float *res_hc, const float *post, const float *comb,
                          uint32_t n, uint32_t n_hc, uint32_t embd) {
    OpScope scope(*prof_, "hc_post");
    main_lane("hc_post");
    mm_->forget();
    launch_hc_post(out_hc, y, res_hc, post, comb, n, n_hc, embd, stream_);
}

void CudaBackend::hc_head(const Weight &fn, const Weight &scale, const Weight &base, const float *x_hc, uint32_t n,
                          uint32_t n_hc, uint32_t embd, float rms_eps, float hc_eps, float *out) {
    OpScope scope(*prof_, "hc_head");
    main_lane("hc_head");
    mm_->forget();
    if (n_hc == 0 || n_hc > 16) fail("CUDA hyper-connections support 1..16 streams (got %u)", n_hc);
    const uint64_t hc_dim = uint64_t{n_hc} * embd;
    if (fn.ne0 != hc_dim || fn.ne1 * fn.ne2 != n_hc)
        fail("tensor '%s': expected [%llu, %u] for the output head", fn.name.c_str(),
             static_cast<unsigned long long>(hc_dim), n_hc);
    const DevWeight fw = dev(fn);
    float *mix = hc_mix_.get<float>(uint64_t{n} * n_hc);
    if (hc_mix_supported(fw, x_hc)) {
        launch_hc_mix(fw, x_hc, n, rms_eps, hc_flat_.get<float>(hc_mix_partial_floats(fw, n)), mix, stream_);
    } else {
        float *flat = hc_flat_.get<float>(n * hc_dim);
        launch_rms_norm(flat, x_hc, nullptr, n, static_cast<uint32_t>(hc_dim), rms_eps, stream_);
        mm_->matmul(fw, flat, hc_dim, n, mix, n_hc);
    }
    launch_hc_head_sum(mix, f32(scale), f32(base), x_hc, n, n_hc, embd, hc_eps, out, stream_);
}

void CudaBackend::rope(float *x, uint32_t n, uint32_t stride, uint32_t n_head, uint32_t head_dim,
                       const model::RopeParams &p, uint32_t pos0, bool inverse) {
    OpScope scope(*prof_, "rope");
    mm_->forget();
    if (p.n_rot > head_dim) fail("RoPE: %u rotated dims exceed the head size %u", p.n_rot, head_dim);
    const RopeTable table = rope_table(p);
    // Decode's inverse rotation of the attention output: its Q8_0 codes for the grouped
    // output product in the same launch (DSTAR_CUDA_ROPE_Q8=0: a quantize launch of its own).
    if (inverse && cuda_switch("DSTAR_CUDA_ROPE_Q8") && producer_q8_enabled() && n <= MatmulRunner::kMatvecTokens &&
        rope_q8_supported(x, stride, n_head, head_dim, table)) {
        const MatmulRunner::Q8Out a = mm_->produce_q8_0(x, stride, n);
        launch_rope_q8(x, n, n_head, head_dim, table, step_->pos(pos0), inverse, a.q, a.d, stream_);
        return;
    }
    launch_rope(x, n, stride, n_head, head_dim, table, step_->pos(pos0), inverse, stream_);
}

void CudaBackend::fp8_kv_round(float *x, uint32_t rows, uint32_t head_dim, uint32_t n_rot) {
    OpScope scope(*prof_, "fp8_kv_round");
    mm_->forget();
    if (n_rot > head_dim || (head_dim - n_rot) % 64 != 0)
        fail("FP8 KV rounding needs whole 64-value blocks before the rotated dims (head %u, rotated %u)", head_dim,
             n_rot);
    launch_fp8_kv_round(x, rows, head_dim, head_dim - n_rot, stream_);
}

void CudaBackend::indexer_qat(float *x, uint32_t rows, uint32_t dim) {
    OpScope scope(*prof_, "indexer_qat");
    mm_->forget();
    if (dim != 128) fail("indexer QAT needs 128-value rows (got %u)", dim);
    launch_indexer_qat(x, rows, stream_);
}

void CudaBackend::scale(float *x, float s, size_t n) {
    OpScope scope(*prof_, "scale");
    mm_->forget();
    launch_scale(x, s, n, stream_);
}

void CudaBackend::add(float *out, const float *a, const float *b, size_t n) {
    OpScope scope(*prof_, "add");
    mm_->forget();
    launch_add(out, a, b, n, stream_);
}

void CudaBackend::swiglu(float *out, const float *g, const float *u, size_t n, float clamp) {
    OpScope scope(*prof_, "swiglu");
    mm_->forget();
    launch_swiglu(out, g, u, n, clamp, stream_);
}

void CudaBackend::attention(LayerState &st, const AttentionWeights &w, const AttentionBatch &b, const Numerics &num) {
    OpScope scope(*prof_, "attention");
    main_lane("attention");
    mm_->forget();
    run_attention(stream_, sm_count_, attn_, st, w, b, num, step_->pos(b.pos0), step_->active());
}

void CudaBackend::route(const float *logits, const Weight *bias, const Weight *tid2eid, const int32_t *tokens,
                        uint32_t n, uint32_t n_expert, uint32_t k, float weights_scale, int32_t *sel, float *weights) {
    OpScope scope(*prof_, "route");
    main_lane("route");
    // It writes only sel and weights: prepared inputs elsewhere stay (the FFN norm's codes,
    // read again by the shared expert).
    mm_->forget_overlap(sel, uint64_t{n} * k * sizeof(int32_t));
    mm_->forget_overlap(weights, uint64_t{n} * k * sizeof(float));
    if (k == 0 || k > 16 || k > n_expert) fail("router: cannot select %u of %u experts", k, n_expert);
    const int32_t *table = nullptr, *dtok = nullptr;
    if (tid2eid && tid2eid->present()) {
        for (uint32_t t = 0; t < n; t++)
            if (tokens[t] < 0 || static_cast<uint64_t>(tokens[t]) >= tid2eid->ne1)
                fail("token id %d is outside the hash routing table", tokens[t]);
        if (tid2eid->ne0 != k)
            fail("tensor '%s': %llu experts per token, expected %u", tid2eid->name.c_str(),
                 static_cast<unsigned long long>(tid2eid->ne0), k);
        table = static_cast<const int32_t *>(tid2eid->data);
        dtok = op_tokens(tokens, n);
    }
    const float *b = bias && bias->present() ? f32(*bias) : nullptr;
    launch_route(logits, b, table, dtok, n, n_expert, k, weights_scale, sel, weights, stream_);
}

void CudaBackend::moe(float *out, const Weight &gate, const Weight &up, const Weight &down, const float *x,
                      const int32_t *sel, const float *weights, uint32_t n, uint32_t k, float clamp) {
    OpScope scope(*prof_, "moe");
    main_lane("moe");
    // It writes only `out` (n rows of the down projection's outputs) and its own buffers.
    mm_->forget_overlap(out, uint64_t{n} * down.ne1 * sizeof(float));
    run_moe(stream_, moe_, dev(gate), dev(up), dev(down), x, sel, weights, n, k, clamp, out);
}

void CudaBackend::sync() {
    check(cudaStreamSynchronize(stream_), "sync");
    if (prof_->on()) prof_->resolve();
}

// ---- token ids ----

const int32_t *CudaBackend::op_tokens(const int32_t *tokens, uint32_t n) {
    return step_->active() ? step_->token(tokens, n) : device_tokens(tokens, n);
}

// The forward pass hands the same ids to the embedding and every hash-routed layer: they are
// copied once.  The copies go through a ring of pinned slots, so the host waits only for a
// copy several uploads old (the device buffer itself is rewritten in stream order, after the
// kernels that read it).
const int32_t *CudaBackend::device_tokens(const int32_t *tokens, uint32_t n) {
    if (n == 0) return tokens_dev_;
    if (n == tokens_n_ && std::memcmp(tokens, tokens_last_.data(), n * sizeof(int32_t)) == 0) return tokens_dev_;
    if (n > tokens_cap_) {
        check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (tokens)");
        if (tokens_dev_) check(cudaFree(tokens_dev_), "cudaFree (tokens)");
        for (int32_t *&h : tokens_host_)
            if (h) check(cudaFreeHost(h), "cudaFreeHost (tokens)");
        tokens_cap_ = n + n / 2 + 64;
        check(cudaMalloc(reinterpret_cast<void **>(&tokens_dev_), tokens_cap_ * sizeof(int32_t)), "cudaMalloc (tokens)");
        for (int32_t *&h : tokens_host_)
            check(cudaMallocHost(reinterpret_cast<void **>(&h), tokens_cap_ * sizeof(int32_t)), "cudaMallocHost (tokens)");
    }
    const size_t slot = tokens_slot_++ % kTokenSlots;
    check(cudaEventSynchronize(tokens_done_[slot]), "cudaEventSynchronize (tokens)");  // the slot's last copy
    std::memcpy(tokens_host_[slot], tokens, n * sizeof(int32_t));
    check(cudaMemcpyAsync(tokens_dev_, tokens_host_[slot], n * sizeof(int32_t), cudaMemcpyHostToDevice, stream_),
          "cudaMemcpyAsync (tokens)");
    check(cudaEventRecord(tokens_done_[slot], stream_), "cudaEventRecord (tokens)");
    tokens_last_.assign(tokens, tokens + n);
    tokens_n_ = n;
    return tokens_dev_;
}

}  // namespace dstar::backend::cuda

namespace dstar::backend {

int cuda_device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // clear the error: no driver or no device is not a failure here
        return 0;
    }
    return n;
}

std::unique_ptr<Backend> make_cuda_backend(int device) {
    const int n = cuda_device_count();
    if (n == 0) fail("no CUDA device is available (no NVIDIA driver or GPU found); use the CPU backend (--cpu)");
    if (device < 0 || device >= n) fail("CUDA device %d does not exist (this machine has %d)", device, n);
    return std::make_unique<cuda::CudaBackend>(device);
}

}  // namespace dstar::backend

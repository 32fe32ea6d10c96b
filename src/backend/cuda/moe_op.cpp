// Routed experts on the GPU (model.md §3.6 step 5).  Up to 8 tokens (decode), or experts
// without an int8 kernel: every (token, expert) pair reads its expert's rows directly
// (moe_experts.cu).  Larger batches (prefill): pairs are grouped by expert on the device
// and each expert's tokens go through one batched int8 product per projection, so an
// expert's weights are read once per tile of 64 of its tokens instead of once per token.
#include <algorithm>

#include "backend/cuda/ops.h"
#include "common/error.h"

namespace dstar::backend::cuda {

// Most tokens of one expert-grouped sub-batch (see run_moe).
constexpr uint32_t kMoeGroupTokens = 4096;

void run_moe(cudaStream_t stream, MoeScratch &s, const DevWeight &gate, const DevWeight &up, const DevWeight &down,
             const float *x, const int32_t *sel, const float *weights, uint32_t n, uint32_t k, float clamp,
             float *out) {
    if (n == 0 || k == 0) return;
    const uint64_t ff = gate.rows_per_expert, d_in = gate.k, d_out = down.rows_per_expert;
    if (ff == 0 || d_out == 0) fail("routed expert tensors are empty");
    const uint64_t n_expert = gate.rows / ff;
    if (down.k != ff || up.k != d_in || up.rows_per_expert != ff || up.rows != gate.rows ||
        down.rows / d_out != n_expert || up.type != gate.type)
        fail("routed expert tensors do not share one layout");
    const bool grouped = n > 8 && is_quantized(gate.type) && is_quantized(down.type);
    if (!grouped) {
        // Pairs per launch are limited by the grid's second dimension.
        const uint32_t per = std::max<uint32_t>(1, 65535 / k);
        for (uint32_t t0 = 0; t0 < n; t0 += per) {
            const uint32_t nc = std::min(per, n - t0);
            const DevAct xa = s.x_act.prepare(gate.type, x + uint64_t{t0} * d_in, d_in, static_cast<uint32_t>(d_in), nc, stream);
            float *mid = s.mid.get<float>(uint64_t{nc} * k * ff);
            launch_moe_gate_up(gate, up, xa, sel + uint64_t{t0} * k, weights + uint64_t{t0} * k, nc, k, clamp, mid, stream);
            if (moe_down_f32_supported(down, k, mid)) {
                // Q2_K down quantizes the SwiGLU output itself.
                launch_moe_down_f32(down, mid, sel + uint64_t{t0} * k, nc, k, out + uint64_t{t0} * d_out, d_out,
                                    stream);
            } else {
                const DevAct ma = s.mid_act.prepare(down.type, mid, ff, static_cast<uint32_t>(ff), nc * k, stream);
                launch_moe_down(down, ma, sel + uint64_t{t0} * k, nc, k, out + uint64_t{t0} * d_out, d_out, stream);
            }
        }
        return;
    }
    // Grouped by expert, in sub-batches of up to kMoeGroupTokens tokens: every sub-batch
    // streams all 256 experts' weights once per token tile, so the bigger the sub-batch, the
    // fuller the tiles (a 4,096-token sub-batch gives each expert ~96 tokens; the former
    // 512-token sub-batches gave ~12 in tiles of 64 and read the weights 8 times per chunk).
    // The cap bounds the scratch: gate, up and SwiGLU outputs (pairs x ff floats each) and
    // the per-pair down outputs (pairs x d_out floats), ~1 GB at 4,096 tokens of the model.
    const uint32_t per = std::max<uint32_t>(1, std::min<uint32_t>(kMoeGroupTokens, 65535u * kGemmTileTokens / (2 * k)));
    for (uint32_t t0 = 0; t0 < n; t0 += per) {
        const uint32_t ns = std::min(per, n - t0), np = ns * k;
        const uint32_t max_tiles = np / kGemmTileTokens + 1 + static_cast<uint32_t>(n_expert);
        const int32_t *sel_s = sel + uint64_t{t0} * k;
        const DevAct xa = s.x_act.prepare(gate.type, x + uint64_t{t0} * d_in, d_in, static_cast<uint32_t>(d_in), ns, stream);
        int32_t *pairs = s.pairs.get<int32_t>(np);
        int32_t *tiles = s.tiles.get<int32_t>(3 * uint64_t{max_tiles} + 1);
        GemmTokens tok;
        tok.n = max_tiles;
        tok.tile_expert = tiles;
        tok.tile_begin = tiles + max_tiles;
        tok.tile_count = tiles + 2 * max_tiles;
        tok.n_tiles = tiles + 3 * max_tiles;
        tok.pairs = pairs;
        tok.act_div = k;
        launch_moe_group(sel_s, ns, k, static_cast<uint32_t>(n_expert), pairs, tiles, tiles + max_tiles,
                         tiles + 2 * max_tiles, tiles + 3 * max_tiles, stream);
        float *g = s.g.get<float>(uint64_t{np} * ff);
        float *u = s.u.get<float>(uint64_t{np} * ff);
        launch_mmq(gate, xa, tok, g, ff, stream);
        launch_mmq(up, xa, tok, u, ff, stream);
        float *mid = s.mid.get<float>(uint64_t{np} * ff);
        launch_moe_swiglu(g, u, sel_s, weights + uint64_t{t0} * k, np, static_cast<uint32_t>(ff),
                          static_cast<uint32_t>(n_expert), clamp, mid, stream);
        const DevAct ma = s.mid_act.prepare(down.type, mid, ff, static_cast<uint32_t>(ff), np, stream);
        tok.act_div = 1;
        float *part = s.part.get<float>(uint64_t{np} * d_out);
        launch_mmq(down, ma, tok, part, d_out, stream);
        launch_moe_reduce(part, sel_s, ns, k, static_cast<uint32_t>(d_out), static_cast<uint32_t>(n_expert),
                          out + uint64_t{t0} * d_out, stream);
    }
}

}  // namespace dstar::backend::cuda

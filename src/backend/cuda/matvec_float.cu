// Decode matrix-vector products for float weights (F32 in double, F16/BF16 in f32) on f32
// activations.  16-byte loads when the row length and alignment allow, else one element
// per lane.
#include <cstdint>

#include "backend/cuda/matvec.cuh"
#include "common/error.h"

namespace dstar::backend::cuda {

namespace {

bool aligned16(const void *p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace

void launch_matvec_float(const MatvecArgs &a, cudaStream_t stream) {
    const uint32_t per16 = a.w.type == WType::F32 ? 4 : 8;  // elements in 16 bytes
    bool vec = a.w.k % per16 == 0 && a.w.main_row % 16 == 0 && aligned16(a.w.main) && a.act.stride % 4 == 0 &&
                     a.group_offset % 4 == 0 && aligned16(a.act.x);
    for (uint32_t s = 0; s < a.n_seg; s++) vec = vec && aligned16(a.seg[s].main);
    switch (a.w.type) {
    case WType::F32:
        if (vec) launch_matvec_typed<Dot<WType::F32, true>, true>(a, stream);
        else launch_matvec_typed<Dot<WType::F32, false>, false>(a, stream);
        break;
    case WType::F16:
        if (vec) launch_matvec_typed<Dot<WType::F16, true>, true>(a, stream);
        else launch_matvec_typed<Dot<WType::F16, false>, false>(a, stream);
        break;
    case WType::BF16:
        if (vec) launch_matvec_typed<Dot<WType::BF16, true>, true>(a, stream);
        else launch_matvec_typed<Dot<WType::BF16, false>, false>(a, stream);
        break;
    default: fail("matvec_float: weight type %d is not a float type", static_cast<int>(a.w.type));
    }
}

}  // namespace dstar::backend::cuda

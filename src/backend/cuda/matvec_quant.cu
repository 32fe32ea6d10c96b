// Decode matrix-vector products for quantized weights (Q8_0, Q2_K, Q4_K, IQ2_XXS) on
// int8 activations quantized the CPU reference's way (act_quant.cu).
#include "backend/cuda/matvec.cuh"
#include "common/error.h"

namespace dstar::backend::cuda {

void launch_matvec_quant(const MatvecArgs &a, cudaStream_t stream) {
    switch (a.w.type) {
    case WType::Q8_0: launch_matvec_typed<Dot<WType::Q8_0, true>, true>(a, stream); break;
    case WType::Q2_K: launch_matvec_typed<Dot<WType::Q2_K, true>, true>(a, stream); break;
    case WType::Q4_K: launch_matvec_typed<Dot<WType::Q4_K, true>, true>(a, stream); break;
    case WType::IQ2_XXS: launch_matvec_typed<Dot<WType::IQ2_XXS, true>, true>(a, stream); break;
    default: fail("matvec_quant: weight type %d is not a quantized type", static_cast<int>(a.w.type));
    }
}

}  // namespace dstar::backend::cuda

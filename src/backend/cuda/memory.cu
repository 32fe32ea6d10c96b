// Device memory helpers: fill, and the repacking of quantized weight blocks from the file
// layout into the device layout (kernels.h, BlockGeom) at bind time.
#include "backend/cuda/check.h"
#include "backend/cuda/device.cuh"
#include "backend/cuda/kernels.h"

namespace dstar::backend::cuda {

namespace {

__global__ void fill_kernel(float *dst, float value, size_t n) {
    for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x)
        dst[i] = value;
}

// One thread per block: bytes are moved one by one (file blocks are not aligned).
template <WType T>
__global__ void repack_kernel(const uint8_t *src, uint64_t blocks, uint8_t *main, uint8_t *side) {
    constexpr BlockGeom g = block_geom(T);
    for (uint64_t b = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; b < blocks;
         b += uint64_t{gridDim.x} * blockDim.x) {
        const uint8_t *in = src + b * g.file_bytes;
        uint8_t *m = main + b * g.main_bytes;
        uint8_t *s = side + b * g.side_bytes;
        if constexpr (T == WType::Q8_0) {  // file: d[2] qs[32]
            s[0] = in[0];
            s[1] = in[1];
            for (int i = 0; i < 32; i++) m[i] = in[2 + i];
        } else if constexpr (T == WType::Q2_K) {  // file: scales[16] qs[64] d[2] dmin[2]
            for (int i = 0; i < 64; i++) m[i] = in[16 + i];
            for (int i = 0; i < 16; i++) m[64 + i] = in[i];
            for (int i = 0; i < 4; i++) s[i] = in[80 + i];
        } else if constexpr (T == WType::IQ2_XXS) {  // file: d[2] qs[64]
            s[0] = in[0];
            s[1] = in[1];
            for (int i = 0; i < 64; i++) m[i] = in[2 + i];
        }
    }
}

}  // namespace

void launch_fill(float *dst, float value, size_t n, cudaStream_t stream) {
    if (n == 0) return;
    const unsigned blocks = grid_for(n, 256) < 4096 ? grid_for(n, 256) : 4096;
    fill_kernel<<<blocks, 256, 0, stream>>>(dst, value, n);
    check_launch("fill", stream);
}

void launch_repack(WType t, const uint8_t *file_blocks, uint64_t blocks, uint8_t *main, uint8_t *side,
                   cudaStream_t stream) {
    if (blocks == 0) return;
    const unsigned grid = grid_for(blocks, 256) < 8192 ? grid_for(blocks, 256) : 8192;
    switch (t) {
    case WType::Q8_0: repack_kernel<WType::Q8_0><<<grid, 256, 0, stream>>>(file_blocks, blocks, main, side); break;
    case WType::Q2_K: repack_kernel<WType::Q2_K><<<grid, 256, 0, stream>>>(file_blocks, blocks, main, side); break;
    case WType::IQ2_XXS:
        repack_kernel<WType::IQ2_XXS><<<grid, 256, 0, stream>>>(file_blocks, blocks, main, side);
        break;
    default: return;  // other types keep the file layout (copied directly)
    }
    check_launch("repack", stream);
}

}  // namespace dstar::backend::cuda

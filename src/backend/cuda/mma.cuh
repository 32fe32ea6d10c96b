// Warp-level tensor-core instructions (mma.sync, sm_80 and later) used by the batched
// products.  Fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k*"), with
// g = lane / 4 and t = lane % 4:
//   int8  m16n8k32: a0 (row g, k 4t..4t+3), a1 (row g+8, same k), a2 (row g, k 16+4t..),
//                   a3 (row g+8, k 16+4t..); b0 (k 4t.., col g), b1 (k 16+4t.., col g)
//   int8  m16n8k16: a0 (row g, k 4t..), a1 (row g+8, k 4t..); b0 (k 4t.., col g)
//   half  m16n8k16: a0 (row g, k 2t,2t+1), a1 (row g+8), a2 (row g, k 2t+8..), a3 (row g+8,
//                   k 2t+8..); b0 (k 2t,2t+1, col g), b1 (k 2t+8.., col g)
//   accumulators:   c0, c1 (row g, col 2t, 2t+1), c2, c3 (row g+8, same cols)
#pragma once

#include <cstdint>

namespace dstar::backend::cuda {

__device__ __forceinline__ void mma_s8_k32(int (&c)[4], const int (&a)[4], const int (&b)[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ void mma_s8_k16(int (&c)[4], const int (&a)[2], int b) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};\n"
        : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(b));
}

// Four 8 x 8 matrices of 16-bit elements (8 rows of 16 bytes each) from shared memory:
// lanes 8m..8m+7 give the row addresses of matrix m (16-byte aligned); register m of lane l
// receives bytes 4(l%4)..4(l%4)+3 of row l/4 of matrix m, i.e. an int8 fragment register.
__device__ __forceinline__ void ldmatrix_x4(int (&r)[4], const void *smem_row) {
    const auto addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem_row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

__device__ __forceinline__ void mma_f16_k16(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ void mma_bf16_k16(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

}  // namespace dstar::backend::cuda

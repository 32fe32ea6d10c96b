// DSTAR_HD marks the math the CPU reference and the CUDA kernels share (backend/shared/):
// __host__ __device__ when nvcc compiles the including file, a plain inline function for the
// host compiler.  Such functions use only float functions that exist on both sides (expf,
// ldexpf, fabsf, ...) and fix the exact sequence of float operations; the CUDA backend is
// built without FMA contraction (--fmad=false) and the CPU with -ffp-contract=off, so both
// evaluate the same expressions.  Where a library function's rounding matters for a result
// (the ceiling of a log2), the header says how each side computes it.
#pragma once

#if defined(__CUDACC__)
#define DSTAR_HD __host__ __device__ __forceinline__
#else
#define DSTAR_HD inline
#endif

// Kernel launches with programmatic dependent launch (PDL, Hopper and later).
//
// A decode step is ~40 small dependent kernels per layer; between two of them a plain
// stream (or CUDA graph) leaves the GPU idle while the first drains and the second is
// launched (~1.5-2 us each on Hopper).  A kernel launched by launch_pdl may start while
// the previous kernel of the stream is still running: its blocks run their prologue
// (loading weights, which no kernel writes) and then wait in pdl_wait() until the previous
// grid has completed and its memory is visible.  Each kernel lets the next one launch
// (pdl_launch_dependents) right after its own wait, so at most one grid runs ahead.
//
// Contract of a kernel launched by launch_pdl: every thread calls pdl_wait() before it reads
// memory that earlier work of the stream writes and before it writes any memory (the
// previous kernel may still read what it would overwrite).  Only reads of memory that no
// kernel writes (weights, tables uploaded at load time, kernel arguments) may come before.
// A kernel that calls pdl_wait() works the same when launched without the attribute (the
// wait returns at once), so DSTAR_CUDA_PDL=0 or a pre-Hopper GPU give the plain behaviour.
#pragma once

#include <cuda_runtime.h>
#include <utility>

#include "backend/cuda/check.h"

namespace dstar::backend::cuda {

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Both, in the order every PDL kernel uses them after its weight-only prologue.
__device__ __forceinline__ void pdl_enter() {
    pdl_wait();
    pdl_launch_dependents();
}

// Launches kernel<<<grid, block, smem, stream>>>(args...) with the programmatic stream
// serialization attribute when pdl_enabled() (check.h); the kernel must follow the contract
// above.  `name` is reported on failure (check_launch).
template <class... KArgs, class... Args>
void launch_pdl(const char *name, void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                Args &&...args) {
    cudaLaunchAttribute attr[1] = {};
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cfg.attrs = attr;
    cfg.numAttrs = pdl_enabled() ? 1 : 0;
    check(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...), name);
    check_launch(name, stream);
}

}  // namespace dstar::backend::cuda

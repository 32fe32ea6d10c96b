// CUDA error checks: every runtime call and kernel launch of the backend goes through these,
// so a failure becomes an Error naming the call instead of a silent wrong result.
#pragma once

#include <cuda_runtime_api.h>

namespace dstar::backend::cuda {

// Throws Error naming `what` when `e` is not cudaSuccess.
void check(cudaError_t e, const char *what);

// After a kernel launch: throws on a launch error.  With DSTAR_CUDA_SYNC=1 in the environment
// it also waits for the kernel (unless the stream is being recorded), so that a fault inside
// it is reported with its name (kernel faults are otherwise reported by the next
// synchronising call).
void check_launch(const char *kernel, cudaStream_t stream);

// Whether kernels are launched with programmatic dependent launch (launch.cuh): on a GPU of
// compute capability 9.0 or later (the current device when first asked), unless
// DSTAR_CUDA_PDL=0 is in the environment.
bool pdl_enabled();
// Whether decode norms write the Q8_0 codes of their output for the products that read it
// (MatmulRunner::produce_q8_0) instead of a separate quantize launch per product input:
// unless DSTAR_CUDA_PRODUCER_Q8=0 is in the environment (for comparisons).
bool producer_q8_enabled();

}  // namespace dstar::backend::cuda

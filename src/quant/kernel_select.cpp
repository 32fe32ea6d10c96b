// Picks the kernel set once from the CPU features; tests may switch it.
#include <cpuid.h>

#include <atomic>
#include <cstring>

#include "quant/dot.h"
#include "quant/kernels.h"

namespace dstar::quant {

namespace detail {

namespace {

const KernelSet kAvx2Kernels = {
    "avx2",
    avx2::dot_q8_0,
    avx2::dot_q2_k,
    avx2::dot_q4_k,
    avx2::dot_iq2_xxs,
    avx2::dot_f16,
    avx2::dot_f16_rows,
    avx2::quantize_q8_0_act,
    avx2::quantize_q8_k_act,
};

// CPUID.1:ECX bit 29.  (Read directly: not every compiler's __builtin_cpu_supports knows
// "f16c".  The OS-support check for YMM state is part of the "avx2" answer.)
bool cpu_has_f16c() {
    unsigned eax, ebx, ecx, edx;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}

}  // namespace

const KernelSet *avx2_kernels() {
    __builtin_cpu_init();
    const bool ok = __builtin_cpu_supports("avx2") && cpu_has_f16c();
    return ok ? &kAvx2Kernels : nullptr;
}

namespace {

const KernelSet *best_kernels() {
    const KernelSet *avx2 = avx2_kernels();
    return avx2 ? avx2 : &kScalarKernels;
}

// Relaxed is enough: the pointer only ever refers to immutable, constant-initialised sets.
std::atomic<const KernelSet *> g_active{nullptr};

}  // namespace

const KernelSet &active_kernels() {
    const KernelSet *k = g_active.load(std::memory_order_relaxed);
    if (__builtin_expect(k == nullptr, 0)) {
        k = best_kernels();
        g_active.store(k, std::memory_order_relaxed);
    }
    return *k;
}

}  // namespace detail

const char *kernel_isa() { return detail::active_kernels().name; }

bool set_kernel_isa_for_testing(const char *isa) {
    const detail::KernelSet *k = nullptr;
    if (std::strcmp(isa, "scalar") == 0) {
        k = &detail::kScalarKernels;
    } else if (std::strcmp(isa, "avx2") == 0) {
        k = detail::avx2_kernels();
    } else if (std::strcmp(isa, "auto") == 0) {
        k = detail::best_kernels();
    }
    if (!k) return false;
    detail::g_active.store(k, std::memory_order_relaxed);
    return true;
}

}  // namespace dstar::quant

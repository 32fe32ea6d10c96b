#include "quant/quantize.h"

#include <cmath>
#include <cstring>

#include "common/error.h"
#include "common/fp16.h"
#include "quant/blocks.h"

namespace dstar::quant {

void quantize_row_q8_0(const float *x, void *out, uint64_t n) {
    if (n % kQK8_0 != 0) fail("Q8_0 quantization needs a multiple of 32 values (got %llu)", static_cast<unsigned long long>(n));
    auto *blocks = static_cast<BlockQ8_0 *>(out);
    for (uint64_t b = 0; b < n / kQK8_0; b++) {
        const float *v = x + b * kQK8_0;
        float amax = 0.0f;
        for (int i = 0; i < kQK8_0; i++) amax = std::fmax(amax, std::fabs(v[i]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        BlockQ8_0 blk;
        blk.d = f32_to_f16(d);
        for (int i = 0; i < kQK8_0; i++) {
            const float q = std::round(v[i] * id);
            blk.qs[i] = static_cast<int8_t>(q > 127.0f ? 127.0f : (q < -127.0f ? -127.0f : q));
        }
        std::memcpy(&blocks[b], &blk, sizeof blk);
    }
}

}  // namespace dstar::quant

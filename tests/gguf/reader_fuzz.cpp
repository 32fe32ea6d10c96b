// libFuzzer target for the GGUF reader: any input must either parse or throw dstar::Error.
// Anything else (another exception, a crash, an out-of-bounds read or UB caught by the
// sanitizers, an allocation over -rss_limit_mb) is a finding.  Built by scripts/fuzz-gguf.sh.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "common/error.h"
#include "gguf/reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    using namespace dstar::gguf;
    try {
        const Parsed p = parse(data, size, "fuzz.gguf");
        // Exercise the renderers on whatever was decoded.
        size_t chars = 0;
        for (const auto &kv : p.metadata) chars += kv.second.to_string().size();
        // The reader promised every tensor lies inside the image and does not overlap:
        // touch its first and last byte so ASan sees any broken promise (libFuzzer hands
        // us a buffer of exactly `size` bytes).
        volatile uint8_t sink = 0;
        for (const TensorInfo &t : p.tensors) {
            chars += t.shape_string().size();
            if (t.n_bytes == 0 || t.file_offset + t.n_bytes > size || t.file_offset % p.alignment != 0)
                std::abort();
            sink = sink + data[t.file_offset] + data[t.file_offset + t.n_bytes - 1];
        }
        (void)chars;
    } catch (const dstar::Error &) {
        // Expected for malformed input.
    }
    return 0;
}

#include "server/api/warm_weights.h"

#include <unistd.h>

#include <chrono>
#include <cstdint>

#include "common/error.h"
#include "server/api/log.h"

namespace dstar::server::api {

void warm_weights(const gguf::Reader &reader) {
    const MappedFile &file = reader.file();
    const uint64_t begin = reader.data_offset(), end = file.size();
    if (end <= begin) return;
    log_line(strformat("dstar-server: warming mapped tensor pages: %.2f GiB", double(end - begin) / double(1ull << 30)));
    const auto t0 = std::chrono::steady_clock::now();
    file.prefetch(begin, end - begin);
    const long page_size = sysconf(_SC_PAGESIZE);
    const uint64_t page = page_size > 0 ? static_cast<uint64_t>(page_size) : 4096;
    const volatile uint8_t *data = file.data();
    uint64_t checksum = 0;
    for (uint64_t off = begin; off < end; off += page) checksum = checksum * 31 + data[off];
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log_line(strformat("dstar-server: warmed tensor pages in %.2f s (checksum=%016llx)", s,
                       static_cast<unsigned long long>(checksum)));
}

}  // namespace dstar::server::api

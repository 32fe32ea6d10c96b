#include "server/api/ids.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <unistd.h>
#include <vector>

namespace dstar::server::api {
namespace {

bool read_urandom(unsigned char *out, size_t n) {
    static std::mutex mu;
    static std::FILE *f = std::fopen("/dev/urandom", "rb");
    std::lock_guard<std::mutex> lk(mu);
    return f && std::fread(out, 1, n, f) == n;
}

// splitmix64 over time, pid and a counter: unique within the process, only used when
// /dev/urandom is unavailable.
void fallback_bytes(unsigned char *out, size_t n) {
    static std::atomic<uint64_t> counter{0};
    uint64_t x = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                 (static_cast<uint64_t>(getpid()) << 32) ^ (counter.fetch_add(1) * 0x9e3779b97f4a7c15ull);
    for (size_t i = 0; i < n; i++) {
        if (i % 8 == 0) {
            x += 0x9e3779b97f4a7c15ull;
            uint64_t z = x;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            x = z ^ (z >> 31);
        }
        out[i] = static_cast<unsigned char>(x >> (8 * (i % 8)));
    }
}

}  // namespace

std::string random_id(const std::string &prefix, size_t n_bytes) {
    std::vector<unsigned char> bytes(n_bytes);
    if (!read_urandom(bytes.data(), n_bytes)) fallback_bytes(bytes.data(), n_bytes);
    static const char hex[] = "0123456789abcdef";
    std::string id = prefix;
    for (unsigned char b : bytes) {
        id += hex[b >> 4];
        id += hex[b & 15];
    }
    return id;
}

std::string new_tool_call_id(const std::string &prefix, const std::function<bool(const std::string &)> &taken) {
    for (;;) {
        std::string id = random_id(prefix, 16);
        if (!taken || !taken(id)) return id;
    }
}

}  // namespace dstar::server::api

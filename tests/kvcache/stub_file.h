// Hand-made cache files for listing and eviction tests: a real header and key text, a payload
// of zeros (a file hole, so "large" files cost no disk), no trailer.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "common/error.h"
#include "kvcache/file_format.h"
#include "kvcache/sha1_name.h"

namespace dstar::kvcache::testing {

inline FileHeader stub_header(uint32_t tokens, uint64_t payload_bytes, uint32_t hits = 0, uint64_t last_used = 0) {
    FileHeader h;
    h.quant_bits = 2;
    h.reason = 1;
    h.tokens = tokens;
    h.hits = hits;
    h.ctx = 32768;
    h.created = last_used;
    h.last_used = last_used;
    h.payload_bytes = payload_bytes;
    return h;
}

// Writes <dir>/<name or sha1(text).kv>; `size_delta` bytes are cut from (< 0) or added to
// the end.  Returns the path.
inline std::string write_stub(const std::string &dir, FileHeader h, const std::string &text,
                              const std::string &name = "", long size_delta = 0) {
    h.text_bytes = static_cast<uint32_t>(text.size());
    const std::string path = dir + "/" + (name.empty() ? cache_file_name(sha1_hex(text)) : name);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) fail("cannot create %s", path.c_str());
    const auto head = encode_header(h);
    const bool ok = ::write(fd, head.data(), head.size()) == static_cast<ssize_t>(head.size()) &&
                    ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                    ::ftruncate(fd, static_cast<off_t>(h.payload_end()) + size_delta) == 0;
    ::close(fd);
    if (!ok) fail("cannot write %s", path.c_str());
    return path;
}

}  // namespace dstar::kvcache::testing

#include "kvcache/sha1_name.h"

#include <openssl/evp.h>

#include "common/error.h"

namespace dstar::kvcache {

std::string sha1_hex(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha1(), nullptr) != 1 || len != 20)
        fail("SHA-1 of %zu bytes failed in libcrypto", data.size());
    static const char kHex[] = "0123456789abcdef";
    std::string out(40, '0');
    for (unsigned i = 0; i < 20; i++) {
        out[2 * i] = kHex[digest[i] >> 4];
        out[2 * i + 1] = kHex[digest[i] & 15];
    }
    return out;
}

std::string cache_file_name(std::string_view sha) { return std::string(sha) + ".kv"; }

bool parse_cache_file_name(std::string_view name, std::string *sha) {
    if (name.size() != 43 || name.substr(40) != ".kv") return false;
    std::string lower(40, '0');
    for (size_t i = 0; i < 40; i++) {
        const char c = name[i];
        if (c >= '0' && c <= '9') lower[i] = c;
        else if (c >= 'a' && c <= 'f') lower[i] = c;
        else if (c >= 'A' && c <= 'F') lower[i] = static_cast<char>(c - 'A' + 'a');
        else return false;
    }
    if (sha) *sha = std::move(lower);
    return true;
}

}  // namespace dstar::kvcache

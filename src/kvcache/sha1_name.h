// Naming of disk KV cache files (kvcache.md §4): "<sha1>.kv", the SHA-1 (OpenSSL libcrypto)
// of the checkpoint's key text as 40 lowercase hex digits.
#pragma once

#include <string>
#include <string_view>

namespace dstar::kvcache {

// 40 lowercase hex digits of SHA-1(data).
std::string sha1_hex(std::string_view data);

// "<sha>.kv".
std::string cache_file_name(std::string_view sha);

// True for exactly 40 hex digits + ".kv" (either case); *sha receives the digits in lower
// case.  Anything else in the directory (temp files, "*.bad", other files) is not a cache file.
bool parse_cache_file_name(std::string_view name, std::string *sha);

}  // namespace dstar::kvcache

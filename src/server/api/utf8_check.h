// Request bodies must be UTF-8 (JSON text is); a client that sends Latin-1 or binary gets a 400
// naming the byte instead of a generic parse error.
#pragma once

#include <cstddef>
#include <string_view>

namespace dstar::server::api {

// Offset of the first byte that does not start or continue a well-formed UTF-8 sequence
// (overlong forms, surrogates and code points above U+10FFFF are ill-formed), or npos.
size_t invalid_utf8_offset(std::string_view s);

}  // namespace dstar::server::api

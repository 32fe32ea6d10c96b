// JSON helpers with ds4's exact, forgiving semantics, working on raw text.
//
// Request parsing proper uses nlohmann_json; these helpers exist for the places where ds4's
// output depends on how *its own* scanner reads text that the client or the model wrote:
// tool-call arguments rendered as DSML (spec 7.2), DSML parameter values turned into JSON
// (spec 6.3) and the OpenAI arguments string (spec 6.4).  Reproducing ds4 byte for byte
// means reproducing its quirks too (missing commas tolerated, raw control characters
// accepted inside strings, strtod numbers, trailing text ignored), so this is not a
// validating parser.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dstar::chat {

// C isspace() in the "C" locale: space, \t, \n, \v, \f, \r.
bool is_ascii_space(char c);
// Index of the first non-space byte at or after pos.
size_t skip_ascii_space(std::string_view s, size_t pos);

// Decodes the JSON string literal at pos (after optional whitespace); advances pos past the
// closing quote.  Escapes are resolved, \uXXXX to UTF-8 with surrogate pairs combined; a lone
// surrogate is written as its 3-byte form (as ds4).  nullopt on a malformed literal.
std::optional<std::string> decode_json_string(std::string_view s, size_t &pos);

// Skips one JSON value at pos (after optional whitespace), nesting limited to 256 levels.
// Returns false (pos unspecified) if no value could be read.
bool skip_json_value(std::string_view s, size_t &pos);

// ds4's json_minify_raw_value: if a JSON value can be read at the start (after whitespace),
// returns that value with whitespace outside string literals removed (text after the value is
// dropped); otherwise returns the input unchanged.
std::string minify_json_value(std::string_view json);

// One member of a leniently walked top-level JSON object.
struct JsonMember {
    std::string key;
    std::string value;   // decoded text if is_string, else the minified raw JSON
    bool is_string = false;
};

// Walks the members of the JSON object that `json` starts with (after whitespace), keeping
// their order and any duplicates.  nullopt if the text does not start with a readable object.
std::optional<std::vector<JsonMember>> parse_json_object_members(std::string_view json);

// Appends s as a JSON string literal with ds4's escaping: \" \\ \n \r \t, other bytes below
// 0x20 as \u00xx, everything else (including '/', DEL and non-ASCII bytes) raw.
void append_json_string(std::string &out, std::string_view s);
// The same escaping without the surrounding quotes (for streamed fragments).
void append_json_escaped(std::string &out, std::string_view s);

// Appends code point cp as UTF-8 (no validation, as ds4's utf8_put).
void append_utf8(std::string &out, uint32_t cp);

}  // namespace dstar::chat

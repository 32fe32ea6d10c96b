#include "chat/lenient_json.h"

#include <cstdlib>

namespace dstar::chat {
namespace {

// ds4 scans NUL-terminated C strings; treating the end of the view as NUL keeps every
// "stop at end of text" decision identical.
char at(std::string_view s, size_t i) { return i < s.size() ? s[i] : '\0'; }

bool starts_with_at(std::string_view s, size_t pos, std::string_view lit) {
    return pos <= s.size() && s.substr(pos).substr(0, lit.size()) == lit;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return 10 + c - 'a';
    if (c >= 'A' && c <= 'F') return 10 + c - 'A';
    return -1;
}

// Reads "\uXXXX" at pos; advances only on success.
bool read_u16_escape(std::string_view s, size_t &pos, uint32_t &out) {
    if (at(s, pos) != '\\' || at(s, pos + 1) != 'u') return false;
    uint32_t cp = 0;
    for (size_t i = 0; i < 4; i++) {
        const int h = hex_value(at(s, pos + 2 + i));
        if (h < 0) return false;
        cp = (cp << 4) | static_cast<uint32_t>(h);
    }
    pos += 6;
    out = cp;
    return true;
}

// ds4 reads numbers with strtod, so it accepts what strtod accepts (hex, inf, nan, a leading
// '+').  strtod needs a NUL-terminated buffer: copy the longest run of bytes that can belong
// to a strtod number and let strtod decide how much of it is used.
bool skip_number(std::string_view s, size_t &pos) {
    size_t end = pos;
    while (end < s.size()) {
        const char c = s[end];
        const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        c == '+' || c == '-' || c == '.' || c == '(' || c == ')' || c == '_';
        if (!ok) break;
        end++;
    }
    if (end == pos) return false;
    const std::string tmp(s.substr(pos, end - pos));
    char *stop = nullptr;
    (void)std::strtod(tmp.c_str(), &stop);
    if (stop == tmp.c_str()) return false;
    pos += static_cast<size_t>(stop - tmp.c_str());
    return true;
}

constexpr int kMaxNesting = 256;  // ds4's JSON_MAX_NESTING: bounded recursion on hostile input

bool skip_value_depth(std::string_view s, size_t &pos, int depth);

bool skip_array(std::string_view s, size_t &pos, int depth) {
    if (depth >= kMaxNesting) return false;
    pos = skip_ascii_space(s, pos);
    if (at(s, pos) != '[') return false;
    pos++;
    pos = skip_ascii_space(s, pos);
    if (at(s, pos) == ']') {
        pos++;
        return true;
    }
    for (;;) {
        if (!skip_value_depth(s, pos, depth + 1)) return false;
        pos = skip_ascii_space(s, pos);
        if (at(s, pos) == ']') {
            pos++;
            return true;
        }
        if (at(s, pos) != ',') return false;
        pos++;
    }
}

bool skip_object(std::string_view s, size_t &pos, int depth) {
    if (depth >= kMaxNesting) return false;
    pos = skip_ascii_space(s, pos);
    if (at(s, pos) != '{') return false;
    pos++;
    pos = skip_ascii_space(s, pos);
    if (at(s, pos) == '}') {
        pos++;
        return true;
    }
    for (;;) {
        if (!decode_json_string(s, pos)) return false;
        pos = skip_ascii_space(s, pos);
        if (at(s, pos) != ':') return false;
        pos++;
        if (!skip_value_depth(s, pos, depth + 1)) return false;
        pos = skip_ascii_space(s, pos);
        if (at(s, pos) == '}') {
            pos++;
            return true;
        }
        if (at(s, pos) != ',') return false;
        pos++;
    }
}

bool skip_value_depth(std::string_view s, size_t &pos, int depth) {
    pos = skip_ascii_space(s, pos);
    const char c = at(s, pos);
    if (c == '"') return decode_json_string(s, pos).has_value();
    if (c == '{') return skip_object(s, pos, depth);
    if (c == '[') return skip_array(s, pos, depth);
    for (std::string_view lit : {"true", "false", "null"}) {
        if (starts_with_at(s, pos, lit)) {
            pos += lit.size();
            return true;
        }
    }
    return skip_number(s, pos);
}

}  // namespace

bool is_ascii_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

size_t skip_ascii_space(std::string_view s, size_t pos) {
    while (pos < s.size() && is_ascii_space(s[pos])) pos++;
    return pos;
}

void append_utf8(std::string &out, uint32_t cp) {
    if (cp <= 0x7f) {
        out.push_back(static_cast<char>(cp));
    } else if (cp <= 0x7ff) {
        out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp <= 0xffff) {
        out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
        out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
}

std::optional<std::string> decode_json_string(std::string_view s, size_t &pos) {
    pos = skip_ascii_space(s, pos);
    if (at(s, pos) != '"') return std::nullopt;
    pos++;
    std::string out;
    while (at(s, pos) != '\0' && at(s, pos) != '"') {
        const char c = s[pos++];
        if (c != '\\') {
            out.push_back(c);  // raw control characters are accepted, as in ds4
            continue;
        }
        const char e = at(s, pos);
        pos++;
        switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
            pos -= 2;
            uint32_t cp = 0, lo = 0;
            if (!read_u16_escape(s, pos, cp)) return std::nullopt;
            // Note the ds4 quirk kept here: a high surrogate followed by any other \uXXXX
            // consumes that escape and drops it.
            if (cp >= 0xd800 && cp <= 0xdbff && read_u16_escape(s, pos, lo) && lo >= 0xdc00 &&
                lo <= 0xdfff) {
                cp = 0x10000u + ((cp - 0xd800u) << 10) + (lo - 0xdc00u);
            }
            append_utf8(out, cp);
            break;
        }
        default:
            return std::nullopt;
        }
    }
    if (at(s, pos) != '"') return std::nullopt;
    pos++;
    return out;
}

bool skip_json_value(std::string_view s, size_t &pos) { return skip_value_depth(s, pos, 0); }

std::string minify_json_value(std::string_view json) {
    size_t pos = skip_ascii_space(json, 0);
    const size_t start = pos;
    if (!skip_json_value(json, pos)) return std::string(json);
    std::string out;
    bool in_string = false, escape = false;
    for (size_t i = start; i < pos; i++) {
        const char c = json[i];
        if (in_string) {
            out.push_back(c);
            if (escape) escape = false;
            else if (c == '\\') escape = true;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
            out.push_back(c);
        } else if (!is_ascii_space(c)) {
            out.push_back(c);
        }
    }
    return out;
}

std::optional<std::vector<JsonMember>> parse_json_object_members(std::string_view json) {
    size_t pos = skip_ascii_space(json, 0);
    if (at(json, pos) != '{') return std::nullopt;
    pos++;
    pos = skip_ascii_space(json, pos);
    std::vector<JsonMember> members;
    while (at(json, pos) != '\0' && at(json, pos) != '}') {
        JsonMember m;
        auto key = decode_json_string(json, pos);
        if (!key) return std::nullopt;
        m.key = std::move(*key);
        pos = skip_ascii_space(json, pos);
        if (at(json, pos) != ':') return std::nullopt;
        pos++;
        pos = skip_ascii_space(json, pos);
        if (at(json, pos) == '"') {
            auto value = decode_json_string(json, pos);
            if (!value) return std::nullopt;
            m.value = std::move(*value);
            m.is_string = true;
        } else {
            const size_t start = pos;
            if (!skip_json_value(json, pos)) return std::nullopt;
            m.value = minify_json_value(json.substr(start, pos - start));
        }
        members.push_back(std::move(m));
        // ds4 treats the comma as optional between members.
        pos = skip_ascii_space(json, pos);
        if (at(json, pos) == ',') pos++;
        pos = skip_ascii_space(json, pos);
    }
    if (at(json, pos) != '}') return std::nullopt;
    return members;
}

void append_json_escaped(std::string &out, std::string_view s) {
    static const char hex[] = "0123456789abcdef";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(ch);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20) {
            out += "\\u00";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        } else {
            out.push_back(ch);
        }
    }
}

void append_json_string(std::string &out, std::string_view s) {
    out.push_back('"');
    append_json_escaped(out, s);
    out.push_back('"');
}

}  // namespace dstar::chat

// GGUF metadata values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dstar::gguf {

enum class ValueType : uint32_t {
    U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
    STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

const char *value_type_name(ValueType t);

// One decoded metadata value.  Scalars keep their exact GGUF type (ds4 checks types, e.g.
// `block_count` must be U32), arrays keep their element type.
struct Value {
    ValueType type = ValueType::U32;
    uint64_t u = 0;            // U8, U16, U32, U64, BOOL (0/1)
    int64_t i = 0;             // I8, I16, I32, I64
    double f = 0.0;            // F32 (exactly widened), F64
    std::string str;           // STRING
    ValueType elem_type = ValueType::U8;  // ARRAY
    std::vector<Value> items;  // ARRAY

    static Value make_u32(uint32_t v);
    static Value make_i32(int32_t v);
    static Value make_u64(uint64_t v);
    static Value make_f32(float v);
    static Value make_f64(double v);
    static Value make_bool(bool v);
    static Value make_string(std::string v);
    static Value make_array(ValueType elem, std::vector<Value> items);
    static Value make_u32_array(const std::vector<uint32_t> &v);
    static Value make_i32_array(const std::vector<int32_t> &v);
    static Value make_f32_array(const std::vector<float> &v);
    static Value make_string_array(const std::vector<std::string> &v);

    bool is_int() const;    // any integer type
    bool is_float() const;  // F32 or F64
    // Integer value if the type is an integer type and the value fits; nullopt otherwise.
    std::optional<int64_t> as_int() const;
    // Numeric value of an integer or float type; nullopt for other types.
    std::optional<double> as_number() const;
    // Short human-readable, one-line rendering: numbers, true/false, strings quoted (escaped,
    // truncated to 64 characters), arrays as "[u32 x 43: 0, 0, 4, ...]" listing at most
    // `max_items` items per level ("[string x 129280]" with max_items = 0).
    std::string to_string(size_t max_items = 8) const;
};

}  // namespace dstar::gguf

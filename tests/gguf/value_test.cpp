// Tests of gguf/value.cpp: constructors, numeric accessors and to_string.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "gguf/value.h"

namespace dstar::gguf {
namespace {

TEST(GgufValue, TypeNames) {
    EXPECT_STREQ(value_type_name(ValueType::U8), "u8");
    EXPECT_STREQ(value_type_name(ValueType::STRING), "string");
    EXPECT_STREQ(value_type_name(ValueType::ARRAY), "array");
    EXPECT_STREQ(value_type_name(ValueType::F64), "f64");
    EXPECT_STREQ(value_type_name(static_cast<ValueType>(99)), "unknown");
}

TEST(GgufValue, MakersSetTypeAndField) {
    EXPECT_EQ(Value::make_u32(7).type, ValueType::U32);
    EXPECT_EQ(Value::make_u32(7).u, 7u);
    EXPECT_EQ(Value::make_i32(-7).i, -7);
    EXPECT_EQ(Value::make_u64(1ull << 40).u, 1ull << 40);
    EXPECT_EQ(Value::make_f32(1.5f).f, 1.5);
    EXPECT_EQ(Value::make_f64(0.1).f, 0.1);
    EXPECT_EQ(Value::make_bool(true).u, 1u);
    EXPECT_EQ(Value::make_bool(false).u, 0u);
    EXPECT_EQ(Value::make_string("x").str, "x");
    const Value a = Value::make_u32_array({1, 2, 3});
    EXPECT_EQ(a.type, ValueType::ARRAY);
    EXPECT_EQ(a.elem_type, ValueType::U32);
    ASSERT_EQ(a.items.size(), 3u);
    EXPECT_EQ(a.items[2].u, 3u);
    EXPECT_EQ(Value::make_i32_array({-1}).items[0].i, -1);
    EXPECT_EQ(Value::make_f32_array({2.5f}).elem_type, ValueType::F32);
    EXPECT_EQ(Value::make_string_array({"a", "b"}).items[1].str, "b");
}

TEST(GgufValue, IntAndNumberAccessors) {
    EXPECT_TRUE(Value::make_u32(1).is_int());
    EXPECT_FALSE(Value::make_f32(1).is_int());
    EXPECT_TRUE(Value::make_f64(1).is_float());
    EXPECT_FALSE(Value::make_bool(true).is_int());
    EXPECT_EQ(Value::make_i32(-5).as_int(), -5);
    EXPECT_EQ(Value::make_u64(42).as_int(), 42);
    EXPECT_EQ(Value::make_u64(std::numeric_limits<uint64_t>::max()).as_int(), std::nullopt);
    EXPECT_EQ(Value::make_f32(1).as_int(), std::nullopt);
    EXPECT_EQ(Value::make_string("1").as_int(), std::nullopt);
    EXPECT_EQ(Value::make_f32(0.5f).as_number(), 0.5);
    EXPECT_EQ(Value::make_i32(-3).as_number(), -3.0);
    EXPECT_EQ(Value::make_string("1").as_number(), std::nullopt);
    EXPECT_EQ(Value::make_bool(true).as_number(), std::nullopt);
}

TEST(GgufValue, ToStringScalars) {
    EXPECT_EQ(Value::make_u32(6).to_string(), "6");
    EXPECT_EQ(Value::make_i32(-7).to_string(), "-7");
    EXPECT_EQ(Value::make_u64(18446744073709551615ull).to_string(), "18446744073709551615");
    // f32 values print as the shortest f32 text, not as the widened double.
    EXPECT_EQ(Value::make_f32(1e-6f).to_string(), "1e-06");
    EXPECT_EQ(Value::make_f32(10.0f).to_string(), "10");
    EXPECT_EQ(Value::make_f64(0.1).to_string(), "0.1");
    EXPECT_EQ(Value::make_bool(true).to_string(), "true");
    EXPECT_EQ(Value::make_bool(false).to_string(), "false");
}

TEST(GgufValue, ToStringQuotesEscapesAndTruncatesStrings) {
    EXPECT_EQ(Value::make_string("deepseek4").to_string(), "\"deepseek4\"");
    EXPECT_EQ(Value::make_string("").to_string(), "\"\"");
    EXPECT_EQ(Value::make_string("a\"b\\c\nd").to_string(), "\"a\\\"b\\\\c\\nd\"");
    EXPECT_EQ(Value::make_string(std::string("a\0b", 3)).to_string(), "\"a\\x00b\"");
    EXPECT_EQ(Value::make_string("\xc4\xa0t").to_string(), "\"\xc4\xa0t\"");  // UTF-8 kept
    const std::string s = Value::make_string(std::string(1000, 'x')).to_string();
    EXPECT_EQ(s, "\"" + std::string(64, 'x') + "...\"");
}

TEST(GgufValue, ToStringArrays) {
    const Value ratios = Value::make_u32_array({0, 0, 4, 16, 4, 16});
    EXPECT_EQ(ratios.to_string(), "[u32 x 6: 0, 0, 4, 16, 4, 16]");
    EXPECT_EQ(ratios.to_string(3), "[u32 x 6: 0, 0, 4, ...]");
    EXPECT_EQ(Value::make_string_array({"a", "b", "c"}).to_string(0), "[string x 3]");
    EXPECT_EQ(Value::make_string_array({"a", "b"}).to_string(), "[string x 2: \"a\", \"b\"]");
    EXPECT_EQ(Value::make_array(ValueType::F32, {}).to_string(), "[f32 x 0]");
    const Value nested =
        Value::make_array(ValueType::ARRAY, {Value::make_i32_array({1, 2}), Value::make_i32_array({})});
    EXPECT_EQ(nested.to_string(), "[array x 2: [i32 x 2: 1, 2], [i32 x 0]]");
}

TEST(GgufValue, ToStringOfDeepWideArraysStaysShort) {
    // 6 levels of 8 items: 262144 leaves, ~2.6 MB of text if every level listed max_items.
    Value v = Value::make_u32_array(std::vector<uint32_t>(8, 123456789));
    for (int d = 0; d < 5; d++) v = Value::make_array(ValueType::ARRAY, std::vector<Value>(8, v));
    EXPECT_LT(v.to_string().size(), 2048u);
}

}  // namespace
}  // namespace dstar::gguf

// Writes a few small valid GGUF files (each well under 64 KB) into a folder, as the seed
// corpus of the reader fuzzer.  Usage: fuzz_seeds <dir>.  Built by scripts/fuzz-gguf.sh.
#include <cstdio>
#include <string>
#include <vector>

#include "common/error.h"
#include "gguf/writer.h"

using namespace dstar::gguf;

namespace {

void fill(Writer &w) {
    const std::vector<uint8_t> bytes(4096, 0x3c);
    for (const auto &t : w.tensor_sizes()) {
        for (uint64_t left = t.second; left > 0;) {
            const uint64_t k = left < bytes.size() ? left : bytes.size();
            w.write_data(bytes.data(), k);
            left -= k;
        }
    }
}

void every_value_type(const std::string &path) {
    Writer w(path);
    w.add_kv("general.architecture", Value::make_string("deepseek4"));
    Value v;
    v.type = ValueType::U8; v.u = 200; w.add_kv("t.u8", v);
    v = Value(); v.type = ValueType::I8; v.i = -5; w.add_kv("t.i8", v);
    v = Value(); v.type = ValueType::U16; v.u = 65535; w.add_kv("t.u16", v);
    v = Value(); v.type = ValueType::I16; v.i = -300; w.add_kv("t.i16", v);
    w.add_kv("t.u32", Value::make_u32(6));
    w.add_kv("t.i32", Value::make_i32(-7));
    w.add_kv("t.f32", Value::make_f32(1e-6f));
    w.add_kv("t.bool", Value::make_bool(true));
    w.add_kv("t.u64", Value::make_u64(1048576));
    v = Value(); v.type = ValueType::I64; v.i = -1; w.add_kv("t.i64", v);
    w.add_kv("t.f64", Value::make_f64(160000.0));
    w.add_kv("t.ratios", Value::make_u32_array({0, 0, 4, 16, 4, 16}));
    w.add_kv("t.tokens", Value::make_string_array({"<bos>", "a", "", "\xc4\xa0t"}));
    w.add_kv("t.empty", Value::make_array(ValueType::F32, {}));
    Value nested = Value::make_i32_array({1, 2});
    for (int d = 0; d < 3; d++) nested = Value::make_array(ValueType::ARRAY, {nested, nested});
    w.add_kv("t.nested", nested);
    w.add_tensor("token_embd.weight", TensorType::F16, {16, 8});
    w.begin_data();
    fill(w);
    w.finish();
}

void many_types(const std::string &path, uint32_t alignment) {
    Writer w(path);
    w.set_alignment(alignment);
    w.add_kv("deepseek4.block_count", Value::make_u32(2));
    w.add_tensor("a.f32", TensorType::F32, {3});
    w.add_tensor("b.q8_0", TensorType::Q8_0, {32, 2});
    w.add_tensor("c.q2_k", TensorType::Q2_K, {256});
    w.add_tensor("d.iq2_xxs", TensorType::IQ2_XXS, {256, 1, 2});
    w.add_tensor("e.q4_k", TensorType::Q4_K, {256});
    w.add_tensor("f.i32", TensorType::I32, {5, 1, 1, 1});
    w.begin_data();
    fill(w);
    w.finish();
}

void metadata_only(const std::string &path) {
    Writer w(path);
    w.add_kv("tokenizer.ggml.model", Value::make_string("gpt2"));
    w.finish();
}

void empty(const std::string &path) {
    Writer w(path);
    w.finish();
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <dir>\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    try {
        every_value_type(dir + "/values.gguf");
        many_types(dir + "/types32.gguf", 32);
        many_types(dir + "/types64.gguf", 64);
        many_types(dir + "/types8.gguf", 8);
        metadata_only(dir + "/meta.gguf");
        empty(dir + "/empty.gguf");
    } catch (const dstar::Error &e) {
        std::fprintf(stderr, "fuzz_seeds: %s\n", e.what());
        return 1;
    }
    return 0;
}

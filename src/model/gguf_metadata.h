// The metadata block of a DeepSeek V4 Flash GGUF (deepseek4.* keys, tokenizer tables),
// shared by every writer of model files (synthetic files, checkpoint conversion).
#pragma once

#include <string>

#include "model/config.h"
#include "tokenizer/hf_vocab.h"

namespace dstar::gguf { class Writer; }

namespace dstar::model {

// Writes general.architecture/name/alignment, every deepseek4.* key ModelConfig::from_gguf
// reads (so the file round-trips to the same config), and the tokenizer arrays.
void write_model_metadata(gguf::Writer &w, const ModelConfig &c, const tok::HfVocab &vocab, const std::string &name);

}  // namespace dstar::model

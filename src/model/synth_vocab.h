// Tokenizer tables for synthetic GGUFs, built from the npm DeepSeek V3 tokenizer.json.
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/hf_vocab.h"

namespace dstar::model {

// The full DeepSeek V4 table (129,280 ids, V4 specials at their ids) when n_vocab is the
// real size; otherwise a reduced byte-level BPE of exactly n_vocab ids: <bos> <eos> <pad>,
// the 256 byte tokens and the results of the lowest-rank merges whose operands are already
// kept (in V3 id order), then the five V4 chat specials.  Every kept merge's result is a
// token, so the reduced tokenizer encodes any text.  (This is how the ds4-oracle tiny files
// were built, so a tiny synth file has the same vocabulary.)
tok::HfVocab synth_vocab(const std::string &tokenizer_json, uint32_t n_vocab);

}  // namespace dstar::model

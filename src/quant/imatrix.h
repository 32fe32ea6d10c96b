// Importance matrices ("imatrix"): per input column of a weight tensor, the mean square of
// the activation that multiplies it, collected by running the model on sample text.  The
// quantizers weight their squared error with it (quantize.h).
//
// Two file formats are read:
//  * llama.cpp's legacy binary `.dat`, which is also exactly what ds4 writes
//    (ds4.c imatrix_collector_save).  All integers are little-endian i32:
//        n_entries
//        n_entries times:  name_len, name bytes (no terminator), ncall, nval, nval f32 values
//        optional trailer: chunk count, dataset_len, dataset bytes
//    Values are divided by ncall when ncall > 0 (llama.cpp stores sum/count * ncall; ds4
//    stores the mean with ncall = 1).  ds4 packs a routed-expert tensor as ONE entry of
//    n_expert * n_columns values, expert-major (an expert that saw no token gets all 1.0).
//  * llama.cpp's GGUF imatrix: F32 tensors `<name>.in_sum2` [n_columns, n_matrices] and
//    `<name>.counts` [1, n_matrices]; the importance is in_sum2 / count per matrix (1.0
//    where the count is 0).  Metadata `imatrix.datasets` / `imatrix.chunk_count` if present.
// Entry names are GGUF tensor names, e.g. "blk.3.ffn_down_exps.weight".
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace dstar::quant {

class ImportanceMatrix {
public:
    // Reads either format (GGUF files are recognised by their magic).  Throws Error naming the
    // file and the problem: unreadable, truncated, a bad count or length, a duplicate entry,
    // a negative or non-finite value, unmatched GGUF sums/counts.
    static ImportanceMatrix load(const std::string &path);

    // The per-column weights for rows of `row_len` values of tensor `tensor_name`, or nullptr
    // when the file has no entry for it.
    //  * An entry of exactly `row_len` values applies to every row (and every expert).
    //  * For an expert of a 3-D expert tensor (`expert` >= 0), an entry of k * row_len values
    //    holds k experts' vectors back to back and expert `expert` gets its slice; entries
    //    named "<tensor_name>.expert.<e>" or "<tensor_name>.expert_<e>" (checked first, as
    //    ds4's quantizer does) hold one expert's vector.
    // Throws Error naming the file and tensor when an entry exists but its size does not fit
    // (wrong column count, or the expert is out of range).  The pointer lives as long as this.
    const float *find(const std::string &tensor_name, uint64_t row_len, int expert = -1) const;

    const std::string &path() const { return path_; }
    size_t size() const { return entries_.size(); }
    bool empty() const { return entries_.empty(); }
    // Number of values of an entry (0 if absent): n_columns, or n_experts * n_columns.
    uint64_t entry_size(const std::string &name) const;
    std::vector<std::string> names() const;  // sorted
    const std::string &dataset() const { return dataset_; }  // "" if the file names none
    int64_t chunks() const { return chunks_; }               // -1 if the file does not say

private:
    static ImportanceMatrix load_legacy(const std::string &path, const uint8_t *data, uint64_t size);
    static ImportanceMatrix load_gguf(const std::string &path);
    void add(const std::string &name, std::vector<float> values);

    std::string path_;
    std::unordered_map<std::string, std::vector<float>> entries_;
    std::string dataset_;
    int64_t chunks_ = -1;
};

}  // namespace dstar::quant

// Client stop sequences (server.md §7.3, §13.2): matched over the raw generated text,
// reasoning included; while streaming, the last (longest stop - 1) bytes are held back because
// a stop sequence may begin there and complete with the next token.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dstar::server::worker {

class StopScanner {
public:
    // Empty strings are ignored (ds4 drops them).
    explicit StopScanner(const std::vector<std::string> &stops);

    bool empty() const { return stops_.empty(); }
    size_t max_len() const { return max_len_; }

    // Call after every growth of `text`: the start of the earliest stop sequence match, if
    // one completed.  Only the part of the text that a new match can touch is rescanned.
    std::optional<size_t> scan(std::string_view text);

    // How many bytes of a text of `text_len` bytes cannot start a stop sequence any more.
    size_t safe_len(size_t text_len) const;

private:
    std::vector<std::string> stops_;
    size_t max_len_ = 0;
    size_t scan_from_ = 0;
};

}  // namespace dstar::server::worker

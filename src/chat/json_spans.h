// Byte spans of every value in a JSON document.
//
// nlohmann_json re-serialises what it parsed, but ds4 renders some client JSON (tool schemas,
// raw tool-call arguments, Anthropic tool inputs) with the exact bytes the client sent:
// whitespace, key order, number spelling and \u escapes all reach the prompt.  This index
// records where each value lies in the original text so that parsers can read semantics from
// nlohmann and bytes from here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace dstar::chat {

class JsonSpans {
public:
    enum class Type : uint8_t { Null, Bool, Number, String, Array, Object };

    // Indexes `text` (which must outlive the index).  nullopt if it is not one JSON value
    // (optionally preceded by a UTF-8 BOM and surrounded by whitespace) or nests deeper
    // than 4096 levels.
    static std::optional<JsonSpans> build(std::string_view text);

    static constexpr int kNone = -1;
    int root() const { return nodes_.empty() ? kNone : 0; }
    Type type(int node) const { return nodes_[static_cast<size_t>(node)].type; }
    // The value's bytes exactly as written.
    std::string_view text(int node) const;
    // Member value of an object node by (decoded) key; the last one wins for duplicate keys,
    // as in nlohmann.  kNone if absent or node is not an object.
    int member(int node, std::string_view key) const;
    // Children of an array or object node, in document order.
    std::vector<int> children(int node) const;

private:
    struct Node {
        Type type;
        size_t begin, end;          // value bytes [begin, end)
        size_t key_begin, key_end;  // raw key bytes between the quotes (object members)
        int first_child = kNone, next_sibling = kNone;
    };
    std::string_view text_;
    std::vector<Node> nodes_;

    class Builder;
};

}  // namespace dstar::chat

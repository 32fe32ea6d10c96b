#include "chat/json_spans.h"

#include <cctype>
#include <string>

#include "chat/lenient_json.h"

namespace dstar::chat {

// Structural scanner only: the document has already been validated by nlohmann, so this needs
// to find value boundaries, not to diagnose errors (it still fails cleanly on bad input).
class JsonSpans::Builder {
public:
    Builder(std::string_view s, std::vector<Node> &nodes) : s_(s), nodes_(nodes) {}

    bool document() {
        if (s_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
        ws();
        if (value(0) == kNone) return false;
        ws();
        return pos_ == s_.size();
    }

private:
    static constexpr int kMaxDepth = 4096;
    std::string_view s_;
    std::vector<Node> &nodes_;
    size_t pos_ = 0;

    char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
    void ws() {
        while (pos_ < s_.size() &&
               (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
            pos_++;
        }
    }
    bool literal(std::string_view lit) {
        if (s_.substr(pos_, lit.size()) != lit) return false;
        pos_ += lit.size();
        return true;
    }
    // Skips a string literal starting at '"'; returns false if unterminated.
    bool string() {
        pos_++;
        while (pos_ < s_.size()) {
            const char c = s_[pos_++];
            if (c == '\\') pos_++;
            else if (c == '"') return true;
        }
        return false;
    }

    int add(Type t, size_t begin) {
        nodes_.push_back(Node{t, begin, begin, 0, 0});
        return static_cast<int>(nodes_.size() - 1);
    }

    // Parses one value; returns its node index or kNone.
    int value(int depth) {
        if (depth > kMaxDepth) return kNone;
        const size_t begin = pos_;
        const char c = peek();
        int id;
        if (c == '{' || c == '[') {
            id = add(c == '{' ? Type::Object : Type::Array, begin);
            if (!container(id, c == '{', depth)) return kNone;
        } else if (c == '"') {
            id = add(Type::String, begin);
            if (!string()) return kNone;
        } else if (literal("true") || literal("false")) {
            id = add(Type::Bool, begin);
        } else if (literal("null")) {
            id = add(Type::Null, begin);
        } else {
            while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) ||
                                        s_[pos_] == '-' || s_[pos_] == '+' || s_[pos_] == '.' ||
                                        s_[pos_] == 'e' || s_[pos_] == 'E')) {
                pos_++;
            }
            if (pos_ == begin) return kNone;
            id = add(Type::Number, begin);
        }
        nodes_[static_cast<size_t>(id)].end = pos_;
        return id;
    }

    bool container(int id, bool object, int depth) {
        const char close = object ? '}' : ']';
        pos_++;
        ws();
        int prev = kNone;
        if (peek() == close) {
            pos_++;
            return true;
        }
        for (;;) {
            size_t key_begin = 0, key_end = 0;
            if (object) {
                if (peek() != '"') return false;
                key_begin = pos_ + 1;
                if (!string()) return false;
                key_end = pos_ - 1;
                ws();
                if (peek() != ':') return false;
                pos_++;
                ws();
            }
            const int child = value(depth + 1);
            if (child == kNone) return false;
            nodes_[static_cast<size_t>(child)].key_begin = key_begin;
            nodes_[static_cast<size_t>(child)].key_end = key_end;
            if (prev == kNone) nodes_[static_cast<size_t>(id)].first_child = child;
            else nodes_[static_cast<size_t>(prev)].next_sibling = child;
            prev = child;
            ws();
            if (peek() == close) {
                pos_++;
                return true;
            }
            if (peek() != ',') return false;
            pos_++;
            ws();
        }
    }
};

std::optional<JsonSpans> JsonSpans::build(std::string_view text) {
    JsonSpans spans;
    spans.text_ = text;
    Builder b(text, spans.nodes_);
    if (!b.document()) return std::nullopt;
    return spans;
}

std::string_view JsonSpans::text(int node) const {
    const Node &n = nodes_[static_cast<size_t>(node)];
    return text_.substr(n.begin, n.end - n.begin);
}

int JsonSpans::member(int node, std::string_view key) const {
    if (node == kNone || type(node) != Type::Object) return kNone;
    int found = kNone;
    for (int c = nodes_[static_cast<size_t>(node)].first_child; c != kNone;
         c = nodes_[static_cast<size_t>(c)].next_sibling) {
        const Node &n = nodes_[static_cast<size_t>(c)];
        const std::string_view raw = text_.substr(n.key_begin, n.key_end - n.key_begin);
        bool match;
        if (raw.find('\\') == std::string_view::npos) {
            match = raw == key;
        } else {
            // Escaped keys are rare; decode them with the quotes put back.
            std::string quoted(1, '"');
            quoted.append(raw);
            quoted.push_back('"');
            size_t pos = 0;
            const auto decoded = decode_json_string(quoted, pos);
            match = decoded && *decoded == key;
        }
        if (match) found = c;
    }
    return found;
}

std::vector<int> JsonSpans::children(int node) const {
    std::vector<int> out;
    if (node == kNone) return out;
    for (int c = nodes_[static_cast<size_t>(node)].first_child; c != kNone;
         c = nodes_[static_cast<size_t>(c)].next_sibling) {
        out.push_back(c);
    }
    return out;
}

}  // namespace dstar::chat

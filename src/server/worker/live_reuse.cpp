#include "server/worker/live_reuse.h"

#include <algorithm>
#include <string>

namespace dstar::server::worker {

namespace {

bool token_prefix(std::span<const int32_t> live, std::span<const int32_t> prompt) {
    return live.size() <= prompt.size() && std::equal(live.begin(), live.end(), prompt.begin());
}

// V is a strict byte prefix of T (kvcache.md §2 rules 1 and 5).  An empty V remembers no
// transcript and matches nothing (it would otherwise be a prefix of every prompt).
bool strict_text_prefix(std::string_view visible, std::string_view text) {
    return !visible.empty() && visible.size() < text.size() && text.substr(0, visible.size()) == visible;
}

LiveMatch extended(LiveRule rule, std::span<const int32_t> live, std::string_view suffix, const tok::Tokenizer &tok) {
    LiveMatch m;
    m.rule = rule;
    m.cached = static_cast<uint32_t>(live.size());
    m.effective = extend_with_text(live, suffix, tok);
    return m;
}

}  // namespace

const char *live_rule_label(LiveRule r) {
    switch (r) {
    case LiveRule::None: return "none";
    case LiveRule::ResponsesVisible: return "responses-visible";
    case LiveRule::ResponsesToolOutput: return "responses-tool-output";
    case LiveRule::AnthropicToolOutput: return "anthropic-tool-output";
    case LiveRule::MemoryToken: return "memory-token";
    case LiveRule::ThinkingVisible: return "thinking-visible";
    case LiveRule::MemoryText: return "memory-text";
    }
    return "none";
}

bool live_rule_is_tool_binding(LiveRule r) {
    return r == LiveRule::ResponsesVisible || r == LiveRule::ResponsesToolOutput || r == LiveRule::AnthropicToolOutput;
}

bool live_rule_uses_binding(LiveRule r) { return live_rule_is_tool_binding(r) || r == LiveRule::ThinkingVisible; }

uint32_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
    const size_t n = std::min(a.size(), b.size());
    size_t i = 0;
    while (i < n && a[i] == b[i]) i++;
    return static_cast<uint32_t>(i);
}

std::vector<int32_t> extend_with_text(std::span<const int32_t> exact_prefix, std::string_view suffix_text,
                                      const tok::Tokenizer &tok) {
    std::vector<int32_t> out(exact_prefix.begin(), exact_prefix.end());
    tok.encode_rendered(suffix_text, out);
    return out;
}

LiveMatch match_live(const JobRequest &req, std::span<const int32_t> live, const Binding *binding,
                     const tok::Tokenizer &tok) {
    if (live.empty()) return {};
    const std::string_view text = req.prompt_text;
    using Kind = Binding::Kind;

    // 1. The Responses transcript remembered at this position is a strict prefix of T.
    if (req.api == Api::Responses && binding && binding->kind == Kind::Responses &&
        strict_text_prefix(binding->visible_text, text)) {
        LiveMatch m = extended(LiveRule::ResponsesVisible, live, text.substr(binding->visible_text.size()), tok);
        if (req.tool_tail && binding->call_ids == req.tool_tail->call_ids) m.matched_ids = binding->call_ids.size();
        return m;
    }

    // 2-3. The request's trailing tool outputs answer exactly the binding's calls.
    if (req.tool_tail && !req.tool_tail->call_ids.empty() && binding && binding->call_ids == req.tool_tail->call_ids) {
        const bool responses = req.api == Api::Responses && binding->kind == Kind::Responses;
        const bool anthropic = req.api == Api::Messages && binding->kind == Kind::Anthropic;
        if (responses || anthropic) {
            LiveMatch m = extended(responses ? LiveRule::ResponsesToolOutput : LiveRule::AnthropicToolOutput, live,
                                   req.tool_tail->text, tok);
            m.matched_ids = binding->call_ids.size();
            return m;
        }
    }

    // 4. The live tokens are a token prefix of P.
    if (token_prefix(live, req.prompt_tokens)) {
        LiveMatch m;
        m.rule = LiveRule::MemoryToken;
        m.cached = static_cast<uint32_t>(live.size());
        m.effective = req.prompt_tokens;
        return m;
    }

    // 5. Chat-style requests (not Responses, not legacy completions) after a tool-less
    //    thinking turn: the visible rendering of that turn is a strict prefix of T.
    if ((req.api == Api::Chat || req.api == Api::Messages) && binding && binding->kind == Kind::Thinking &&
        strict_text_prefix(binding->visible_text, text))
        return extended(LiveRule::ThinkingVisible, live, text.substr(binding->visible_text.size()), tok);

    // 6. The live tokens spell a byte prefix of T.
    const std::string live_text = tok.decode(live);
    if (live_text.size() <= text.size() && text.substr(0, live_text.size()) == live_text)
        return extended(LiveRule::MemoryText, live, text.substr(live_text.size()), tok);

    return {};
}

std::optional<ForkMatch> match_fork(const JobRequest &req, std::span<const int32_t> live, uint32_t min_tokens,
                                    const tok::Tokenizer &tok) {
    if (live.empty() || live.size() < min_tokens) return std::nullopt;
    ForkMatch f;
    f.cached = static_cast<uint32_t>(live.size());
    if (token_prefix(live, req.prompt_tokens)) {
        f.effective = req.prompt_tokens;
        return f;
    }
    const std::string live_text = tok.decode(live);
    const std::string_view text = req.prompt_text;
    if (live_text.size() <= text.size() && text.substr(0, live_text.size()) == live_text) {
        f.effective = extend_with_text(live, text.substr(live_text.size()), tok);
        return f;
    }
    return std::nullopt;
}

}  // namespace dstar::server::worker

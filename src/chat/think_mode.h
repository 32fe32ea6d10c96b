// Thinking modes (spec prompt.md section 2): names, the Think Max context gate and the
// request-level controls that select a mode.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dstar::chat {

enum class ThinkMode { None, High, Max };

// DeepSeek recommends Think Max only with >= 384 Ki tokens of context; below that ds4 silently
// renders plain thinking instead.
inline constexpr int64_t kThinkMaxMinContext = 393216;

// "none", "high", "max".
const char *think_mode_name(ThinkMode mode);
// Inverse of think_mode_name; nullopt for any other string.
std::optional<ThinkMode> think_mode_from_name(std::string_view name);
// HIGH and MAX both make the model write reasoning first.
bool think_enabled(ThinkMode mode);
// The mode actually rendered for a session with ctx_size tokens of context.
ThinkMode think_mode_for_context(ThinkMode mode, int64_t ctx_size);

// reasoning_effort names: "max" -> Max; "xhigh", "high", "medium", "low", "minimal" -> High;
// "none" -> None; anything else -> nullopt (the request must be rejected).
std::optional<ThinkMode> parse_reasoning_effort(std::string_view effort);

// Accumulates the thinking controls of one request, in whatever order its fields come, and
// resolves them the way ds4 does (spec 2.3).
struct ThinkControls {
    bool explicit_control = false;  // a "thinking"/"think"/Responses effort field was present
    bool enabled = true;
    ThinkMode effort = ThinkMode::High;

    // Final requested mode (before the context gate); model aliases apply only when no
    // explicit control was given.
    ThinkMode resolve(std::string_view model) const;
};

}  // namespace dstar::chat

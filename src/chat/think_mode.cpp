#include "chat/think_mode.h"

namespace dstar::chat {

const char *think_mode_name(ThinkMode mode) {
    switch (mode) {
    case ThinkMode::None: return "none";
    case ThinkMode::High: return "high";
    case ThinkMode::Max: return "max";
    }
    return "unknown";
}

std::optional<ThinkMode> think_mode_from_name(std::string_view name) {
    if (name == "none") return ThinkMode::None;
    if (name == "high") return ThinkMode::High;
    if (name == "max") return ThinkMode::Max;
    return std::nullopt;
}

bool think_enabled(ThinkMode mode) { return mode == ThinkMode::High || mode == ThinkMode::Max; }

ThinkMode think_mode_for_context(ThinkMode mode, int64_t ctx_size) {
    if (mode == ThinkMode::Max && (ctx_size > 0 ? ctx_size : 0) < kThinkMaxMinContext) {
        return ThinkMode::High;
    }
    return mode;
}

std::optional<ThinkMode> parse_reasoning_effort(std::string_view effort) {
    if (effort == "max") return ThinkMode::Max;
    // ds4 has no level between NONE and HIGH, so every lower effort collapses to HIGH; a
    // client that wants no reasoning must say "none".
    if (effort == "xhigh" || effort == "high" || effort == "medium" || effort == "low" ||
        effort == "minimal") {
        return ThinkMode::High;
    }
    if (effort == "none") return ThinkMode::None;
    return std::nullopt;
}

ThinkMode ThinkControls::resolve(std::string_view model) const {
    bool on = enabled;
    if (!explicit_control && model == "deepseek-chat") on = false;
    if (!explicit_control && model == "deepseek-reasoner") on = true;
    if (!on || effort == ThinkMode::None) return ThinkMode::None;
    return effort == ThinkMode::Max ? ThinkMode::Max : ThinkMode::High;
}

}  // namespace dstar::chat

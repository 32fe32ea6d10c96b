// The fixed strings of the DeepSeek V4 chat format as ds4 renders them (spec sections 1, 2.2,
// 3.1 and 5.2).  Everything here is byte-exact: prompts built from these strings must match
// ds4's so that KV caches and token counts agree.
#pragma once

#include <string_view>

namespace dstar::chat {

// The 7 control strings that the rendered-chat tokenizer turns into single special tokens.
inline constexpr std::string_view kBos = "<｜begin▁of▁sentence｜>";
inline constexpr std::string_view kEos = "<｜end▁of▁sentence｜>";
inline constexpr std::string_view kUser = "<｜User｜>";
inline constexpr std::string_view kAssistant = "<｜Assistant｜>";
inline constexpr std::string_view kThinkOpen = "<think>";
inline constexpr std::string_view kThinkClose = "</think>";
inline constexpr std::string_view kDsml = "｜DSML｜";

// Tool results are wrapped in these (plain text, not special tokens).
inline constexpr std::string_view kToolResultOpen = "<tool_result>";
inline constexpr std::string_view kToolResultClose = "</tool_result>";

// Think Max prompt prefix, inserted right after BOS (476 bytes, ends with a blank line).
std::string_view think_max_prefix();
// Tool prompt text placed before / after the newline-joined schema lines.
std::string_view tools_prompt_head();
std::string_view tools_prompt_tail();

// The CLI's default system prompt and the fixed system text of /v1/completions (no period).
inline constexpr std::string_view kDefaultSystemPrompt = "You are a helpful assistant";

}  // namespace dstar::chat

// Rendering a normalised conversation into the prompt text ds4 tokenizes (spec 4.1-4.3, 4.4
// for /v1/completions, 5 and 7).  The output is tokenized with the rendered-chat encoder, so
// every special string in it becomes a special token.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "chat/conversation.h"
#include "chat/think_mode.h"

namespace dstar::chat {

// Tool memory lookup (spec 7.1): the exact sampled DSML block stored for a call id, if known.
using ToolReplayLookup = std::function<std::optional<std::string>(const std::string &call_id)>;

// The block to emit verbatim for m's calls: m.raw_dsml if set and non-empty, else the lookup's
// block when every call id of m is known and all map to the same block; nullopt otherwise
// (the canonical form is then used).
std::optional<std::string> exact_replay_block(const Message &m, const ToolReplayLookup &replay);

// True when past reasoning is kept in thinking mode: tools are active, or the history has an
// assistant tool call or a tool/function message.
bool history_uses_tool_context(const Conversation &conv);

// The full prompt for a chat request.  `mode` is the effective mode, i.e. after the context
// gate (think_mode_for_context); conv.think_mode is not consulted.
std::string render_chat_prompt(const Conversation &conv, ThinkMode mode,
                               const ToolReplayLookup &replay = {});

// The /v1/completions template: BOS [MAX_PREFIX] "You are a helpful assistant" USER prompt
// ASSISTANT <think>|</think>.
std::string render_completion_prompt(std::string_view prompt, ThinkMode mode);

// What a live tool-result continuation appends to a KV state that already holds the previous
// assistant turn: EOS, then messages[start..] rendered as in render_chat_prompt except that
// assistant turns always keep their reasoning in thinking mode, then the generation prefix if
// the tail ends with a user/tool turn.
std::string render_live_tool_tail(const Conversation &conv, size_t start, ThinkMode mode,
                                  const ToolReplayLookup &replay = {});

}  // namespace dstar::chat

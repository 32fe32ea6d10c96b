// Normalising API requests into a Conversation (spec 2.3, 4.4, 5.1).
//
// Each parser takes the parsed request and, ideally, the raw body text it came from: ds4
// puts some client JSON into the prompt byte for byte (tool schemas, non-string tool-call
// arguments, Anthropic tool inputs, non-string tool outputs), which nlohmann cannot give back
// after parsing.  Without a raw body those values are re-serialised compactly, which matches
// only for clients that send compact JSON with no escapes (and nlohmann::json sorts keys).
//
// The returned think_mode is the requested mode; apply think_mode_for_context() with the
// session's context size before rendering.  Invalid requests throw dstar::Error naming the
// offending field.  Tool memory (exact DSML replay) is applied at render time.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "chat/conversation.h"

namespace dstar::chat {

// POST /v1/chat/completions
Conversation parse_openai_chat(const nlohmann::json &request, std::string_view raw_body = {});
Conversation parse_openai_chat_body(std::string_view body);

// POST /v1/messages (Anthropic)
Conversation parse_anthropic_messages(const nlohmann::json &request, std::string_view raw_body = {});
Conversation parse_anthropic_messages_body(std::string_view body);

// POST /v1/responses
Conversation parse_openai_responses(const nlohmann::json &request, std::string_view raw_body = {});
Conversation parse_openai_responses_body(std::string_view body);

// POST /v1/completions.  The conversation is [system "You are a helpful assistant",
// user prompt], which render_chat_prompt renders exactly like render_completion_prompt.
Conversation parse_completions(const nlohmann::json &request, std::string_view raw_body = {});
Conversation parse_completions_body(std::string_view body);

}  // namespace dstar::chat

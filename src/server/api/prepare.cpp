#include "server/api/prepare.h"

#include <map>

#include "chat/render.h"
#include "chat/request.h"
#include "chat/request_json.h"
#include "common/error.h"
#include "server/api/tool_tail.h"
#include "server/api/utf8_check.h"

namespace dstar::server::api {
namespace {

struct ParsedBody {
    nlohmann::json json;
    chat::Conversation conv;
};

// The chat parsers name the offending field; ds4's clients know the "invalid JSON request"
// prefix, so field errors get it and the messages ds4 words its own way keep their text.
std::string request_error_message(const std::string &what) {
    if (what.starts_with("invalid JSON request") || what.starts_with("missing ") ||
        what.find("not supported") != std::string::npos) {
        return what;
    }
    return "invalid JSON request: " + what;
}

std::optional<ApiError> parse_body(Api api, std::string_view body, ParsedBody &out) {
    if (const size_t bad = invalid_utf8_offset(body); bad != std::string_view::npos) {
        return bad_request(strformat("invalid UTF-8 in the request body at byte %zu", bad));
    }
    try {
        out.json = chat::parse_request_body(body);
        switch (api) {
        case Api::Chat: out.conv = chat::parse_openai_chat(out.json, body); break;
        case Api::Completions: out.conv = chat::parse_completions(out.json, body); break;
        case Api::Responses: out.conv = chat::parse_openai_responses(out.json, body); break;
        case Api::Messages: out.conv = chat::parse_anthropic_messages(out.json, body); break;
        }
    } catch (const Error &e) {
        return bad_request(request_error_message(e.what()));
    } catch (const nlohmann::json::exception &e) {
        return bad_request(std::string("invalid JSON request: ") + e.what());
    }
    return std::nullopt;
}

std::optional<ApiError> check_model_and_messages(Api api, const chat::Conversation &conv, const PrepareEnv &env) {
    if (!env.models->accepts(conv.model)) return model_not_found(conv.model);
    if (conv.messages.empty()) return bad_request(api == Api::Responses ? "missing input" : "missing messages");
    return std::nullopt;
}

// Exact DSML replay for one request (kvcache.md §9): restores ids the memory lacks from the
// disk cache's trailers, then fixes the block of every known id for the renderer, counting
// how each history turn with tool calls will be rendered.
class ReplayTable {
public:
    ReplayTable(const chat::Conversation &conv, kvcache::ToolMemory *memory, kvcache::DiskCache *disk) {
        if (!memory) {
            for (const chat::Message &m : conv.messages) {
                if (m.role == "assistant" && !m.tool_calls.empty()) stats.canonical++;
            }
            return;
        }
        if (disk && disk->enabled()) restore_missing(conv, *memory, *disk);
        for (const chat::Message &m : conv.messages) {
            if (m.role != "assistant" || m.tool_calls.empty()) continue;
            bool all_found = true, from_disk = false;
            const std::string *first_block = nullptr;
            bool same_block = true;
            for (const chat::ToolCall &c : m.tool_calls) {
                auto found = c.id.empty() ? std::nullopt : memory->lookup(c.id);
                if (!found) {
                    all_found = false;
                    stats.missing_ids++;
                    continue;
                }
                from_disk |= found->origin == kvcache::ToolMemory::Origin::Disk;
                const std::string &block = blocks_[c.id] = std::move(found->block);
                if (first_block && *first_block != block) same_block = false;
                if (!first_block) first_block = &block;
            }
            if (all_found && same_block) (from_disk ? stats.disk : stats.mem)++;
            else stats.canonical++;
        }
    }

    chat::ToolReplayLookup lookup() const {
        return [this](const std::string &id) -> std::optional<std::string> {
            auto it = blocks_.find(id);
            if (it == blocks_.end()) return std::nullopt;
            return it->second;
        };
    }

    ToolReplayStats stats;

private:
    std::map<std::string, std::string> blocks_;

    static void restore_missing(const chat::Conversation &conv, kvcache::ToolMemory &memory, kvcache::DiskCache &disk) {
        std::vector<std::string> missing;
        auto want = [&](const std::string &id) {
            if (!id.empty() && !memory.contains(id)) missing.push_back(id);
        };
        for (const chat::Message &m : conv.messages) {
            for (const chat::ToolCall &c : m.tool_calls) want(c.id);
            for (const std::string &id : m.tool_call_ids) want(id);
        }
        // Scanning the trailers costs one pass over the cache directory: only when some id is
        // not in RAM already.
        if (!missing.empty()) disk.restore_tool_ids(missing, memory);
    }
};

const char *context_param(Api api) {
    switch (api) {
    case Api::Chat: return "messages";
    case Api::Completions: return "prompt";
    case Api::Responses: return "input";
    case Api::Messages: return "";
    }
    return "";
}

}  // namespace

Prepared prepare_request(Api api, std::string_view body, const PrepareEnv &env) {
    Prepared out;
    ParsedBody parsed;
    if ((out.error = parse_body(api, body, parsed))) return out;
    PreparedRequest &r = out.request;
    try {
        r.params = parse_gen_params(api, parsed.json);
    } catch (const Error &e) {
        out.error = bad_request(request_error_message(e.what()));
        return out;
    }
    chat::Conversation &conv = parsed.conv;
    if ((out.error = check_model_and_messages(api, conv, env))) return out;
    const chat::ThinkMode mode = chat::think_mode_for_context(conv.think_mode, env.ctx);

    // A tool output must answer a call replayed in this request or one a live slot still holds.
    chat::ToolResultCheck check;
    if (api == Api::Responses) check = chat::check_responses_tool_outputs(conv, mode, env.live_call);
    else if (api == Api::Messages) check = chat::check_anthropic_tool_results(conv, env.live_call);
    if (!check.ok) {
        out.error = bad_request(check.error);
        return out;
    }

    ReplayTable replay(conv, env.memory, env.disk);
    r.replay = replay.stats;
    JobRequest &job = r.job;
    job.prompt_text = chat::render_chat_prompt(conv, mode, replay.lookup());
    job.prompt_tokens = env.tokenizer->encode_rendered(job.prompt_text);
    if (job.prompt_tokens.size() >= env.ctx) {
        out.error = context_length_error(static_cast<int64_t>(job.prompt_tokens.size()), env.ctx, context_param(api));
        return out;
    }
    job.tool_tail = tool_output_tail(api, conv, mode, replay.lookup());
    job.requires_live_tool_state = check.requires_live_tool_state;
    job.api = api;
    job.mode = mode;
    job.tools = conv.has_tools();
    job.sampling = r.params.sampling;
    apply_thinking_override(job.sampling, mode);
    job.max_tokens = r.params.max_tokens.value_or(env.default_max_tokens);
    job.stop = r.params.stop;
    job.stream = r.params.stream;
    job.conv = std::move(conv);
    return out;
}

TokenCount count_prompt_tokens(std::string_view body, const PrepareEnv &env) {
    TokenCount out;
    ParsedBody parsed;
    if ((out.error = parse_body(Api::Messages, body, parsed))) return out;
    if ((out.error = check_model_and_messages(Api::Messages, parsed.conv, env))) return out;
    const chat::ThinkMode mode = chat::think_mode_for_context(parsed.conv.think_mode, env.ctx);
    ReplayTable replay(parsed.conv, env.memory, env.disk);
    const std::string prompt = chat::render_chat_prompt(parsed.conv, mode, replay.lookup());
    out.tokens = static_cast<uint32_t>(env.tokenizer->encode_rendered(prompt).size());
    return out;
}

}  // namespace dstar::server::api

#include "server/api/trace_report.h"

#include "chat/dsml_syntax.h"
#include "common/error.h"

namespace dstar::server::api {
namespace {

const char *bit(bool b) { return b ? "1" : "0"; }

}  // namespace

void trace_request(TraceRecord &rec, const JobRequest &job, const GenParams &params, const ToolReplayStats &replay,
                   std::string_view raw_body) {
    rec.line("api", api_name(job.api));
    rec.line("kind", job.api == Api::Completions ? "completion" : "chat");
    rec.line("model", job.conv.model);
    rec.line("stream", bit(job.stream));
    rec.line("tools", bit(job.tools));
    rec.line("think_mode", chat::think_mode_name(job.mode));
    rec.line("prompt_tokens", std::to_string(job.prompt_tokens.size()));
    rec.line("max_tokens", std::to_string(job.max_tokens));
    rec.line("temperature", strformat("%.3f", static_cast<double>(job.sampling.temperature)));
    rec.line("top_k", std::to_string(job.sampling.top_k));
    rec.line("top_p", strformat("%.3f", static_cast<double>(job.sampling.top_p)));
    rec.line("min_p", strformat("%.3f", static_cast<double>(job.sampling.min_p)));
    rec.line("seed", std::to_string(job.sampling.seed));
    rec.line("stream_include_usage", bit(params.include_usage));
    rec.line("requires_live_tool_state", bit(job.requires_live_tool_state));
    if (job.tool_tail) rec.line("tool_output_tail_ids", std::to_string(job.tool_tail->call_ids.size()));
    rec.line("tool_replay", strformat("mem=%u disk=%u canonical=%u missing_ids=%u", replay.mem, replay.disk,
                                      replay.canonical, replay.missing_ids));
    rec.section("raw request json");
    rec.text(raw_body);
    rec.section("rendered prompt");
    rec.text(job.prompt_text);
    rec.text("\n");
}

void trace_reply(TraceRecord &rec, const JobResult &result, const FinalReply &reply, double elapsed_s) {
    if (reply.recovered) {
        rec.event(strformat("invalid tool call returned as assistant text finish=%s (%s)", finish_name(reply.finish),
                            reply.parse_error.c_str()));
    } else if (!reply.parse_note.empty()) {
        rec.event("tool call parsed leniently: " + reply.parse_note);
    }
    rec.section("parsed message");
    rec.line("finish", finish_name(reply.finish));
    if (reply.finish == Finish::Error && !reply.error.empty()) rec.line("error", reply.error);
    rec.line("generated_tokens", std::to_string(result.generated_tokens));
    rec.line("effective_prompt_tokens", std::to_string(result.prompt_tokens));
    rec.line("cached_tokens", std::to_string(result.cached_tokens));
    rec.line("cache_source", result.cache_source.empty() ? "none" : result.cache_source);
    rec.line("dsml_start", bit(chat::find_any_tool_calls_start(reply.text).has_value()));
    rec.line("dsml_end", bit(chat::find_any_tool_calls_end(reply.text).has_value()));
    rec.line("elapsed_sec", strformat("%.3f", elapsed_s));
    if (!reply.reasoning.empty()) {
        rec.text("\nreasoning:\n");
        rec.text(reply.reasoning);
        rec.text("\n");
    }
    if (!reply.content.empty()) {
        rec.text("\ncontent:\n");
        rec.text(reply.content);
        rec.text("\n");
    }
    for (size_t i = 0; i < reply.calls.size(); i++) {
        rec.text(strformat("\ntool_call[%zu]:\n", i));
        rec.line("id", reply.calls[i].id);
        rec.line("name", reply.calls[i].name);
        rec.text("arguments:\n");
        rec.text(reply.calls[i].arguments);
        rec.text("\n");
    }
}

}  // namespace dstar::server::api

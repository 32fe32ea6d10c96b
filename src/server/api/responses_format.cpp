// POST /v1/responses replies (spec server.md §10.3-§10.5): output items (reasoning summary,
// message, function calls) and the streamed event lifecycle with sequence numbers.
#include "chat/stream_splitter.h"
#include "server/api/ids.h"
#include "server/api/reply_format.h"

namespace dstar::server::api::detail {
namespace {

Json responses_usage(const Usage &u) {
    return Json{{"input_tokens", u.prompt},
                {"input_tokens_details", Json{{"cached_tokens", u.cached}, {"cache_write_tokens", u.written()}}},
                {"output_tokens", u.generated},
                {"output_tokens_details", Json{{"reasoning_tokens", 0}}},
                {"total_tokens", u.prompt + u.generated}};
}

Json reasoning_item(const std::string &id, const char *status, const std::string &text) {
    Json summary = Json::array();
    if (!text.empty()) summary.push_back(Json{{"type", "summary_text"}, {"text", text}});
    return Json{{"id", id}, {"type", "reasoning"}, {"status", status}, {"summary", std::move(summary)}};
}

Json output_text_part(const std::string &text) {
    return Json{{"type", "output_text"}, {"text", text}, {"annotations", Json::array()}};
}

Json message_item(const std::string &id, const char *status, const std::string *text) {
    Json content = Json::array();
    if (text) content.push_back(output_text_part(*text));
    return Json{{"id", id}, {"type", "message"}, {"status", status}, {"role", "assistant"}, {"content", std::move(content)}};
}

// How the client knows a tool the model called by its prompt name.
const chat::ToolSpec *spec_for(const std::vector<chat::ToolSpec> &specs, const std::string &prompt_name) {
    for (const chat::ToolSpec &s : specs) {
        if (s.prompt_name == prompt_name) return &s;
    }
    return nullptr;
}

// A function_call (or hosted tool_search_call) item.  final_form false: the in-progress form
// of a function call ("arguments":"").
Json call_item(const std::vector<chat::ToolSpec> &specs, const ReplyToolCall &c, const std::string &item_id,
               const char *status, bool final_form) {
    const chat::ToolSpec *spec = spec_for(specs, c.name);
    if (spec && spec->tool_search) {
        return Json{{"id", item_id},
                    {"type", "tool_search_call"},
                    {"status", status},
                    {"call_id", c.id},
                    {"execution", "client"},
                    {"arguments", parse_arguments_object(c.arguments)}};
    }
    Json item{{"id", item_id}, {"type", "function_call"}, {"status", status}};
    item["name"] = spec && !spec->wire_name.empty() ? spec->wire_name : c.name;
    if (spec && !spec->ns.empty()) item["namespace"] = spec->ns;
    item["call_id"] = c.id;
    item["arguments"] = final_form ? c.arguments : "";
    return item;
}

bool is_tool_search(const std::vector<chat::ToolSpec> &specs, const ReplyToolCall &c) {
    const chat::ToolSpec *spec = spec_for(specs, c.name);
    return spec && spec->tool_search;
}

// The response object; output as built by the caller.
Json response_object(const ReplySetup &s, const char *status, Json output, const FinalReply *r) {
    Json o{{"id", s.id}, {"object", "response"}, {"created_at", s.created}, {"status", status}, {"model", s.model}};
    if (r && r->finish == Finish::Error) o["error"] = Json{{"code", "server_error"}, {"message", "generation failed"}};
    if (r && r->finish == Finish::Length) o["incomplete_details"] = Json{{"reason", "max_tokens"}};
    o["output"] = std::move(output);
    if (r) o["usage"] = responses_usage(r->usage);
    return o;
}

class ResponsesStream final : public StreamEncoder {
public:
    ResponsesStream(const ReplySetup &s, CallIdSource &ids)
        : s_(s), ids_(ids), splitter_(s.thinking, s.tools, false), reasoning_id_(random_id("rs_", 12)),
          message_id_(random_id("msg_", 12)) {}

    std::string start(const Usage &) override {
        return event("response.created", Json{{"response", response_object(s_, "in_progress", Json::array(), nullptr)}});
    }

    std::string text(std::string_view all) override {
        std::string out = encode(splitter_.update(all));
        if (!think_closed_) think_closed_ = scan_think_close(all);
        return out;
    }

    FinalReply finalize(const JobResult &done, std::string_view final_text) override {
        pending_ = encode(splitter_.update(final_text, true));
        if (!think_closed_) think_closed_ = scan_think_close(final_text);
        // Tool calls are not streamed on this endpoint: no ids were sent yet.
        FinalReply reply = chat_reply(done, final_text, s_.thinking, {}, ids_);
        if (reply.recovered) {
            const size_t start = visible_text_start(final_text, s_.thinking);
            if (start != std::string_view::npos && start + message_text_.size() < final_text.size()) {
                recovered_text_ = std::string(final_text.substr(start + message_text_.size()));
            }
        }
        return reply;
    }

    std::string finish(const FinalReply &reply) override {
        std::string out = std::move(pending_);
        const char *item_status = responses_item_status(reply.finish);
        Json output = Json::array();
        // The reasoning item closes at the end, after the message deltas (as ds4).
        if (reasoning_index_ >= 0) {
            const Json ids{{"item_id", reasoning_id_}, {"output_index", reasoning_index_}, {"summary_index", 0}};
            Json done = ids;
            done["text"] = reasoning_text_;
            out += event("response.reasoning_summary_text.done", done);
            Json part = ids;
            part["part"] = Json{{"type", "summary_text"}, {"text", reasoning_text_}};
            out += event("response.reasoning_summary_part.done", part);
            Json item = reasoning_item(reasoning_id_, think_closed_ ? "completed" : "incomplete", reasoning_text_);
            out += event("response.output_item.done", Json{{"output_index", reasoning_index_}, {"item", item}});
            output.push_back(std::move(item));
        }
        if (!recovered_text_.empty()) out += message_delta(recovered_text_);
        if (message_index_ >= 0) {
            const Json ids{{"item_id", message_id_}, {"output_index", message_index_}, {"content_index", 0}};
            Json done = ids;
            done["text"] = message_text_;
            out += event("response.output_text.done", done);
            Json part = ids;
            part["part"] = output_text_part(message_text_);
            out += event("response.content_part.done", part);
            Json item = message_item(message_id_, item_status, &message_text_);
            out += event("response.output_item.done", Json{{"output_index", message_index_}, {"item", item}});
            output.push_back(std::move(item));
        }
        for (const ReplyToolCall &c : reply.calls) {
            const int index = next_index_++;
            const std::string item_id = random_id("fc_", 12);
            const bool tool_search = is_tool_search(s_.tool_specs, c);
            out += event("response.output_item.added",
                         Json{{"output_index", index}, {"item", call_item(s_.tool_specs, c, item_id, "in_progress", false)}});
            Json item = call_item(s_.tool_specs, c, item_id, item_status, true);
            if (!tool_search) {
                out += event("response.function_call_arguments.delta",
                             Json{{"item_id", item_id}, {"output_index", index}, {"delta", c.arguments}});
                Json done{{"item_id", item_id}, {"output_index", index}, {"name", item["name"]}};
                if (item.contains("namespace")) done["namespace"] = item["namespace"];
                done["arguments"] = c.arguments;
                out += event("response.function_call_arguments.done", done);
            }
            out += event("response.output_item.done", Json{{"output_index", index}, {"item", item}});
            output.push_back(std::move(item));
        }
        const char *status = responses_status(reply.finish);
        const char *terminal = reply.finish == Finish::Length  ? "response.incomplete"
                               : reply.finish == Finish::Error ? "response.failed"
                                                               : "response.completed";
        out += event(terminal, Json{{"response", response_object(s_, status, std::move(output), &reply)}});
        return out;
    }

    std::string keepalive() const override { return ": prefill\n\n"; }

private:
    const ReplySetup s_;
    CallIdSource &ids_;
    chat::StreamSplitter splitter_;
    const std::string reasoning_id_, message_id_;
    uint64_t seq_ = 0;
    int next_index_ = 0;
    int reasoning_index_ = -1, message_index_ = -1;
    std::string reasoning_text_, message_text_, recovered_text_;
    bool think_closed_ = false;
    size_t think_scan_ = 0;
    std::string pending_;

    // Every event carries "type" then "sequence_number" first.
    std::string event(const char *type, const Json &fields) {
        Json e{{"type", type}, {"sequence_number", seq_++}};
        for (auto it = fields.begin(); it != fields.end(); ++it) e[it.key()] = it.value();
        return sse_data(e);
    }

    bool scan_think_close(std::string_view all) {
        static constexpr std::string_view kClose = "</think>";
        const size_t from = think_scan_;
        think_scan_ = all.size() >= kClose.size() ? all.size() - kClose.size() + 1 : 0;
        return s_.thinking && all.find(kClose, from) != std::string_view::npos;
    }

    std::string message_delta(const std::string &text) {
        std::string out;
        if (message_index_ < 0) {
            message_index_ = next_index_++;
            out += event("response.output_item.added",
                         Json{{"output_index", message_index_}, {"item", message_item(message_id_, "in_progress", nullptr)}});
            out += event("response.content_part.added", Json{{"item_id", message_id_},
                                                             {"output_index", message_index_},
                                                             {"content_index", 0},
                                                             {"part", output_text_part("")}});
        }
        message_text_ += text;
        return out + event("response.output_text.delta", Json{{"item_id", message_id_},
                                                               {"output_index", message_index_},
                                                               {"content_index", 0},
                                                               {"delta", text}});
    }

    std::string reasoning_delta(const std::string &text) {
        std::string out;
        if (reasoning_index_ < 0) {
            reasoning_index_ = next_index_++;
            out += event("response.output_item.added",
                         Json{{"output_index", reasoning_index_}, {"item", reasoning_item(reasoning_id_, "in_progress", "")}});
            out += event("response.reasoning_summary_part.added",
                         Json{{"item_id", reasoning_id_},
                              {"output_index", reasoning_index_},
                              {"summary_index", 0},
                              {"part", Json{{"type", "summary_text"}, {"text", ""}}}});
        }
        reasoning_text_ += text;
        return out + event("response.reasoning_summary_text.delta", Json{{"item_id", reasoning_id_},
                                                                          {"output_index", reasoning_index_},
                                                                          {"summary_index", 0},
                                                                          {"delta", text}});
    }

    std::string encode(const std::vector<chat::StreamEvent> &events) {
        std::string out;
        for (const chat::StreamEvent &ev : events) {
            if (ev.kind == chat::StreamEvent::Kind::Reasoning) {
                // Reasoning is generated either way but only sent to clients that asked.
                if (s_.reasoning_summary) out += reasoning_delta(ev.text);
            } else if (ev.kind == chat::StreamEvent::Kind::Content) {
                out += message_delta(ev.text);
            }
        }
        return out;
    }
};

}  // namespace

std::string responses_json(const ReplySetup &s, const FinalReply &r) {
    const char *item_status = responses_item_status(r.finish);
    Json output = Json::array();
    if (s.reasoning_summary && s.thinking && !r.reasoning.empty()) {
        output.push_back(reasoning_item(random_id("rs_", 12), item_status, r.reasoning));
    }
    if (!r.content.empty()) output.push_back(message_item(random_id("msg_", 12), item_status, &r.content));
    for (const ReplyToolCall &c : r.calls) output.push_back(call_item(s.tool_specs, c, random_id("fc_", 12), item_status, true));
    return dump_json(response_object(s, responses_status(r.finish), std::move(output), &r));
}

std::unique_ptr<StreamEncoder> responses_stream(const ReplySetup &s, CallIdSource &ids) {
    return std::make_unique<ResponsesStream>(s, ids);
}

}  // namespace dstar::server::api::detail

#include "server/job.h"

namespace dstar::server {

const char *api_name(Api a) {
    switch (a) {
    case Api::Chat: return "chat";
    case Api::Completions: return "completions";
    case Api::Responses: return "responses";
    case Api::Messages: return "messages";
    }
    return "?";
}

const char *finish_name(Finish f) {
    switch (f) {
    case Finish::Stop: return "stop";
    case Finish::ToolCalls: return "tool_calls";
    case Finish::Length: return "length";
    case Finish::Error: return "error";
    }
    return "?";
}

void JobHandle::push(JobEvent ev) {
    {
        std::lock_guard<std::mutex> lk(mu_);
        events_.push_back(std::move(ev));
    }
    cv_.notify_one();
}

std::optional<JobEvent> JobHandle::next(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lk(mu_);
    if (!cv_.wait_for(lk, timeout, [&] { return !events_.empty(); })) return std::nullopt;
    JobEvent ev = std::move(events_.front());
    events_.pop_front();
    return ev;
}

}  // namespace dstar::server

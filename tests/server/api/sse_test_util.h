// Parsing of server-sent event streams in the server tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace dstar::server::api::test {

struct SseEvent {
    std::string event;     // "event:" line, "" if none
    bool comment = false;  // a ": ..." keepalive
    std::string data;
    nlohmann::json j;      // parsed data (null for comments and [DONE])
};

// The events of `bytes`.  An incomplete last event (a stream that was cut) is dropped;
// `strict` (encoder output, which is never cut) makes it and any line that is not an
// event, data or comment line a test failure.
inline std::vector<SseEvent> parse_sse(std::string_view bytes, bool strict = false) {
    std::vector<SseEvent> out;
    while (!bytes.empty()) {
        const size_t end = bytes.find("\n\n");
        if (strict) {
            EXPECT_NE(end, std::string_view::npos) << "unterminated SSE event: " << bytes;
        }
        if (end == std::string_view::npos) break;
        std::string_view block = bytes.substr(0, end);
        bytes.remove_prefix(end + 2);
        SseEvent ev;
        while (!block.empty()) {
            const size_t le = std::min(block.find('\n'), block.size());
            const std::string_view line = block.substr(0, le);
            block.remove_prefix(std::min(le + 1, block.size()));
            if (line.starts_with("event: ")) ev.event = std::string(line.substr(7));
            else if (line.starts_with("data: ")) ev.data = std::string(line.substr(6));
            else if (line.starts_with(":")) ev.comment = true;
            else if (strict) ADD_FAILURE() << "unexpected SSE line: " << line;
        }
        if (!ev.data.empty() && ev.data != "[DONE]") ev.j = nlohmann::json::parse(ev.data);
        out.push_back(std::move(ev));
    }
    return out;
}

}  // namespace dstar::server::api::test

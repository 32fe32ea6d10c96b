// Server log lines on stderr, each prefixed "MMDD HH:MM:SS " like ds4-server's, written whole
// (one write per line) so that lines from concurrent threads never interleave.
#pragma once

#include <string>

namespace dstar::server::api {

// "MMDD HH:MM:SS " for the current local time.
std::string log_timestamp();

// Writes timestamp + line + '\n' to stderr.
void log_line(const std::string &line);

}  // namespace dstar::server::api

#include "server/api/log.h"

#include <cstdio>
#include <ctime>
#include <mutex>

namespace dstar::server::api {

std::string log_timestamp() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%m%d %H:%M:%S ", &tm);
    return buf;
}

void log_line(const std::string &line) {
    static std::mutex mu;
    const std::string text = log_timestamp() + line + "\n";
    std::lock_guard<std::mutex> lk(mu);
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
}

}  // namespace dstar::server::api

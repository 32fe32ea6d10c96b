#include "server/trace.h"

#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/error.h"

namespace dstar::server {

TraceRecord::TraceRecord(uint64_t number) : number_(number) {}

void TraceRecord::line(std::string_view key, std::string_view value) {
    std::lock_guard<std::mutex> lk(mu_);
    buf_.append(key).append(": ").append(value).append("\n");
}

void TraceRecord::text(std::string_view s) {
    std::lock_guard<std::mutex> lk(mu_);
    buf_.append(s);
}

void TraceRecord::section(std::string_view name) {
    std::lock_guard<std::mutex> lk(mu_);
    buf_.append("\n--- ").append(name).append(" ---\n");
}

void TraceRecord::event(std::string_view what) {
    std::lock_guard<std::mutex> lk(mu_);
    buf_.append("\n\n--- trace: ").append(what).append(" ---\n\n");
}

std::string TraceRecord::take() {
    std::lock_guard<std::mutex> lk(mu_);
    std::string s;
    s.swap(buf_);
    return s;
}

Trace::Trace(const std::string &path) {
    f_ = std::fopen(path.c_str(), "w");
    if (!f_) throw Error("cannot open trace file " + path + ": " + std::strerror(errno));
    std::setvbuf(f_, nullptr, _IONBF, 0);
}

Trace::~Trace() {
    if (f_) std::fclose(f_);
}

std::shared_ptr<TraceRecord> Trace::begin(uint64_t number) {
    auto rec = std::make_shared<TraceRecord>(number);
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
    rec->text("===== request " + std::to_string(number) + " " + date + " =====\n");
    return rec;
}

void Trace::finish(TraceRecord &rec) {
    std::string block = rec.take();
    block += "\n===== end request " + std::to_string(rec.number()) + " =====\n\n";
    std::lock_guard<std::mutex> lk(mu_);
    std::fwrite(block.data(), 1, block.size(), f_);
}

std::string trace_escape(std::string_view s) {
    std::string o;
    for (unsigned char c : s) {
        switch (c) {
        case '"': o += "\\\""; break;
        case '\\': o += "\\\\"; break;
        case '\n': o += "\\n"; break;
        case '\r': o += "\\r"; break;
        case '\t': o += "\\t"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                char b[8];
                std::snprintf(b, sizeof b, "\\x%02X", c);
                o += b;
            } else {
                o += char(c);
            }
        }
    }
    return o;
}

}  // namespace dstar::server

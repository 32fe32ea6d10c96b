// --trace FILE (spec server.md §14): a readable record of every request that reached the
// worker.  Jobs run interleaved, so each request's block is collected in a TraceRecord and
// written to the file in one piece when the request ends (ds4 writes as it goes because it
// runs one request at a time).  Thread-safe.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace dstar::server {

class TraceRecord {
public:
    explicit TraceRecord(uint64_t number);
    uint64_t number() const { return number_; }
    // "key: value\n" lines and free text, appended in order.
    void line(std::string_view key, std::string_view value);
    void text(std::string_view s);
    // "--- name ---" section header.
    void section(std::string_view name);
    // "\n\n--- trace: <event> ---\n\n" inside the generated text.
    void event(std::string_view what);
    std::string take();  // the block so far (and clears it)

private:
    uint64_t number_;
    std::mutex mu_;
    std::string buf_;
};

class Trace {
public:
    // Opens with truncation.  Throws dstar::Error naming the file on failure.
    explicit Trace(const std::string &path);
    ~Trace();
    Trace(const Trace &) = delete;
    Trace &operator=(const Trace &) = delete;

    // A record whose block starts with "===== request <n> <date> =====".
    std::shared_ptr<TraceRecord> begin(uint64_t number);
    // Appends "===== end request <n> =====" and writes the whole block.
    void finish(TraceRecord &rec);

private:
    std::mutex mu_;
    std::FILE *f_ = nullptr;
};

// Escapes a token piece for the trace's token window: '"' and '\\' backslash-escaped,
// \n \r \t, other control bytes and 0x7f as \xHH.
std::string trace_escape(std::string_view s);

}  // namespace dstar::server

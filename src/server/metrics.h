// Prometheus metrics of dstar-server (GET /metrics, text exposition format 0.0.4).  Counters and
// histograms are updated by the HTTP layer and the worker; gauges that describe live state
// (queue depth, disk cache size) are read at render time through a callback.  Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace dstar::server {

class Histogram {
public:
    explicit Histogram(std::vector<double> upper_bounds);
    void observe(double v);
    // Appends the _bucket/_sum/_count lines of `name` (with `help`) to out.
    void render(std::string &out, const std::string &name, const std::string &help) const;

private:
    std::vector<double> bounds_;
    std::vector<uint64_t> counts_;  // one per bound, plus +Inf
    double sum_ = 0;
    uint64_t count_ = 0;
};

class Metrics {
public:
    Metrics();

    // HTTP layer: one call per answered request (endpoint like "/v1/chat/completions").
    void request_done(const std::string &endpoint, int status, double seconds);
    // Worker: after prefill / after each finished generation.
    void prefill_done(uint64_t prompt_tokens, uint64_t cached_tokens, uint64_t prefilled_tokens,
                      double prefill_seconds);
    void generation_done(uint64_t generated_tokens, double decode_seconds);
    void first_token(double seconds_since_arrival);
    // Worker: where the prefix came from ("live" = any live rule, "disk", "miss").
    void kv_lookup(const std::string &source);

    // Gauges read at render time: name -> (help, value).
    using GaugeFn = std::function<std::vector<std::pair<std::string, std::pair<std::string, double>>>()>;
    void set_gauges(GaugeFn fn);

    std::string render() const;

    // Read back (tests, logs).
    uint64_t requests(const std::string &endpoint, int status) const;
    uint64_t kv_lookups(const std::string &source) const;
    uint64_t generated_tokens() const;

private:
    mutable std::mutex mu_;
    std::map<std::pair<std::string, int>, uint64_t> requests_;
    std::map<std::string, uint64_t> kv_;
    uint64_t prompt_tokens_ = 0, cached_tokens_ = 0, prefilled_tokens_ = 0, generated_tokens_ = 0;
    double prefill_seconds_ = 0, decode_seconds_ = 0;
    double last_prefill_tps_ = 0, last_decode_tps_ = 0;
    Histogram request_seconds_, ttft_seconds_, prefill_tps_, decode_tps_;
    GaugeFn gauges_;
};

}  // namespace dstar::server

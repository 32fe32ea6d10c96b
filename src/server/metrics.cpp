#include "server/metrics.h"

#include <cmath>
#include <cstdio>

namespace dstar::server {

namespace {

std::string num(double v) {
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    char b[64];
    std::snprintf(b, sizeof b, "%.17g", v);
    return b;
}

std::string label_escape(const std::string &s) {
    std::string o;
    for (char c : s) {
        if (c == '\\' || c == '"') o += '\\';
        if (c == '\n') {
            o += "\\n";
            continue;
        }
        o += c;
    }
    return o;
}

void head(std::string &out, const std::string &name, const char *type, const std::string &help) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void scalar(std::string &out, const std::string &name, const char *type, const std::string &help,
            double v) {
    head(out, name, type, help);
    out += name + " " + num(v) + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
    size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) ++i;
    ++counts_[i];
    sum_ += v;
    ++count_;
}

void Histogram::render(std::string &out, const std::string &name, const std::string &help) const {
    head(out, name, "histogram", help);
    uint64_t cum = 0;
    for (size_t i = 0; i <= bounds_.size(); ++i) {
        cum += counts_[i];
        std::string le = i < bounds_.size() ? num(bounds_[i]) : "+Inf";
        out += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cum) + "\n";
    }
    out += name + "_sum " + num(sum_) + "\n";
    out += name + "_count " + std::to_string(count_) + "\n";
}

Metrics::Metrics()
    : request_seconds_({0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}),
      ttft_seconds_({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}),
      prefill_tps_({10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000}),
      decode_tps_({1, 5, 10, 20, 40, 60, 80, 100, 150, 200, 400, 1000}) {}

void Metrics::request_done(const std::string &endpoint, int status, double seconds) {
    std::lock_guard<std::mutex> lk(mu_);
    ++requests_[{endpoint, status}];
    request_seconds_.observe(seconds);
}

void Metrics::prefill_done(uint64_t prompt_tokens, uint64_t cached_tokens, uint64_t prefilled,
                           double prefill_seconds) {
    std::lock_guard<std::mutex> lk(mu_);
    prompt_tokens_ += prompt_tokens;
    cached_tokens_ += cached_tokens;
    prefilled_tokens_ += prefilled;
    prefill_seconds_ += prefill_seconds;
    if (prefilled > 0 && prefill_seconds > 0) {
        last_prefill_tps_ = double(prefilled) / prefill_seconds;
        prefill_tps_.observe(last_prefill_tps_);
    }
}

void Metrics::generation_done(uint64_t generated, double decode_seconds) {
    std::lock_guard<std::mutex> lk(mu_);
    generated_tokens_ += generated;
    decode_seconds_ += decode_seconds;
    if (generated > 0 && decode_seconds > 0) {
        last_decode_tps_ = double(generated) / decode_seconds;
        decode_tps_.observe(last_decode_tps_);
    }
}

void Metrics::first_token(double s) {
    std::lock_guard<std::mutex> lk(mu_);
    ttft_seconds_.observe(s);
}

void Metrics::kv_lookup(const std::string &source) {
    std::lock_guard<std::mutex> lk(mu_);
    ++kv_[source];
}

void Metrics::set_gauges(GaugeFn fn) {
    std::lock_guard<std::mutex> lk(mu_);
    gauges_ = std::move(fn);
}

uint64_t Metrics::requests(const std::string &endpoint, int status) const {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = requests_.find({endpoint, status});
    return it == requests_.end() ? 0 : it->second;
}

uint64_t Metrics::kv_lookups(const std::string &source) const {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = kv_.find(source);
    return it == kv_.end() ? 0 : it->second;
}

uint64_t Metrics::generated_tokens() const {
    std::lock_guard<std::mutex> lk(mu_);
    return generated_tokens_;
}

std::string Metrics::render() const {
    GaugeFn gauges;
    std::string out;
    {
        std::lock_guard<std::mutex> lk(mu_);
        gauges = gauges_;
        head(out, "dstar_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
        for (const auto &[k, v] : requests_)
            out += "dstar_requests_total{endpoint=\"" + label_escape(k.first) + "\",status=\"" +
                   std::to_string(k.second) + "\"} " + std::to_string(v) + "\n";
        scalar(out, "dstar_prompt_tokens_total", "counter",
               "Effective prompt tokens of finished prefills (cached + prefilled).", double(prompt_tokens_));
        scalar(out, "dstar_cached_prompt_tokens_total", "counter",
               "Prompt tokens reused from a live session or a disk checkpoint.", double(cached_tokens_));
        scalar(out, "dstar_prefill_tokens_total", "counter", "Prompt tokens evaluated by prefill.",
               double(prefilled_tokens_));
        scalar(out, "dstar_prefill_seconds_total", "counter", "Wall time spent in prefill.", prefill_seconds_);
        scalar(out, "dstar_generated_tokens_total", "counter", "Generated tokens.", double(generated_tokens_));
        scalar(out, "dstar_decode_seconds_total", "counter", "Wall time spent generating.", decode_seconds_);
        scalar(out, "dstar_prefill_tokens_per_second", "gauge", "Prefill speed of the last request.",
               last_prefill_tps_);
        scalar(out, "dstar_decode_tokens_per_second", "gauge", "Decode speed of the last request.",
               last_decode_tps_);
        request_seconds_.render(out, "dstar_request_duration_seconds", "Time from request arrival to the last byte.");
        ttft_seconds_.render(out, "dstar_time_to_first_token_seconds", "Time from request arrival to the first generated token.");
        prefill_tps_.render(out, "dstar_prefill_speed_tokens_per_second", "Prefill speed per request.");
        decode_tps_.render(out, "dstar_decode_speed_tokens_per_second", "Decode speed per request.");
        head(out, "dstar_kv_cache_lookups_total", "counter",
             "Prefix lookups by outcome: live (a live session), disk (a disk checkpoint), miss.");
        for (const char *s : {"live", "disk", "miss"}) {
            auto it = kv_.find(s);
            out += std::string("dstar_kv_cache_lookups_total{source=\"") + s + "\"} " +
                   std::to_string(it == kv_.end() ? 0 : it->second) + "\n";
        }
    }
    if (gauges)
        for (const auto &[name, hv] : gauges()) scalar(out, name, "gauge", hv.first, hv.second);
    return out;
}

}  // namespace dstar::server

#include "server/api/gen_params.h"

#include <climits>
#include <cmath>

#include "common/error.h"

namespace dstar::server::api {
namespace {

using nlohmann::json;

const json *member(const json &obj, const char *key) {
    auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
}

double number(const json &v, const char *key) {
    if (!v.is_number()) fail("%s: expected a number", key);
    return v.get<double>();
}

// ds4's json_int: clamped to [0, INT_MAX], truncated.
uint32_t clamped_int(const json &v, const char *key) {
    const double d = number(v, key);
    if (!(d > 0)) return 0;
    if (d > INT_MAX) return INT_MAX;
    return static_cast<uint32_t>(d);
}

bool boolean(const json &v, const char *key) {
    if (!v.is_boolean()) fail("%s: expected true or false", key);
    return v.get<bool>();
}

void read_stop(const json &v, std::vector<std::string> &out) {
    out.clear();
    auto push = [&](const json &s) {
        if (s.is_string() && !s.get_ref<const std::string &>().empty()) out.push_back(s.get<std::string>());
    };
    if (v.is_string()) push(v);
    else if (v.is_array()) for (const json &e : v) push(e);
    // Anything else is skipped, as ds4 does.
}

struct Fields {
    bool top_k = false, min_p = false, seed = false, include_usage = false;
    const char *stop = nullptr;
    std::vector<const char *> max_tokens;
};

Fields fields_for(Api api) {
    switch (api) {
    case Api::Chat: return {true, true, true, true, "stop", {"max_tokens", "max_completion_tokens"}};
    case Api::Completions: return {true, true, true, true, "stop", {"max_tokens"}};
    case Api::Responses: return {false, false, false, false, nullptr, {"max_output_tokens", "max_tokens"}};
    case Api::Messages: return {true, false, false, false, "stop_sequences", {"max_tokens"}};
    }
    return {};
}

}  // namespace

GenParams parse_gen_params(Api api, const json &request) {
    GenParams p;
    if (!request.is_object()) return p;
    const Fields f = fields_for(api);
    if (auto v = member(request, "temperature")) p.sampling.temperature = static_cast<float>(number(*v, "temperature"));
    if (auto v = member(request, "top_p")) p.sampling.top_p = static_cast<float>(number(*v, "top_p"));
    if (f.top_k) {
        if (auto v = member(request, "top_k")) p.sampling.top_k = static_cast<int>(clamped_int(*v, "top_k"));
    }
    if (f.min_p) {
        if (auto v = member(request, "min_p")) p.sampling.min_p = static_cast<float>(number(*v, "min_p"));
    }
    if (f.seed) {
        if (auto v = member(request, "seed")) {
            const double d = number(*v, "seed");
            p.sampling.seed = d > 0 && d < 1.8446744073709552e19 ? static_cast<uint64_t>(d) : 0;
        }
    }
    // The last field present wins, whatever its name (ds4 reads them in document order; an
    // object's member order is not kept by the parser, so prefer the API's main name).
    for (auto it = f.max_tokens.rbegin(); it != f.max_tokens.rend(); ++it) {
        if (auto v = member(request, *it)) p.max_tokens = clamped_int(*v, *it);
    }
    if (f.stop) {
        if (auto v = member(request, f.stop)) read_stop(*v, p.stop);
    }
    if (auto v = member(request, "stream")) p.stream = boolean(*v, "stream");
    if (f.include_usage) {
        if (auto v = member(request, "stream_options"); v && v->is_object()) {
            if (auto u = member(*v, "include_usage")) p.include_usage = boolean(*u, "stream_options.include_usage");
        }
    }
    return p;
}

void apply_thinking_override(engine::SamplerParams &p, chat::ThinkMode effective_mode) {
    if (!chat::think_enabled(effective_mode)) return;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.05f;
}

}  // namespace dstar::server::api

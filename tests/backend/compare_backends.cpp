#include "backend/compare_backends.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "common/error.h"
#include "engine/sampler.h"
#include "engine/session.h"

namespace dstar::backend::compare {

namespace {

std::vector<double> log_softmax(const float *x, uint32_t n) {
    double mx = -INFINITY;
    for (uint32_t i = 0; i < n; i++) mx = std::max(mx, static_cast<double>(x[i]));
    double sum = 0;
    for (uint32_t i = 0; i < n; i++) sum += std::exp(static_cast<double>(x[i]) - mx);
    const double lse = mx + std::log(sum);
    std::vector<double> out(n);
    for (uint32_t i = 0; i < n; i++) out[i] = static_cast<double>(x[i]) - lse;
    return out;
}

}  // namespace

RowStats compare_row(const float *ref, const float *test, uint32_t vocab) {
    RowStats r;
    std::vector<uint32_t> order(vocab);
    std::iota(order.begin(), order.end(), 0u);
    const uint32_t top = std::min<uint32_t>(20, vocab);
    // Reference ranking: by logit, ties to the lower id (the oracle's order).
    std::partial_sort(order.begin(), order.begin() + top, order.end(),
                      [&](uint32_t a, uint32_t b) { return ref[a] > ref[b] || (ref[a] == ref[b] && a < b); });
    r.ref_margin = vocab > 1 ? ref[order[0]] - ref[order[1]] : 0.0f;
    r.argmax_equal = engine::argmax(test, vocab) == static_cast<int32_t>(order[0]);
    const std::vector<double> lr = log_softmax(ref, vocab), lt = log_softmax(test, vocab);
    for (uint32_t i = 0; i < top; i++) r.e = std::max(r.e, std::fabs(lt[order[i]] - lr[order[i]]));
    for (uint32_t i = 0; i < vocab; i++) {
        r.kl += std::exp(lr[i]) * (lr[i] - lt[i]);
        const double d = std::fabs(static_cast<double>(test[i]) - ref[i]);
        r.max_abs = std::isnan(d) ? INFINITY : std::max(r.max_abs, d);
    }
    if (std::isnan(r.e) || std::isnan(r.kl)) r.e = r.kl = INFINITY;
    return r;
}

double Report::mean_e() const {
    double s = 0;
    for (const RowStats &r : rows) s += r.e;
    return rows.empty() ? 0 : s / static_cast<double>(rows.size());
}
double Report::max_e() const {
    double m = 0;
    for (const RowStats &r : rows) m = std::max(m, r.e);
    return m;
}
double Report::mean_kl_generated() const {
    double s = 0;
    size_t n = 0;
    for (size_t i = n_prompt; i < rows.size(); i++, n++) s += rows[i].kl;
    return n ? s / static_cast<double>(n) : 0;
}
double Report::max_abs() const {
    double m = 0;
    for (const RowStats &r : rows) m = std::max(m, r.max_abs);
    return m;
}
size_t Report::argmax_failures() const {
    size_t n = 0;
    for (const RowStats &r : rows) n += r.ref_margin >= kMargin && !r.argmax_equal;
    return n;
}
size_t Report::argmax_differences() const {
    size_t n = 0;
    for (const RowStats &r : rows) n += !r.argmax_equal;
    return n;
}
bool Report::passes() const {
    return !rows.empty() && argmax_failures() == 0 && max_e() <= kMaxE && mean_e() <= kMeanE &&
           mean_kl_generated() <= kMeanKl;
}
std::string Report::summary() const {
    return strformat("%s: %zu rows (%zu prompt + %zu generated): mean e %.4f, max e %.4f, mean KL (generated) %.5f, "
                     "max |dlogit| %.4g, argmax differs at %zu rows, %zu of them with reference margin >= %.1f -> %s",
                     name.c_str(), rows.size(), n_prompt, rows.size() - n_prompt, mean_e(), max_e(),
                     mean_kl_generated(), max_abs(), argmax_differences(), argmax_failures(), kMargin,
                     passes() ? "PASS" : "FAIL");
}

std::string Report::details(size_t worst) const {
    auto row_line = [&](size_t i) {
        const RowStats &r = rows[i];
        const std::string where = i < n_prompt ? strformat("prompt position %zu", i)
                                               : strformat("generated step %zu", i - n_prompt);
        return strformat("  row %zu (%s): reference margin %.3f, e %.4f, KL %.5f, max |dlogit| %.4g%s\n", i,
                         where.c_str(), r.ref_margin, r.e, r.kl, r.max_abs, r.argmax_equal ? "" : ", argmax differs");
    };
    std::vector<size_t> idx(rows.size());
    std::iota(idx.begin(), idx.end(), size_t{0});
    std::string out;
    std::vector<size_t> flips;
    for (size_t i : idx)
        if (!rows[i].argmax_equal) flips.push_back(i);
    std::sort(flips.begin(), flips.end(), [&](size_t a, size_t b) { return rows[a].ref_margin > rows[b].ref_margin; });
    for (size_t i : flips) out += row_line(i);
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return rows[a].e > rows[b].e; });
    out += strformat("  largest errors:\n");
    for (size_t k = 0; k < std::min(worst, idx.size()); k++) out += row_line(idx[k]);
    return out;
}

Report teacher_forced(engine::Engine &ref, engine::Engine &test, const std::vector<int32_t> &prompt, uint32_t gen,
                      uint32_t chunk, const std::string &name) {
    const uint32_t vocab = ref.config().n_vocab;
    if (test.config().n_vocab != vocab) fail("the two engines have different vocabularies");
    if (prompt.empty()) fail("teacher forcing needs a prompt");
    const uint32_t ctx = static_cast<uint32_t>(prompt.size()) + gen + 1;
    engine::Session rs(ref, ctx, chunk), ts(test, ctx, chunk);
    const uint32_t np = static_cast<uint32_t>(prompt.size());
    const std::vector<float> rp = rs.append_all_logits(prompt.data(), np);
    const std::vector<float> tp = ts.append_all_logits(prompt.data(), np);
    Report rep;
    rep.name = name;
    rep.n_prompt = np;
    for (uint32_t i = 0; i < np; i++)
        rep.rows.push_back(compare_row(rp.data() + uint64_t{i} * vocab, tp.data() + uint64_t{i} * vocab, vocab));
    for (uint32_t s = 0; s < gen; s++) {
        const int32_t next = engine::argmax(rs.logits().data(), vocab);
        rep.generated.push_back(next);
        rs.append(next);
        ts.append(next);
        rep.rows.push_back(compare_row(rs.logits().data(), ts.logits().data(), vocab));
    }
    return rep;
}

Repro greedy_twice(engine::Engine &e, const std::vector<int32_t> &prompt, uint32_t gen, uint32_t chunk) {
    const uint32_t vocab = e.config().n_vocab;
    const uint32_t ctx = static_cast<uint32_t>(prompt.size()) + gen + 1;
    std::vector<std::vector<float>> first;
    Repro r;
    for (int run = 0; run < 2; run++) {
        engine::Session s(e, ctx, chunk);
        s.sync(prompt);
        for (uint32_t i = 0; i <= gen; i++) {
            if (run == 0) first.push_back(s.logits());
            else if (r.identical && std::memcmp(first[i].data(), s.logits().data(), vocab * sizeof(float)) != 0) {
                r.identical = false;
                r.first_difference = i;
            }
            if (i == gen) break;
            const int32_t next = engine::argmax(s.logits().data(), vocab);
            if (run == 0) r.tokens.push_back(next);
            s.append(next);
        }
    }
    return r;
}

std::vector<int32_t> random_prompt(const engine::Engine &e, uint32_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<int32_t> ids{e.tokenizer().bos()};
    while (ids.size() < n) ids.push_back(static_cast<int32_t>(rng() % e.config().n_vocab));
    return ids;
}

}  // namespace dstar::backend::compare

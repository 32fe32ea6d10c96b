// The CPU forward pass against the logits ds4's own CPU reference computed on the tiny
// ds4-layout GGUFs (shared/testdata/ds4-oracle, README there): prompt token ids must be
// identical, and check_oracle.py's tier 2 (or tier 1, bit-exact) must pass for every prompt
// of both variants.
#include <cstdio>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/mapped_file.h"
#include "engine/engine.h"
#include "engine/session.h"

namespace dstar::engine {
namespace {

const std::string kOracle = std::string(DSTAR_SHARED_DIR) + "/testdata/ds4-oracle";

void write_floats(const std::string &path, const std::vector<float> &v) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char *>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
    ASSERT_TRUE(f.good()) << path;
}

// Runs every prompt of `variant` and writes the candidate files check_oracle.py reads.
void run_variant(const std::string &variant, const nlohmann::json &manifest, const std::string &out_dir) {
    EngineOptions opt;
    opt.model_path = kOracle + "/tiny-" + variant + ".gguf";
    opt.threads = 2;
    Engine engine(opt);
    const uint32_t vocab = engine.config().n_vocab;
    ::mkdir((out_dir + "/" + variant).c_str(), 0755);
    for (const auto &p : manifest["variants"][variant]["prompts"]) {
        const std::string name = p["name"];
        SCOPED_TRACE(variant + "/" + name);
        const std::string text = read_file(kOracle + "/prompts/" + name + ".txt");
        const std::vector<int32_t> ids = engine.tokenizer().encode_rendered(text);
        const std::vector<int32_t> want = p["prompt_ids"].get<std::vector<int32_t>>();
        EXPECT_EQ(ids, want) << "prompt token ids differ from ds4's";
        {
            std::ofstream f(out_dir + "/" + variant + "/" + name + ".prompt_ids.txt");
            for (int32_t id : ids) f << id << "\n";
        }
        // Teacher-forced logits at every prompt position, then after each oracle token.
        Session s(engine, 2048, 64);
        const std::vector<float> positions = s.append_all_logits(ids.data(), static_cast<uint32_t>(ids.size()));
        write_floats(out_dir + "/" + variant + "/" + name + ".positions.f32", positions);
        nlohmann::json lp = nlohmann::json::parse(read_file(kOracle + "/" + variant + "/" + name + ".logprobs.json"));
        std::vector<float> steps(s.logits());
        const auto &st = lp["steps"];
        for (size_t k = 0; k + 1 < st.size(); k++) {
            s.append(st[k]["selected"]["id"].get<int32_t>());
            steps.insert(steps.end(), s.logits().begin(), s.logits().end());
        }
        ASSERT_EQ(steps.size(), st.size() * vocab);
        write_floats(out_dir + "/" + variant + "/" + name + ".steps.f32", steps);
    }
}

std::string run_checker(const std::string &cand, int *rc) {
    const std::string cmd = "/usr/bin/python3 " + kOracle + "/check_oracle.py " + cand + " 2>&1";
    FILE *p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    size_t n;
    while (p && (n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    const int status = p ? pclose(p) : -1;
    *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
}

TEST(Ds4Oracle, BothVariantsPassTheOracle) {
    struct stat sb{};
    ASSERT_EQ(::stat((kOracle + "/manifest.json").c_str(), &sb), 0)
        << "missing " << kOracle << ": the shared/ folder must sit next to the repository";
    const nlohmann::json manifest = nlohmann::json::parse(read_file(kOracle + "/manifest.json"));
    char tmpl[] = "/tmp/dstar_oracle_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string cand = tmpl;
    for (const char *v : {"q2", "q4"}) run_variant(v, manifest, cand);
    int rc = 0;
    const std::string report = run_checker(cand, &rc);
    std::printf("%s\n", report.c_str());
    EXPECT_EQ(rc, 0) << "check_oracle.py failed (needs Debian's python3-numpy):\n" << report;
}

}  // namespace
}  // namespace dstar::engine

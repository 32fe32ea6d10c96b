// dstar-bench's flags: ds4-bench's defaults, the two modes, and a clear error for every bad
// flag.
#include "cli/bench_options.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace dstar::cli::bench {
namespace {

BenchOptions parse(std::vector<std::string> args) { return parse_bench_options(args); }

// The parse fails and the message contains `expected`.
void expect_error(std::vector<std::string> args, const std::string &expected) {
    try {
        parse_bench_options(args);
        ADD_FAILURE() << "accepted: " << ::testing::PrintToString(args);
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find(expected), std::string::npos)
            << "message '" << e.what() << "' lacks '" << expected << "'";
    }
}

TEST(BenchOptions, SimpleModeByDefault) {
    const BenchOptions o = parse({"-m", "x.gguf", "--prompt", "100", "--gen", "7", "--cpu", "-t", "3"});
    EXPECT_FALSE(o.sweep());
    EXPECT_EQ(o.engine.model_path, "x.gguf");
    EXPECT_EQ(o.engine.backend, "cpu");
    EXPECT_EQ(o.engine.threads, 3);
    EXPECT_EQ(o.prompt_tokens, 100u);
    EXPECT_EQ(o.gen, 7u);
    EXPECT_EQ(o.chunk(), 256u);
}

TEST(BenchOptions, SweepTakesDs4BenchDefaults) {
    const BenchOptions o = parse({"--prompt-file", "text.txt"});
    ASSERT_TRUE(o.sweep());
    EXPECT_EQ(o.engine.model_path, "ds4flash.gguf");
    EXPECT_EQ(o.plan.ctx_start, 2048u);
    EXPECT_EQ(o.plan.ctx_max, 32768u);
    EXPECT_EQ(o.plan.step_incr, 2048u);
    EXPECT_EQ(o.plan.step_mul, 1.0);
    EXPECT_EQ(o.plan.gen_tokens, 128u);
    EXPECT_EQ(o.ctx_alloc, 32768u + 128u + 1u);
    EXPECT_EQ(o.chunk(), 2048u);
    EXPECT_EQ(o.system, "You are a helpful assistant.");
    EXPECT_TRUE(o.csv_path.empty());
}

TEST(BenchOptions, SweepFlags) {
    const BenchOptions o = parse({"--random-prompt", "0", "--ctx-start", "512", "--ctx-max", "8192", "--step-mul", "2",
                                  "-n", "64", "--ctx-alloc", "9000", "--csv", "out.csv", "--chunk", "128",
                                  "--bandwidth", "4180.5"});
    ASSERT_TRUE(o.random_seed.has_value());
    EXPECT_EQ(*o.random_seed, 0u);
    EXPECT_EQ(o.plan.ctx_start, 512u);
    EXPECT_EQ(o.plan.ctx_max, 8192u);
    EXPECT_EQ(o.plan.step_mul, 2.0);
    EXPECT_EQ(o.plan.gen_tokens, 64u);
    EXPECT_EQ(o.ctx_alloc, 9000u);
    EXPECT_EQ(o.csv_path, "out.csv");
    EXPECT_EQ(o.chunk(), 128u);
    EXPECT_DOUBLE_EQ(o.bandwidth_gbps, 4180.5);
    const BenchOptions chat = parse({"--chat-prompt-file", "t.txt", "-sys", ""});
    EXPECT_EQ(chat.chat_prompt_file, "t.txt");
    EXPECT_EQ(chat.system, "");
}

TEST(BenchOptions, BadFlagsGiveClearErrors) {
    expect_error({"--frobnicate"}, "unknown option '--frobnicate'");
    expect_error({"--prompt-file"}, "--prompt-file requires a value");
    expect_error({"--random-prompt", "1", "--ctx-start", "0"}, "invalid value for --ctx-start: '0'");
    expect_error({"--random-prompt", "1", "--ctx-max", "abc"}, "invalid value for --ctx-max: 'abc'");
    expect_error({"--random-prompt", "1", "--gen-tokens", "-5"}, "invalid value for --gen-tokens: '-5'");
    expect_error({"--random-prompt", "1", "--step-incr", "12x"}, "invalid value for --step-incr");
    expect_error({"--random-prompt", "1", "--step-mul", "0.5"}, "--step-mul must be a finite number >= 1");
    expect_error({"--random-prompt", "1", "--step-mul", "inf"}, "invalid value for --step-mul");
    expect_error({"--random-prompt", "1", "--ctx-start", "4096", "--ctx-max", "2048"},
                 "--ctx-start (4096) must be <= --ctx-max (2048)");
    expect_error({"--random-prompt", "1", "--ctx-start", "50", "--ctx-max", "100", "--gen-tokens", "10",
                  "--ctx-alloc", "110"},
                 "--ctx-alloc (110) must be greater than ctx-max + gen-tokens (100 + 10)");
    expect_error({"--random-prompt", "x"}, "invalid value for --random-prompt");
    expect_error({"--prompt-file", "a", "--random-prompt", "1"}, "only one of --prompt-file");
    expect_error({"--ctx-max", "4096"}, "--ctx-max is a sweep option");
    expect_error({"--csv", "o.csv"}, "--csv is a sweep option");
    expect_error({"--random-prompt", "1", "--prompt", "64"}, "--prompt belongs to the simple mode");
    expect_error({"--random-prompt", "1", "--system", "hi"}, "--system only applies to --chat-prompt-file");
    expect_error({"--bandwidth", "0"}, "--bandwidth must be a positive number");
    expect_error({"-t", "many"}, "invalid value for -t");
    expect_error({"--prompt", "64", "--gen", "8", "--ctx", "32"}, "--ctx 32 is smaller than --prompt + --gen");
    expect_error({"-m", ""}, "the model path is empty");
}

TEST(BenchOptions, HelpStopsParsing) {
    EXPECT_TRUE(parse({"--help"}).help);
    EXPECT_NE(bench_usage().find("ctx_tokens,prefill_tokens,prefill_tps,gen_tokens,gen_tps,kvcache_bytes"),
              std::string::npos);
}

}  // namespace
}  // namespace dstar::cli::bench

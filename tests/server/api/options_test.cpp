// dstar-server flags: every ds4-server flag with its default, range and exit code (spec
// server.md §2), and the dstar extensions.
#include "server/api/options.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "engine/engine.h"

namespace dstar::server::api {
namespace {

ParsedOptions parse(std::vector<std::string> args) { return parse_server_options(args); }

ServerOptions ok(std::vector<std::string> args) {
    ParsedOptions p = parse(std::move(args));
    EXPECT_EQ(p.exit_code, -1) << p.err;
    return p.options;
}

void expect_bad(std::vector<std::string> args, const std::string &message) {
    ParsedOptions p = parse(args);
    EXPECT_EQ(p.exit_code, 2) << args[0];
    EXPECT_NE(p.err.find(message), std::string::npos) << p.err;
    EXPECT_TRUE(p.out.empty());
}

TEST(ServerOptions, DefaultsMatchDs4Server) {
    const ServerOptions o = ok({});
    EXPECT_EQ(o.model, "ds4flash.gguf");
    EXPECT_EQ(o.ctx, 32768u);
    EXPECT_EQ(o.tokens, 393216u);
    EXPECT_EQ(o.host, "127.0.0.1");
    EXPECT_EQ(o.port, 8000);
    EXPECT_FALSE(o.cors);
    EXPECT_EQ(o.mtp_draft, 1);
    EXPECT_FLOAT_EQ(o.mtp_margin, 3.0f);
    EXPECT_FALSE(o.mtp_flags_given);
    EXPECT_EQ(o.threads, 0);
    EXPECT_TRUE(o.kv.dir.empty());
    EXPECT_EQ(o.kv.space_mb, 4096u);
    EXPECT_EQ(o.kv.min_tokens, 512u);
    EXPECT_EQ(o.kv.cold_max_tokens, 30000u);
    EXPECT_EQ(o.kv.continued_interval, 10000u);
    EXPECT_EQ(o.kv.boundary_trim, 32u);
    EXPECT_EQ(o.kv.boundary_align, 2048u);
    EXPECT_FALSE(o.kv.reject_different_quant);
    EXPECT_TRUE(o.kv.exact_replay);
    EXPECT_EQ(o.tool_memory_max_ids, 100000u);
    EXPECT_EQ(o.backend, "") << "resolved to default_backend() when the model is loaded";
    EXPECT_EQ(default_backend(), engine::default_backend());
    EXPECT_EQ(o.sessions, 4u);
    EXPECT_EQ(o.http_threads, 128u);
    EXPECT_EQ(o.prefill_chunk, 2048u);
    EXPECT_TRUE(o.model_aliases.empty());
    EXPECT_FLOAT_EQ(o.steering_ffn, 0.0f);
    EXPECT_FLOAT_EQ(o.steering_attn, 0.0f);
}

TEST(ServerOptions, EveryFlagIsParsed) {
    const ServerOptions o = ok({"-m", "m.gguf", "--mtp", "mtp.gguf", "--mtp-draft", "3", "--mtp-margin", "2.5",
                                "-c", "65536", "-n", "100", "-t", "6", "--chdir", "/tmp", "--quality",
                                "--dir-steering-file", "d.f32", "--dir-steering-attn", "-0.5", "--warm-weights",
                                "--host", "0.0.0.0", "--port", "9000", "--cors", "--trace", "t.txt",
                                "--kv-disk-dir", "kv", "--kv-disk-space-mb", "100", "--kv-cache-min-tokens", "64",
                                "--kv-cache-cold-max-tokens", "0", "--kv-cache-continued-interval-tokens", "0",
                                "--kv-cache-boundary-trim-tokens", "0", "--kv-cache-boundary-align-tokens", "0",
                                "--kv-cache-reject-different-quant", "--disable-exact-dsml-tool-replay",
                                "--tool-memory-max-ids", "7", "--sessions", "2", "--http-threads", "16",
                                "--prefill-chunk", "512", "--model-alias", "claude-sonnet", "--model-alias", "gpt-x",
                                "--cpu"});
    EXPECT_EQ(o.model, "m.gguf");
    EXPECT_EQ(o.mtp, "mtp.gguf");
    EXPECT_EQ(o.mtp_draft, 3);
    EXPECT_FLOAT_EQ(o.mtp_margin, 2.5f);
    EXPECT_TRUE(o.mtp_flags_given);
    EXPECT_EQ(o.ctx, 65536u);
    EXPECT_EQ(o.tokens, 100u);
    EXPECT_EQ(o.threads, 6);
    EXPECT_EQ(o.chdir, "/tmp");
    EXPECT_TRUE(o.quality);
    EXPECT_EQ(o.steering_file, "d.f32");
    EXPECT_FLOAT_EQ(o.steering_attn, -0.5f);
    EXPECT_FLOAT_EQ(o.steering_ffn, 0.0f) << "an explicit scale flag keeps the FFN scale at 0";
    EXPECT_TRUE(o.warm_weights);
    EXPECT_EQ(o.host, "0.0.0.0");
    EXPECT_EQ(o.port, 9000);
    EXPECT_TRUE(o.cors);
    EXPECT_EQ(o.trace, "t.txt");
    EXPECT_EQ(o.kv.dir, "kv");
    EXPECT_EQ(o.kv.space_mb, 100u);
    EXPECT_EQ(o.kv.min_tokens, 64u);
    EXPECT_EQ(o.kv.cold_max_tokens, 0u);
    EXPECT_EQ(o.kv.continued_interval, 0u);
    EXPECT_EQ(o.kv.boundary_trim, 0u);
    EXPECT_EQ(o.kv.boundary_align, 0u);
    EXPECT_TRUE(o.kv.reject_different_quant);
    EXPECT_FALSE(o.kv.exact_replay);
    EXPECT_EQ(o.tool_memory_max_ids, 7u);
    EXPECT_EQ(o.sessions, 2u);
    EXPECT_EQ(o.http_threads, 16u);
    EXPECT_EQ(o.prefill_chunk, 512u);
    EXPECT_EQ(o.model_aliases, (std::vector<std::string>{"claude-sonnet", "gpt-x"}));
    EXPECT_EQ(o.backend, "cpu");
}

TEST(ServerOptions, LongAndShortNamesAndLaterOccurrencesWin) {
    EXPECT_EQ(ok({"--model", "a", "-m", "b"}).model, "b");
    EXPECT_EQ(ok({"--ctx", "100", "-c", "200"}).ctx, 200u);
    EXPECT_EQ(ok({"--tokens", "5", "-n", "6", "--tokens", "7"}).tokens, 7u);
    EXPECT_EQ(ok({"--threads", "3"}).threads, 3);
    EXPECT_EQ(ok({"--port", "1", "--port", "2"}).port, 2);
    EXPECT_EQ(ok({"--cuda", "--cpu"}).backend, "cpu");
    EXPECT_EQ(ok({"--cpu", "--metal"}).backend, "metal");
    EXPECT_EQ(ok({"--backend", "cuda"}).backend, "cuda");
    EXPECT_EQ(ok({"--backend", "cuda", "--backend", "cpu"}).backend, "cpu");
}

TEST(ServerOptions, LocalhostIsMappedAndOnlyIpv4IsAccepted) {
    EXPECT_EQ(ok({"--host", "localhost"}).host, "127.0.0.1");
    EXPECT_EQ(ok({"--host", "192.168.1.20"}).host, "192.168.1.20");
    expect_bad({"--host", "::1"}, "invalid value for --host: ::1");
    expect_bad({"--host", "example.com"}, "invalid value for --host");
    expect_bad({"--host", "1.2.3"}, "invalid value for --host");
}

TEST(ServerOptions, SteeringFileDefaultsTheFfnScaleToOne) {
    EXPECT_FLOAT_EQ(ok({"--dir-steering-file", "d"}).steering_ffn, 1.0f);
    EXPECT_FLOAT_EQ(ok({"--dir-steering-file", "d", "--dir-steering-ffn", "0.25"}).steering_ffn, 0.25f);
    EXPECT_FLOAT_EQ(ok({"--dir-steering-ffn", "2"}).steering_ffn, 2.0f);
}

TEST(ServerOptions, NumbersMustParseCompletelyAndLieInRange) {
    expect_bad({"--ctx", "0"}, "invalid value for --ctx: 0");
    expect_bad({"-c", "-5"}, "invalid value for -c: -5");
    expect_bad({"--ctx", "12x"}, "invalid value for --ctx: 12x");
    expect_bad({"--ctx", ""}, "invalid value for --ctx");
    expect_bad({"--ctx", "99999999999"}, "invalid value for --ctx");
    expect_bad({"-n", "0"}, "invalid value for -n");
    expect_bad({"-t", "0"}, "invalid value for -t");
    expect_bad({"--port", "0"}, "invalid value for --port");
    expect_bad({"--port", "65536"}, "invalid value for --port");
    expect_bad({"--mtp-draft", "0"}, "invalid value for --mtp-draft");
    expect_bad({"--mtp-margin", "1000.5"}, "invalid value for --mtp-margin");
    expect_bad({"--mtp-margin", "-1"}, "invalid value for --mtp-margin");
    expect_bad({"--mtp-margin", "nan"}, "invalid value for --mtp-margin");
    expect_bad({"--dir-steering-ffn", "101"}, "invalid value for --dir-steering-ffn");
    expect_bad({"--dir-steering-attn", "-100.5"}, "invalid value for --dir-steering-attn");
    expect_bad({"--kv-disk-space-mb", "0"}, "invalid value for --kv-disk-space-mb");
    expect_bad({"--kv-cache-min-tokens", "0"}, "invalid value for --kv-cache-min-tokens");
    expect_bad({"--kv-cache-boundary-trim-tokens", "-1"}, "invalid value for --kv-cache-boundary-trim-tokens");
    expect_bad({"--tool-memory-max-ids", "0"}, "invalid value for --tool-memory-max-ids");
    expect_bad({"--sessions", "0"}, "invalid value for --sessions");
    expect_bad({"--http-threads", "0"}, "invalid value for --http-threads");
    expect_bad({"--prefill-chunk", "0"}, "invalid value for --prefill-chunk");
    expect_bad({"--model-alias", ""}, "--model-alias");
    // The zero-accepting cache knobs.
    EXPECT_EQ(ok({"--kv-cache-continued-interval-tokens", "0"}).kv.continued_interval, 0u);
    EXPECT_FLOAT_EQ(ok({"--mtp-margin", "0"}).mtp_margin, 0.0f);
    EXPECT_FLOAT_EQ(ok({"--mtp-margin", "1000"}).mtp_margin, 1000.0f);
    EXPECT_FLOAT_EQ(ok({"--dir-steering-attn", "-100"}).steering_attn, -100.0f);
}

TEST(ServerOptions, ColdMaxMustBeZeroOrAtLeastMinTokens) {
    expect_bad({"--kv-cache-min-tokens", "1000", "--kv-cache-cold-max-tokens", "999"},
               "--kv-cache-cold-max-tokens must be 0 or >= --kv-cache-min-tokens");
    EXPECT_EQ(ok({"--kv-cache-min-tokens", "1000", "--kv-cache-cold-max-tokens", "1000"}).kv.cold_max_tokens, 1000u);
    EXPECT_EQ(ok({"--kv-cache-min-tokens", "1000", "--kv-cache-cold-max-tokens", "0"}).kv.cold_max_tokens, 0u);
}

TEST(ServerOptions, MissingValuesUnknownFlagsAndBadBackends) {
    expect_bad({"--port"}, "missing value for --port");
    expect_bad({"-m"}, "missing value for -m");
    ParsedOptions p = parse({"--frobnicate"});
    EXPECT_EQ(p.exit_code, 2);
    EXPECT_NE(p.err.find("unknown option: --frobnicate"), std::string::npos);
    EXPECT_NE(p.err.find("Usage: dstar-server"), std::string::npos) << "usage goes to stderr";
    expect_bad({"--backend", "vulkan"}, "invalid --backend value: vulkan");
}

TEST(ServerOptions, HelpPrintsUsageToStdoutAndExitsZero) {
    for (const char *h : {"-h", "--help"}) {
        ParsedOptions p = parse({"--port", "9000", h, "--bogus"});
        EXPECT_EQ(p.exit_code, 0);
        EXPECT_TRUE(p.err.empty());
        EXPECT_NE(p.out.find("Usage: dstar-server"), std::string::npos);
    }
    // Left to right, as ds4: a bad flag before --help still fails; a value that looks like a
    // flag is a value.
    EXPECT_EQ(parse({"--port", "x", "--help"}).exit_code, 2);
    EXPECT_EQ(parse({"-m", "-h"}).options.model, "-h");
    // Every extension is documented.
    const std::string usage = server_usage();
    for (const char *flag : {"--sessions", "--http-threads", "--prefill-chunk", "--model-alias", "--kv-disk-dir",
                             "--tool-memory-max-ids", "--warm-weights", "--cors", "--trace", "--chdir", "--mtp"}) {
        EXPECT_NE(usage.find(flag), std::string::npos) << flag;
    }
}

TEST(ServerOptions, BackendsThatCanNeverRunAreNamed) {
    EXPECT_EQ(backend_unavailable_reason(""), "") << "the default";
    EXPECT_EQ(backend_unavailable_reason("cpu"), "");
    EXPECT_EQ(backend_unavailable_reason("cuda"), "") << "decided by the engine when it opens the GPU";
    EXPECT_NE(backend_unavailable_reason("metal").find("no Metal backend"), std::string::npos);
}

TEST(ServerOptions, DefaultThreadCountFollowsTheEnvironment) {
    ::setenv("DSTAR_THREADS", "5", 1);
    EXPECT_EQ(default_thread_count(), 5);
    ::setenv("DSTAR_THREADS", "junk", 1);
    const int fallback = default_thread_count();
    EXPECT_GE(fallback, 1);
    EXPECT_LE(fallback, 12);
    ::unsetenv("DSTAR_THREADS");
    EXPECT_EQ(default_thread_count(), fallback);
}

}  // namespace
}  // namespace dstar::server::api

// The Scheduler with a disk KV cache (kvcache.md §5, §7): cold checkpoints at the chat anchor,
// continued checkpoints at absolute frontiers, evict saves before a slot is replaced, shutdown
// saves, and a restarted server continuing from disk exactly as the live session would have.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "kvcache/disk_cache.h"
#include "kvcache/tool_memory.h"
#include "log_capture.h"
#include "server/scheduler.h"
#include "worker_test_util.h"

namespace dstar::server::test {
namespace {

class SchedulerDiskTest : public TinyModelTest {
protected:
    void SetUp() override {
        const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ =
            std::string(::testing::TempDir()) + "/dstar_worker_kv_" + std::to_string(::getpid()) + "_" + info->name();
        std::filesystem::remove_all(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    kvcache::Options disk_options() const {
        kvcache::Options o;
        o.dir = dir_;
        o.space_mb = 512;
        o.min_tokens = 32;
        o.cold_max_tokens = 30000;
        o.continued_interval = 0;
        o.boundary_trim = 4;
        o.boundary_align = 16;
        return o;
    }
    static SchedulerOptions options(uint32_t slots) {
        SchedulerOptions o;
        o.slots = slots;
        o.ctx = 1024;
        o.prefill_chunk = 64;
        return o;
    }

    // One server process: the disk cache outlives the scheduler (declared first, destroyed last).
    struct Server {
        LogCapture logs;
        kvcache::ToolMemory memory;
        std::unique_ptr<kvcache::DiskCache> disk;
        Metrics metrics;
        std::unique_ptr<Scheduler> scheduler;
    };
    std::unique_ptr<Server> start(const kvcache::Options &d, uint32_t slots) {
        auto s = std::make_unique<Server>();
        s->disk = std::make_unique<kvcache::DiskCache>(d, tok(), 2, 1024, s->logs.fn());
        EXPECT_TRUE(s->disk->enabled());
        s->scheduler =
            std::make_unique<Scheduler>(engine(), options(slots), s->disk.get(), &s->memory, s->metrics, s->logs.fn());
        return s;
    }
    static Collected run(Server &s, JobRequest req) { return collect(*s.scheduler->submit(std::move(req))); }

    static std::string system_text() { return bos() + "You are a careful coding agent. " + words(40, 5); }
    static std::string task_text(const std::string &task) {
        return system_text() + user() + task + assistant() + think_close();
    }
    static std::string next_turn(const std::string &prev_text, const std::string &answer, const std::string &msg) {
        return prev_text + answer + eos() + user() + msg + assistant() + think_close();
    }
    std::string dir_;
};

TEST_F(SchedulerDiskTest, ColdSaveStopsPrefillAtTheChatAnchorAndServesOtherTasks) {
    auto srv = start(disk_options(), 2);
    JobRequest first = job(task_text("task one"), 2, 1);
    const std::vector<int32_t> p1 = first.prompt_tokens;
    const uint32_t anchor = static_cast<uint32_t>(std::find(p1.begin(), p1.end(), tok().user()) - p1.begin());
    ASSERT_GE(anchor, 32u);
    ASSERT_LT(anchor, p1.size());
    const Collected c1 = run(*srv, std::move(first));
    EXPECT_EQ(c1.done.cache_source, "none");
    // Prefill stopped at the anchor to save, then went on.
    EXPECT_TRUE(
        std::any_of(c1.progress.begin(), c1.progress.end(), [&](const JobEvent &e) { return e.done == anchor; }));
    EXPECT_GE(srv->logs.find({"kv cache stored tokens=" + std::to_string(anchor) +
                              " trimmed=" + std::to_string(p1.size() - anchor) + " reason=cold key=token-text"}),
              0);

    // Another task with the same system prompt: no live session extends to it, the disk does.
    JobRequest second = job(task_text("task two"), 2, 1);
    std::vector<int32_t> effective(p1.begin(), p1.begin() + anchor);
    tok().encode_rendered(std::string_view(second.prompt_text).substr(tok().decode(effective).size()), effective);
    const Reference ref = reference(effective, second.sampling, 2);
    const Collected c2 = run(*srv, std::move(second));
    EXPECT_EQ(c2.done.cache_source, "disk-text");
    EXPECT_EQ(c2.done.cached_tokens, anchor);
    EXPECT_EQ(c2.done.prompt_tokens, effective.size());
    EXPECT_EQ(c2.done.text, ref.text);
    EXPECT_EQ(srv->metrics.kv_lookups("disk"), 1u);
}

TEST_F(SchedulerDiskTest, ContinuedCheckpointsLandOnAbsoluteFrontiersInPrefillAndDecode) {
    kvcache::Options d = disk_options();
    d.cold_max_tokens = 0;  // only continued saves
    d.continued_interval = 64;
    auto srv = start(d, 1);
    JobRequest req = job(task_text(words(30, 2)), 90, 3);
    const uint32_t p = static_cast<uint32_t>(req.prompt_tokens.size());
    ASSERT_GT(p, 128u);
    const Reference ref = reference(req.prompt_tokens, req.sampling, 90);
    const Collected c = run(*srv, std::move(req));
    ASSERT_EQ(c.done.text, ref.text);
    // Checked after every prefill chunk and before every sampling step: every multiple of 64
    // up to the final length was saved, those inside the prompt during prefill.
    const uint32_t end = p + c.done.generated_tokens;
    for (uint32_t frontier = 64; frontier <= end; frontier += 64)
        EXPECT_GE(
            srv->logs.find({"kv cache stored tokens=" + std::to_string(frontier) + " trimmed=0 reason=continued"}), 0)
            << "frontier " << frontier << " of " << end;
    EXPECT_EQ(srv->disk->stats().stores, end / 64);
}

TEST_F(SchedulerDiskTest, ReplacedSlotIsSavedAsEvictAndComesBackFromDisk) {
    auto srv = start(disk_options(), 1);
    const std::string ta = task_text("conversation A");
    JobRequest a = job(ta, 5, 4);
    const std::vector<int32_t> pa = a.prompt_tokens;
    const Collected ca = run(*srv, std::move(a));
    const uint32_t live_a = ca.done.prompt_tokens + ca.done.generated_tokens;

    const Collected cb =
        run(*srv,
            job(bos() + "Something else entirely. " + words(20, 9) + user() + "B" + assistant() + think_close(), 3, 5));
    EXPECT_EQ(cb.done.cache_source, "none");
    EXPECT_GE(srv->logs.find({"kv cache stored tokens=" + std::to_string(live_a) + " trimmed=0 reason=evict"}), 0);

    JobRequest a2 = job(next_turn(ta, ca.done.text, "continue A"), 3, 6);
    const Collected ca2 = run(*srv, std::move(a2));
    EXPECT_EQ(ca2.done.cache_source, "disk-text");
    EXPECT_EQ(ca2.done.cached_tokens, live_a);
}

TEST_F(SchedulerDiskTest, RestartedServerContinuesFromTheShutdownSaveExactly) {
    const std::string t1 = task_text("remember this");
    JobRequest first = job(t1, 6, 7);
    std::vector<int32_t> live = first.prompt_tokens;
    const Reference first_ref = reference(live, first.sampling, 6);
    std::string answer;
    {
        auto srv = start(disk_options(), 2);
        const Collected c = run(*srv, std::move(first));
        answer = c.done.text;
        ASSERT_EQ(answer, first_ref.text);
        live.insert(live.end(), first_ref.tokens.begin(), first_ref.tokens.end());
        srv->scheduler->shutdown();
        EXPECT_GE(
            srv->logs.find({"kv cache stored tokens=" + std::to_string(live.size()) + " trimmed=0 reason=shutdown"}),
            0);
    }
    // A new process: new disk cache object, new scheduler, empty slots.
    auto srv = start(disk_options(), 2);
    const std::string t2 = next_turn(t1, answer, "and now?");
    for (float temperature : {0.0f, 1.0f}) {
        JobRequest second = job(t2, 8, 8);
        second.sampling.temperature = temperature;
        std::vector<int32_t> effective = live;
        tok().encode_rendered(std::string_view(t2).substr(tok().decode(live).size()), effective);
        const Reference ref = reference(effective, second.sampling, 8);
        const Collected c = run(*srv, std::move(second));
        EXPECT_EQ(c.done.cache_source, "disk-text");
        EXPECT_EQ(c.done.cached_tokens, live.size());
        EXPECT_EQ(c.done.prompt_tokens, effective.size());
        EXPECT_EQ(c.done.text, ref.text) << "temperature " << temperature;
        // Next round from a fresh process again (this one's live slot holds the continuation).
        srv.reset();
        srv = start(disk_options(), 2);
    }

    // The checkpoint's logits are those of a session that prefilled the same tokens.
    engine::Session from_disk(engine(), 1024, 64);
    kvcache::DiskCache disk(disk_options(), tok(), 2, 1024);
    const auto hit = disk.load_longest_prefix(tok().decode(live), from_disk);
    ASSERT_TRUE(hit.has_value());
    engine::Session prefilled(engine(), 1024, 64);
    prefilled.sync(std::vector<int32_t>(live.begin(), live.begin() + hit->tokens));
    ASSERT_EQ(from_disk.tokens(), prefilled.tokens());
    ASSERT_EQ(from_disk.logits().size(), prefilled.logits().size());
    EXPECT_EQ(
        std::memcmp(from_disk.logits().data(), prefilled.logits().data(), prefilled.logits().size() * sizeof(float)),
        0);
}

}  // namespace
}  // namespace dstar::server::test

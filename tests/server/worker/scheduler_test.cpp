// The Scheduler on the tiny synthetic model: the generation loop against a plain Session +
// Sampler loop, usage numbers, several live sessions, live forks, LRU replacement,
// interleaved turns, limits, stop sequences, cancellation, shutdown, failures, trace, metrics.
#include "server/scheduler.h"

#include <gtest/gtest.h>

#include <thread>

#include "log_capture.h"
#include "worker_test_util.h"

namespace dstar::server::test {
namespace {

class SchedulerTest : public TinyModelTest {
protected:
    static SchedulerOptions options(uint32_t slots = 2, uint32_t ctx = 1024, uint32_t chunk = 64) {
        SchedulerOptions o;
        o.slots = slots;
        o.ctx = ctx;
        o.prefill_chunk = chunk;
        return o;
    }
    std::unique_ptr<Scheduler> make(const SchedulerOptions &o, LogCapture *logs = nullptr) {
        return std::make_unique<Scheduler>(engine(), o, nullptr, nullptr, metrics_,
                                           logs ? logs->fn() : std::function<void(const std::string &)>());
    }
    static Collected run(Scheduler &s, JobRequest req) { return collect(*s.submit(std::move(req))); }

    // The next turn of a conversation: the previous prompt, the assistant's text, EOS, a new
    // user message.
    static std::string next_turn(const std::string &prev_text, const std::string &answer, const std::string &msg) {
        return prev_text + answer + eos() + user() + msg + assistant() + think_close();
    }

    Metrics metrics_;
};

TEST_F(SchedulerTest, GeneratesExactlyWhatAPlainSessionLoopGenerates) {
    auto s = make(options());
    JobRequest req = job(chat_text("Tell me a story about " + words(20)), 24, 42);
    const Reference ref = reference(req.prompt_tokens, req.sampling, 24);
    const size_t prompt_len = req.prompt_tokens.size();
    const Collected c = run(*s, std::move(req));
    ASSERT_TRUE(c.got_done);
    EXPECT_EQ(c.done.text, ref.text);
    EXPECT_EQ(c.done.generated_tokens, ref.tokens.size());
    EXPECT_EQ(c.done.finish, ref.eos ? Finish::Stop : Finish::Length);
    EXPECT_EQ(c.streamed(), c.done.text);
    ASSERT_TRUE(c.started.has_value());
    EXPECT_EQ(c.started->prompt_tokens, prompt_len);
    EXPECT_EQ(c.started->cached_tokens, 0u);
    EXPECT_EQ(c.started->cache_source, "none");
    EXPECT_EQ(c.done.prompt_tokens, prompt_len);
    EXPECT_EQ(c.done.http_status, 0);
    // Event order: Progress* Started Text* Done.
    ASSERT_GE(c.kinds.size(), 2u);
    EXPECT_EQ(c.kinds.back(), JobEvent::Kind::Done);
    bool seen_started = false;
    for (JobEvent::Kind k : c.kinds) {
        if (k == JobEvent::Kind::Progress) {
            EXPECT_FALSE(seen_started);
        }
        if (k == JobEvent::Kind::Text) {
            EXPECT_TRUE(seen_started);
        }
        if (k == JobEvent::Kind::Started) seen_started = true;
    }
    EXPECT_GE(c.done.live.slot, 0);
    EXPECT_EQ(metrics_.generated_tokens(), ref.tokens.size());
    EXPECT_EQ(metrics_.kv_lookups("miss"), 1u);
}

TEST_F(SchedulerTest, ProgressEventsCountThePrefilledTokensOfEachChunk) {
    auto s = make(options(1, 1024, 32));
    JobRequest req = job(chat_text(words(100)), 0, 1);
    const uint32_t n = static_cast<uint32_t>(req.prompt_tokens.size());
    const Collected c = run(*s, std::move(req));
    ASSERT_EQ(c.progress.size(), (n + 31) / 32);
    for (size_t i = 0; i < c.progress.size(); i++) {
        EXPECT_EQ(c.progress[i].total, n);
        EXPECT_EQ(c.progress[i].done, std::min<uint32_t>(n, 32 * static_cast<uint32_t>(i + 1)));
    }
    EXPECT_EQ(c.done.finish, Finish::Length);
    EXPECT_EQ(c.done.generated_tokens, 0u);
    EXPECT_TRUE(c.texts.empty());
}

TEST_F(SchedulerTest, MemoryTokenReusesTheLiveTokensAndReportsUsage) {
    auto s = make(options());
    const std::string t1 = chat_text(words(40));
    const Collected first = run(*s, job(t1, 0, 1));
    ASSERT_EQ(first.done.finish, Finish::Length);
    const uint32_t p1 = first.done.prompt_tokens;

    JobRequest second = job(next_turn(t1, "Sure.", "And now?"), 4, 2);
    const uint32_t p2 = static_cast<uint32_t>(second.prompt_tokens.size());
    const Collected c = run(*s, std::move(second));
    ASSERT_TRUE(c.started.has_value());
    EXPECT_EQ(c.started->cache_source, "memory-token");
    EXPECT_EQ(c.started->cached_tokens, p1);
    EXPECT_EQ(c.started->prompt_tokens, p2);
    EXPECT_EQ(c.done.cached_tokens, p1);
    // Only the new suffix was prefilled.
    ASSERT_FALSE(c.progress.empty());
    EXPECT_EQ(c.progress.back().total, p2 - p1);
    EXPECT_EQ(metrics_.kv_lookups("live"), 1u);
}

TEST_F(SchedulerTest, MemoryTextKeepsSampledTokensThatRetokenizeDifferently) {
    auto s = make(options());
    const std::string t1 = chat_text("Say something.");
    JobRequest first = job(t1, 12, 5);
    const std::vector<int32_t> p1 = first.prompt_tokens;
    const Reference ref = reference(p1, first.sampling, 12);
    const Collected c1 = run(*s, std::move(first));
    ASSERT_EQ(c1.done.text, ref.text);

    const std::string t2 = next_turn(t1, c1.done.text, "More.");
    JobRequest second = job(t2, 2, 12);
    // Precondition of this scenario: tokenizing the whole next prompt spells the sampled
    // answer with different tokens, so the live tokens are not a token prefix of P.
    std::vector<int32_t> live = p1;
    live.insert(live.end(), ref.tokens.begin(), ref.tokens.end());
    ASSERT_FALSE(std::equal(live.begin(), live.end(), second.prompt_tokens.begin()))
        << "the sampled tokens re-tokenize identically; pick another seed";
    std::vector<int32_t> expected = live;
    tok().encode_rendered(std::string_view(t2).substr(t1.size() + c1.done.text.size()), expected);

    const Reference ref2 = reference(expected, second.sampling, 2);
    const Collected c2 = run(*s, std::move(second));
    ASSERT_TRUE(c2.started.has_value());
    EXPECT_EQ(c2.started->cache_source, "memory-text");
    EXPECT_EQ(c2.started->cached_tokens, live.size());
    EXPECT_EQ(c2.started->prompt_tokens, expected.size());
    // The effective prompt (live tokens + suffix) is what the model continued from.
    EXPECT_EQ(c2.done.text, ref2.text);
}

TEST_F(SchedulerTest, ThinkingBindingContinuesFromHiddenReasoning) {
    auto s = make(options());
    const std::string t1 = chat_text("Think about " + words(10), true);
    JobRequest first = job(t1, 8, 3);
    first.mode = chat::ThinkMode::High;
    const Collected c1 = run(*s, std::move(first));
    ASSERT_GT(c1.done.generated_tokens, 0u);
    ASSERT_GE(c1.done.live.slot, 0);

    // The next request renders the turn without its reasoning.
    const std::string visible = t1.substr(0, t1.size() - think_open().size()) + think_close() + "Answer." + eos();
    ASSERT_TRUE(s->bind(c1.done.live, Binding{Binding::Kind::Thinking, visible, {}}));
    const std::string t2 = visible + user() + "Next question" + assistant() + think_open();
    JobRequest second = job(t2, 2, 4);
    second.mode = chat::ThinkMode::High;
    const Collected c2 = run(*s, std::move(second));
    ASSERT_TRUE(c2.started.has_value());
    EXPECT_EQ(c2.started->cache_source, "thinking-visible");
    EXPECT_EQ(c2.started->cached_tokens, c1.done.prompt_tokens + c1.done.generated_tokens);
    const size_t suffix = tok().encode_rendered(std::string_view(t2).substr(visible.size())).size();
    EXPECT_EQ(c2.started->prompt_tokens, c2.started->cached_tokens + suffix);
}

TEST_F(SchedulerTest, BindingIsRefusedOnceTheSlotMovedOn) {
    auto s = make(options(1));
    const Collected c1 = run(*s, job(chat_text("one"), 2, 1));
    const Collected c2 = run(*s, job(chat_text("two"), 2, 1));
    EXPECT_FALSE(s->bind(c1.done.live, Binding{Binding::Kind::Responses, "x", {"call_1"}}));
    EXPECT_FALSE(s->live_call_id("call_1"));
    EXPECT_TRUE(s->bind(c2.done.live, Binding{Binding::Kind::Responses, "x", {"call_1"}}));
    EXPECT_TRUE(s->live_call_id("call_1"));
    EXPECT_FALSE(s->live_call_id("call_2"));
    // The next job replaces the state: the binding is gone.
    run(*s, job(chat_text("three"), 1, 1));
    EXPECT_FALSE(s->live_call_id("call_1"));
}

TEST_F(SchedulerTest, ResponsesVisibleTranscriptContinuesTheLiveSession) {
    auto s = make(options());
    const std::string t1 = chat_text("Use a tool", true);
    JobRequest first = job(t1, 6, 5, Api::Responses);
    first.mode = chat::ThinkMode::High;
    const Collected c1 = run(*s, std::move(first));
    const std::string visible = t1 + think_close() + "done" + eos();
    ASSERT_TRUE(s->bind(c1.done.live, Binding{Binding::Kind::Responses, visible, {}}));
    const std::string t2 = visible + user() + "thanks" + assistant() + think_open();
    const Collected c2 = run(*s, job(t2, 1, 6, Api::Responses));
    ASSERT_TRUE(c2.started.has_value());
    EXPECT_EQ(c2.started->cache_source, "responses-visible");
    EXPECT_EQ(c2.started->cached_tokens, c1.done.prompt_tokens + c1.done.generated_tokens);
}

TEST_F(SchedulerTest, ToolOutputContinuationsAppendTheLiveTail) {
    for (Api api : {Api::Responses, Api::Messages}) {
        auto s = make(options());
        const std::string t1 = chat_text("call the tool");
        const Collected c1 = run(*s, job(t1, 5, 7, api));
        const Binding::Kind kind = api == Api::Responses ? Binding::Kind::Responses : Binding::Kind::Anthropic;
        ASSERT_TRUE(
            s->bind(c1.done.live, Binding{kind, api == Api::Responses ? t1 + "x" + eos() : "", {"id_a", "id_b"}}));
        EXPECT_TRUE(s->live_call_id("id_a"));

        // The client sent only the tool outputs: the prompt text matches nothing live.
        JobRequest second = job(chat_text("<tool_result>42</tool_result>"), 1, 8, api);
        const std::string tail = eos() + user() + "<tool_result>42</tool_result>" + assistant() + think_close();
        second.tool_tail = ToolOutputTail{{"id_a", "id_b"}, tail};
        second.requires_live_tool_state = true;
        const Collected c2 = run(*s, std::move(second));
        ASSERT_TRUE(c2.started.has_value()) << c2.done.error;
        EXPECT_EQ(c2.started->cache_source, api == Api::Responses ? "responses-tool-output" : "anthropic-tool-output");
        const uint32_t live = c1.done.prompt_tokens + c1.done.generated_tokens;
        EXPECT_EQ(c2.started->cached_tokens, live);
        EXPECT_EQ(c2.started->prompt_tokens, live + tok().encode_rendered(tail).size());
    }
}

TEST_F(SchedulerTest, ToolOutputsWithoutTheirLiveStateGet409) {
    for (Api api : {Api::Responses, Api::Messages}) {
        auto s = make(options());
        const Collected c1 = run(*s, job(chat_text("call"), 3, 7, api));
        const Binding::Kind kind = api == Api::Responses ? Binding::Kind::Responses : Binding::Kind::Anthropic;
        ASSERT_TRUE(s->bind(c1.done.live, Binding{kind, "", {"id_other"}}));
        JobRequest second = job(chat_text("result"), 1, 8, api);
        second.tool_tail = ToolOutputTail{{"id_a"}, eos() + user() + "r" + assistant() + think_close()};
        second.requires_live_tool_state = true;
        const Collected c2 = run(*s, std::move(second));
        EXPECT_FALSE(c2.started.has_value());
        EXPECT_EQ(c2.done.http_status, 409);
        EXPECT_EQ(c2.done.finish, Finish::Error);
        EXPECT_NE(c2.done.error.find(api == Api::Responses ? "full input history" : "full messages history"),
                  std::string::npos);
    }
}

TEST_F(SchedulerTest, UnrelatedPromptMissesAndIsTracedWithTheMismatchWindow) {
    LogCapture logs;
    auto s = make(options(1), &logs);
    run(*s, job(chat_text("first conversation " + words(10)), 2, 1));
    JobRequest req = job(chat_text("second conversation " + words(10, 3)), 2, 1);
    req.trace = std::make_shared<TraceRecord>(7);
    auto rec = req.trace;
    const Collected c = run(*s, std::move(req));
    EXPECT_EQ(c.done.cache_source, "none");
    EXPECT_EQ(c.done.cached_tokens, 0u);
    const std::string t = rec->take();
    EXPECT_NE(t.find("\n--- cache decision ---\n"), std::string::npos);
    EXPECT_NE(t.find("memory_token_reusable: 0\n"), std::string::npos);
    EXPECT_NE(t.find("memory_miss_reason: token-mismatch\n"), std::string::npos);
    EXPECT_NE(t.find("cache_source: none\n"), std::string::npos);
    EXPECT_NE(t.find("first_mismatch_token: "), std::string::npos);
    EXPECT_NE(t.find(" != "), std::string::npos);
    EXPECT_NE(t.find("\n--- generated text ---\n"), std::string::npos);
    EXPECT_NE(t.find("--- trace: prefill done; decode_max=2 ctx_room="), std::string::npos);
    // The generated pieces follow the prefill event verbatim.
    EXPECT_NE(t.find(c.done.text), std::string::npos);
    EXPECT_GE(logs.find({"dstar-server: live kv cache miss live=", "reason=token-mismatch"}), 0);
}

TEST_F(SchedulerTest, TwoSlotsServeTwoAlternatingConversationsWithoutEvictingEachOther) {
    for (uint32_t slots : {2u, 1u}) {
        auto s = make(options(slots));
        const std::string a1 = chat_text("conversation A " + words(12, 1));
        const std::string b1 = chat_text("conversation B " + words(12, 2));
        const Collected ra1 = run(*s, job(a1, 4, 1));
        const Collected rb1 = run(*s, job(b1, 4, 2));
        const Collected ra2 = run(*s, job(next_turn(a1, ra1.done.text, "continue A"), 2, 3));
        const Collected rb2 = run(*s, job(next_turn(b1, rb1.done.text, "continue B"), 2, 4));
        if (slots == 2) {
            EXPECT_EQ(ra2.done.cached_tokens, ra1.done.prompt_tokens + ra1.done.generated_tokens)
                << ra2.done.cache_source;
            EXPECT_EQ(rb2.done.cached_tokens, rb1.done.prompt_tokens + rb1.done.generated_tokens)
                << rb2.done.cache_source;
            EXPECT_NE(ra2.done.live.slot, rb2.done.live.slot);
        } else {
            // One live session (ds4's model): each conversation evicts the other.
            EXPECT_EQ(ra2.done.cached_tokens, 0u);
            EXPECT_EQ(rb2.done.cached_tokens, 0u);
        }
    }
}

TEST_F(SchedulerTest, LeastRecentlyUsedSlotIsReplacedOnAMiss) {
    auto s = make(options(2));
    const std::string a = chat_text("A " + words(20, 1)), b = chat_text("B " + words(20, 2)),
                      c = chat_text("C " + words(20, 3));
    const Collected ra = run(*s, job(a, 0, 1));
    const Collected rb = run(*s, job(b, 0, 1));
    const Collected rc = run(*s, job(c, 0, 1));
    EXPECT_EQ(rc.done.live.slot, ra.done.live.slot);  // A was least recently used
    EXPECT_EQ(run(*s, job(b + "more", 0, 1)).done.cache_source, "memory-token");
    EXPECT_EQ(run(*s, job(c + "more", 0, 1)).done.cache_source, "memory-token");
    EXPECT_EQ(run(*s, job(a + "more", 0, 1)).done.cache_source, "none");
}

TEST_F(SchedulerTest, LiveForkCopiesAnotherSlotsStateMidPrefill) {
    LogCapture logs;
    auto s = make(options(2, 1024, 16), &logs);
    JobRequest a = job(chat_text("shared system context " + words(30)), 3, 21);
    const std::string a_text = a.prompt_text;
    const Reference ref_a = reference(a.prompt_tokens, a.sampling, 3);
    logs.pause_at("prefill chunk 16/");
    auto ha = s->submit(std::move(a));
    ASSERT_TRUE(logs.wait_paused());
    // A holds 16 prompt tokens now; B's prompt extends A's.
    JobRequest b = job(a_text + "and then more", 3, 22);
    const Reference ref_b = reference(b.prompt_tokens, b.sampling, 3);
    auto hb = s->submit(std::move(b));
    logs.release();
    const Collected cb = collect(*hb);
    const Collected ca = collect(*ha);
    EXPECT_EQ(cb.done.cache_source, "live-fork");
    EXPECT_EQ(cb.done.cached_tokens, 16u);
    EXPECT_EQ(cb.done.text, ref_b.text);  // the copied state is exact
    EXPECT_EQ(ca.done.text, ref_a.text);
    EXPECT_NE(ca.done.live.slot, cb.done.live.slot);
    EXPECT_GE(logs.find({"dstar-server: live fork slot="}), 0);
    EXPECT_EQ(metrics_.kv_lookups("live"), 1u);
}

TEST_F(SchedulerTest, LongPrefillAndDecodeAdvanceInTurns) {
    LogCapture logs;
    auto s = make(options(2, 1024, 16), &logs);
    JobRequest longj = job(chat_text(words(120)), 1, 1);
    ASSERT_GT(longj.prompt_tokens.size(), 200u);
    logs.pause_at("prefill chunk 16/");
    auto hl = s->submit(std::move(longj));
    ASSERT_TRUE(logs.wait_paused());
    auto hs = s->submit(job(chat_text("short"), 12, 2));
    logs.release();
    const Collected cs = collect(*hs);
    const Collected cl = collect(*hl);
    ASSERT_TRUE(cs.got_done && cl.got_done);
    EXPECT_EQ(cs.done.generated_tokens, 12u) << "EOS in this seed's sample";
    // The short job finished decoding while the long one was still prefilling.
    const int short_done = logs.find({" gen=12", "finish="});
    ASSERT_GE(short_done, 0);
    const std::vector<std::string> lines = logs.lines();
    int long_done_line = -1;
    const std::string long_span = "0.." + std::to_string(cl.done.prompt_tokens) + ":";
    for (size_t i = 0; i < lines.size(); i++)
        if (lines[i].find(long_span) != std::string::npos && lines[i].find("prompt done") != std::string::npos)
            long_done_line = static_cast<int>(i);
    ASSERT_GE(long_done_line, 0);
    EXPECT_LT(short_done, long_done_line);
}

TEST_F(SchedulerTest, StopSequenceCutsTheTextAndInvalidatesTheSlot) {
    auto s = make(options(1));
    const std::string t = chat_text("Write " + words(5));
    JobRequest req = job(t, 40, 99);
    const Reference ref = reference(req.prompt_tokens, req.sampling, 40);
    ASSERT_GT(ref.text.size(), 20u);
    const std::string stop = ref.text.substr(12, 4);
    const size_t cut = ref.text.find(stop);
    req.stop = {"", stop};
    const Collected c = run(*s, std::move(req));
    EXPECT_EQ(c.done.finish, Finish::Stop);
    EXPECT_EQ(c.done.text, ref.text.substr(0, cut));
    EXPECT_EQ(c.streamed(), c.done.text);
    EXPECT_LT(c.done.live.slot, 0);
    // The slot was reset: the conversation cannot continue from it.
    const Collected next = run(*s, job(next_turn(t, c.done.text, "go on"), 1, 1));
    EXPECT_EQ(next.done.cache_source, "none");
}

TEST_F(SchedulerTest, TextIsHeldBackAgainstStopSequencesUntilTheEnd) {
    auto s = make(options(1));
    JobRequest req = job(chat_text("Write " + words(5)), 30, 98);
    const Reference ref = reference(req.prompt_tokens, req.sampling, 30);
    const std::string never = "\x01never-matches\x02";  // 15 bytes
    req.stop = {never};
    const Collected c = run(*s, std::move(req));
    ASSERT_EQ(c.done.text, ref.text);
    ASSERT_GE(c.done.text.size(), never.size());
    EXPECT_EQ(c.streamed(), c.done.text);
    // Everything but the final flush left at least max_stop_len - 1 bytes behind.
    ASSERT_GE(c.texts.size(), 1u);
    EXPECT_GE(c.texts.back().size(), never.size() - 1);
}

TEST_F(SchedulerTest, MaxTokensAndTheContextLimitEndWithLength) {
    {
        auto s = make(options(1));
        JobRequest req = job(chat_text("count"), 5, 5);
        const Reference ref = reference(req.prompt_tokens, req.sampling, 5);
        ASSERT_FALSE(ref.eos);
        const Collected c = run(*s, std::move(req));
        EXPECT_EQ(c.done.finish, Finish::Length);
        EXPECT_EQ(c.done.generated_tokens, 5u);
        EXPECT_EQ(c.done.text, ref.text);
    }
    {
        JobRequest req = job(chat_text("count"), 100, 5);
        const uint32_t ctx = static_cast<uint32_t>(req.prompt_tokens.size()) + 3;
        auto s = make(options(1, ctx, 64));
        req.trace = std::make_shared<TraceRecord>(1);
        auto rec = req.trace;
        const Collected c = run(*s, std::move(req));
        EXPECT_EQ(c.done.finish, Finish::Length);
        EXPECT_EQ(c.done.generated_tokens, 3u);
        EXPECT_NE(rec->take().find("prefill done; decode_max=3 ctx_room=3"), std::string::npos);
    }
}

TEST_F(SchedulerTest, CancellingARunningJobStopsItAtTheNextTurn) {
    auto s = make(options(1, 4096));
    auto h = s->submit(job(chat_text("go"), 3000, 1));
    ASSERT_TRUE(wait_for(*h, JobEvent::Kind::Text).has_value());
    h->cancel();
    const Collected c = collect(*h);
    EXPECT_EQ(c.done.finish, Finish::Error);
    EXPECT_EQ(c.done.error, "client disconnected");
    EXPECT_LT(c.done.generated_tokens, 3000u);
    // The worker is free again.
    EXPECT_EQ(run(*s, job(chat_text("next"), 1, 1)).done.http_status, 0);
}

TEST_F(SchedulerTest, CancelledQueuedJobIsDroppedWithoutRunning) {
    auto s = make(options(1, 4096));
    auto running = s->submit(job(chat_text("long"), 3000, 1));
    ASSERT_TRUE(wait_for(*running, JobEvent::Kind::Text).has_value());
    auto queued = s->submit(job(chat_text("queued"), 5, 1));
    EXPECT_EQ(s->queue_depth(), 1u);
    EXPECT_EQ(s->active_jobs(), 1u);
    queued->cancel();
    const Collected q = collect(*queued);
    EXPECT_FALSE(q.started.has_value());
    EXPECT_TRUE(q.progress.empty());
    EXPECT_EQ(q.done.error, "client disconnected");
    EXPECT_EQ(q.done.generated_tokens, 0u);
    running->cancel();
    collect(*running);
    EXPECT_EQ(s->queue_depth(), 0u);
}

TEST_F(SchedulerTest, ShutdownEndsRunningAndQueuedJobsAndRefusesNewOnes) {
    auto s = make(options(1, 4096));
    auto running = s->submit(job(chat_text("long"), 3000, 1));
    ASSERT_TRUE(wait_for(*running, JobEvent::Kind::Text).has_value());
    auto queued = s->submit(job(chat_text("queued"), 5, 1));
    s->shutdown();
    const Collected r = collect(*running, std::chrono::seconds(5));
    EXPECT_EQ(r.done.finish, Finish::Error);
    EXPECT_EQ(r.done.error, "shutdown requested");
    // A queued job still runs its prefill (ds4), then ends without generating.
    const Collected q = collect(*queued, std::chrono::seconds(5));
    EXPECT_TRUE(q.started.has_value());
    EXPECT_EQ(q.done.error, "shutdown requested");
    EXPECT_EQ(q.done.generated_tokens, 0u);
    const Collected late = collect(*s->submit(job(chat_text("late"), 5, 1)), std::chrono::seconds(5));
    EXPECT_EQ(late.done.http_status, 503);
    s->shutdown();  // idempotent
}

TEST_F(SchedulerTest, PrefillFailureIsA500AndTheWorkerCarriesOn) {
    auto s = make(options(1));
    JobRequest bad = job(chat_text("x"), 3, 1);
    bad.prompt_tokens.push_back(999999);
    bad.trace = std::make_shared<TraceRecord>(3);
    auto rec = bad.trace;
    const Collected c = run(*s, std::move(bad));
    EXPECT_FALSE(c.started.has_value());
    EXPECT_EQ(c.done.http_status, 500);
    EXPECT_NE(c.done.error.find("999999"), std::string::npos) << c.done.error;
    EXPECT_NE(rec->take().find("--- trace: prefill failed: "), std::string::npos);
    EXPECT_EQ(run(*s, job(chat_text("fine"), 2, 1)).done.http_status, 0);

    JobRequest empty = job("", 3, 1);
    ASSERT_TRUE(empty.prompt_tokens.empty());
    const Collected e = run(*s, std::move(empty));
    EXPECT_EQ(e.done.http_status, 500);
    EXPECT_EQ(e.done.error, "the prompt has no tokens");
}

TEST_F(SchedulerTest, LogLinesFollowDs4sFormat) {
    LogCapture logs;
    auto s = make(options(1, 1024, 32), &logs);
    const Collected c = run(*s, job(chat_text(words(60)), 55, 4));
    const std::string span = "0.." + std::to_string(c.done.prompt_tokens) + ":" + std::to_string(c.done.prompt_tokens);
    EXPECT_GE(logs.find({"dstar-server: chat ctx=" + span + " prompt start"}), 0);
    EXPECT_GE(logs.find({"dstar-server: chat ctx=" + span + " prefill chunk 32/", "t/s"}), 0);
    EXPECT_GE(logs.find({"dstar-server: chat ctx=" + span + " prompt done "}), 0);
    if (c.done.generated_tokens >= 50) {
        EXPECT_GE(logs.find({" gen=50 decoding chunk="}), 0);
    }
    EXPECT_GE(logs.find({"dstar-server: chat ctx=" + span + " gen=" + std::to_string(c.done.generated_tokens),
                         std::string(" finish=") + finish_name(c.done.finish)}),
              0);
}

}  // namespace
}  // namespace dstar::server::test

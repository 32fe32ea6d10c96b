// The generation policy on a scripted model whose logits the test chooses: DSML structure is
// decoded greedily even at high temperature, payloads and plain text are sampled, tool-call and
// stop-sequence endings, hold-back, limits and failures.
#include "server/worker/decoder.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "chat/dsml_tracker.h"
#include "worker_test_util.h"

namespace dstar::server::worker {
namespace {

// Step i offers script[i].token with a logit boost over a flat field of zeros; after the
// script it offers EOS.  With min_p 0 and 4096 tokens a boost of 3 gives the scripted token a
// sampling probability of about 0.5%, while a boost of 60 makes it certain.
class ScriptedModel final : public DecodeModel {
public:
    struct Step {
        int32_t token;
        float boost;
    };
    ScriptedModel(const tok::Tokenizer &tok, uint32_t start_pos, uint32_t ctx)
        : tok_(tok), start_(start_pos), ctx_(ctx), logits_(static_cast<size_t>(tok.n_vocab()), 0.0f) {
        refresh();
    }
    void add(const std::string &text, float boost) {
        for (int32_t t : tok_.encode_rendered(text)) script_.push_back({t, boost});
        refresh();
    }
    void add_token(int32_t token, float boost) {
        script_.push_back({token, boost});
        refresh();
    }
    const std::vector<float> &logits() const override { return logits_; }
    uint32_t pos() const override { return start_ + static_cast<uint32_t>(appended_.size()); }
    uint32_t ctx() const override { return ctx_; }
    void append(int32_t token) override {
        if (fail_at_ >= 0 && appended_.size() == static_cast<size_t>(fail_at_)) throw std::runtime_error("device lost");
        appended_.push_back(token);
        refresh();
    }

    const std::vector<Step> &script() const { return script_; }
    const std::vector<int32_t> &appended() const { return appended_; }
    void fail_at(int step) { fail_at_ = step; }

private:
    void refresh() {
        std::fill(logits_.begin(), logits_.end(), 0.0f);
        const size_t i = appended_.size();
        if (i < script_.size())
            logits_[static_cast<size_t>(script_[i].token)] = script_[i].boost;
        else
            logits_[static_cast<size_t>(tok_.eos())] = 60.0f;
    }
    const tok::Tokenizer &tok_;
    uint32_t start_, ctx_;
    std::vector<float> logits_;
    std::vector<Step> script_;
    std::vector<int32_t> appended_;
    int fail_at_ = -1;
};

class DecoderTest : public test::TinyTokenizerTest {
protected:
    static JobRequest request(bool tools, chat::ThinkMode mode = chat::ThinkMode::None) {
        JobRequest r = job(chat_text("q", chat::think_enabled(mode)), 1000, 1234);
        r.tools = tools;
        r.mode = mode;
        r.sampling.temperature = 1.0f;
        r.sampling.min_p = 0.0f;  // every token stays a candidate
        return r;
    }
    static DecodeSetup setup(uint32_t max_tokens, TraceRecord *trace = nullptr) {
        DecodeSetup s;
        s.max_tokens = max_tokens;
        s.prompt_tokens = 10;
        s.request_ctx = "0..10:10";
        s.trace = trace;
        return s;
    }
    // Runs to the end; returns the concatenated stream.
    static std::string run(Decoder &d, DecodeModel &m, size_t max_steps = 10000) {
        std::string streamed;
        for (size_t i = 0; i < max_steps && !d.finished(); i++) streamed += d.step(m);
        return streamed;
    }
    static const std::string kStart, kStructure, kClose;
};
const std::string DecoderTest::kStart = "\n\n<｜DSML｜tool_calls>";
const std::string DecoderTest::kStructure =
    "\n<｜DSML｜invoke name=\"get_weather\">\n<｜DSML｜parameter name=\"city\" string=\"true\">";
const std::string DecoderTest::kClose = "</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";

TEST_F(DecoderTest, DsmlStructureIsGreedyAndPayloadsAreSampled) {
    JobRequest req = request(true);
    TraceRecord trace(1);
    Decoder d(req, setup(1000, &trace), tok());
    ScriptedModel m(tok(), 10, 4096);
    m.add("Let me check the weather", 3);   // plain text: sampled
    m.add(kStart, 60);                      // the model opens a block
    m.add(kStructure, 3);                   // tag syntax: must be argmax
    m.add("Paris and Rome and Berlin", 3);  // string payload: sampled
    m.add(kClose, 60);
    const std::string streamed = run(d, m);

    ASSERT_TRUE(d.finished());
    EXPECT_EQ(d.finish(), Finish::ToolCalls);
    EXPECT_EQ(streamed, d.text());
    // Replay the generated text through an independent tracker: every token chosen while the
    // tracker said "structural" is the argmax, and sampling did choose other tokens elsewhere.
    chat::DsmlTracker tracker;
    std::string text;
    size_t greedy_steps = 0, sampled_off_argmax = 0;
    ASSERT_LE(m.appended().size(), m.script().size());
    for (size_t i = 0; i < m.appended().size(); i++) {
        const chat::DsmlDecodeState st = tracker.update(text);
        const bool argmax = m.appended()[i] == m.script()[i].token;
        if (chat::dsml_state_is_greedy(st)) {
            greedy_steps++;
            EXPECT_TRUE(argmax) << "step " << i << " in " << chat::dsml_decode_state_name(st);
        } else if (!argmax) {
            sampled_off_argmax++;
        }
        text += tok().token_bytes(m.appended()[i]);
    }
    EXPECT_GE(greedy_steps, tok().encode_rendered(kStructure).size());
    EXPECT_GT(sampled_off_argmax, 0u);
    EXPECT_FALSE(d.checkpoint_allowed());  // no checkpoints once a tool-call block started
    const std::string t = trace.take();
    EXPECT_NE(t.find("--- trace: entered tool-call block after "), std::string::npos);
    EXPECT_NE(t.find("--- trace: closed tool-call block after "), std::string::npos);
}

TEST_F(DecoderTest, WithoutToolsEveryTokenIsSampled) {
    JobRequest req = request(false);
    Decoder d(req, setup(1000), tok());
    ScriptedModel m(tok(), 10, 4096);
    m.add(kStart + kStructure, 3);
    run(d, m, m.script().size());
    size_t off = 0;
    for (size_t i = 0; i < m.appended().size(); i++) off += m.appended()[i] != m.script()[i].token;
    EXPECT_GT(off, m.appended().size() / 2);
    EXPECT_TRUE(d.checkpoint_allowed());
}

TEST_F(DecoderTest, UnclosedToolCallIsAnError) {
    JobRequest req = request(true);
    ScriptedModel m(tok(), 10, 4096);
    m.add(kStart + kStructure, 60);
    const uint32_t limit = static_cast<uint32_t>(m.script().size());
    Decoder d(req, setup(limit), tok());
    run(d, m);
    EXPECT_EQ(d.generated(), limit);
    EXPECT_EQ(d.finish(), Finish::Error);
    EXPECT_EQ(d.error(), "unterminated tool call");
}

TEST_F(DecoderTest, ToolMarkersInsideReasoningDoNotStop) {
    JobRequest req = request(true, chat::ThinkMode::High);
    Decoder d(req, setup(1000), tok());
    ScriptedModel m(tok(), 10, 4096);
    m.add("I could write " + kStart + kStructure + "x" + kClose + " but" + think_close() + "Sunny.", 60);
    run(d, m);
    EXPECT_EQ(d.finish(), Finish::Stop);  // ended by EOS, not by the quoted block
    EXPECT_EQ(d.generated(), m.script().size());
    EXPECT_TRUE(d.checkpoint_allowed());
}

TEST_F(DecoderTest, EosEndsTheTurnWithoutBeingEvaluated) {
    JobRequest req = request(false);
    Decoder d(req, setup(1000), tok());
    ScriptedModel m(tok(), 10, 4096);
    m.add("Hello world", 60);
    EXPECT_EQ(run(d, m), "Hello world");
    EXPECT_EQ(d.finish(), Finish::Stop);
    EXPECT_EQ(m.appended().size(), m.script().size());  // EOS was not appended
    EXPECT_EQ(d.generated(), m.script().size());
}

TEST_F(DecoderTest, StopSequenceIsCutAndHeldBackWhileStreaming) {
    JobRequest req = request(false);
    req.stop = {"XYZ", "never"};  // longest 5: hold back 4 bytes
    Decoder d(req, setup(1000), tok());
    ScriptedModel m(tok(), 10, 4096);
    m.add("one two three XYZ four", 60);
    std::string streamed;
    while (!d.finished()) {
        streamed += d.step(m);
        if (!d.finished()) {
            EXPECT_LE(streamed.size() + 4, std::max<size_t>(d.text().size(), 4)) << streamed;
            EXPECT_EQ(d.text().compare(0, streamed.size(), streamed), 0);
        }
    }
    EXPECT_EQ(d.finish(), Finish::Stop);
    EXPECT_TRUE(d.stop_sequence_hit());
    EXPECT_EQ(d.text(), "one two three ");
    EXPECT_EQ(streamed, d.text());
}

TEST_F(DecoderTest, IncompleteUtf8IsHeldUntilItCompletes) {
    JobRequest req = request(false);
    Decoder d(req, setup(1000), tok());
    ScriptedModel m(tok(), 10, 4096);
    m.add("caf", 60);
    const size_t caf = m.script().size();
    // "é" sampled as its two byte-level tokens.
    for (char byte : std::string("\xC3\xA9")) {
        const std::vector<int32_t> ids = tok().encode_text(std::string(1, byte));
        ASSERT_EQ(ids.size(), 1u);
        m.add_token(ids[0], 60);
    }
    std::string streamed;
    for (size_t i = 0; i < caf; i++) streamed += d.step(m);
    EXPECT_EQ(streamed, "caf");
    EXPECT_EQ(d.step(m), "");  // a lead byte alone is held back
    EXPECT_EQ(d.step(m), "\xC3\xA9");
    run(d, m);
    EXPECT_EQ(d.text(), "caf\xC3\xA9");
}

TEST_F(DecoderTest, LimitsEndWithLength) {
    JobRequest req = request(false);
    {
        Decoder d(req, setup(3), tok());
        ScriptedModel m(tok(), 10, 4096);
        m.add("a b c d e f", 60);
        run(d, m);
        EXPECT_EQ(d.finish(), Finish::Length);
        EXPECT_EQ(d.generated(), 3u);
    }
    {
        Decoder d(req, setup(1000), tok());
        ScriptedModel m(tok(), 10, 12);  // two positions left
        m.add("a b c d e f", 60);
        run(d, m);
        EXPECT_EQ(d.finish(), Finish::Length);
        EXPECT_EQ(d.generated(), 2u);
    }
    {
        Decoder d(req, setup(0), tok());
        ScriptedModel m(tok(), 10, 4096);
        EXPECT_EQ(run(d, m), "");
        EXPECT_EQ(d.finish(), Finish::Length);
        EXPECT_EQ(d.generated(), 0u);
    }
}

TEST_F(DecoderTest, ModelFailureEndsWithTheErrorAndStopEndsEarly) {
    JobRequest req = request(false);
    {
        Decoder d(req, setup(1000), tok());
        ScriptedModel m(tok(), 10, 4096);
        m.add("a b c d", 60);
        m.fail_at(2);
        run(d, m);
        EXPECT_EQ(d.finish(), Finish::Error);
        EXPECT_EQ(d.error(), "device lost");
        EXPECT_TRUE(d.model_failed());
        EXPECT_EQ(d.generated(), 2u);
    }
    {
        Decoder d(req, setup(1000), tok());
        ScriptedModel m(tok(), 10, 4096);
        m.add("a b c d", 60);
        d.step(m);
        d.stop(Finish::Error, "client disconnected");
        EXPECT_TRUE(d.finished());
        EXPECT_EQ(d.error(), "client disconnected");
        EXPECT_EQ(d.step(m), "");
        EXPECT_EQ(d.generated(), 1u);
    }
}

}  // namespace
}  // namespace dstar::server::worker

// Runs every case of tests/chat/dsml_corpus through the final parser, the streaming splitter
// and the sampling tracker.  A case is NAME.txt (the model's completion, raw bytes) and
// NAME.json (what `dstar dsml-parse` prints for it); a NAME ending in ".thinking" is parsed
// as a thinking-mode completion (the prompt ended with <think>).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "chat/dsml_parse.h"
#include "chat/dsml_tracker.h"
#include "chat/stream_splitter.h"
#include "chat/test_util.h"
#include "chat/tool_stop.h"

namespace dstar::chat {
namespace {

using Json = nlohmann::ordered_json;
using K = StreamEvent::Kind;

struct Case {
    std::string name;
    std::string text;
    Json expected;
    bool thinking = false;
};

const std::vector<Case> &corpus() {
    static const std::vector<Case> cases = [] {
        std::vector<Case> out;
        for (const auto &entry : std::filesystem::directory_iterator(DSTAR_DSML_CORPUS_DIR)) {
            if (entry.path().extension() != ".txt") continue;
            Case c;
            c.name = entry.path().stem().string();
            c.thinking = c.name.ends_with(".thinking");
            c.text = test::read_bytes(entry.path().string());
            bool ok = false;
            const std::string json = test::read_bytes(entry.path().parent_path() / (c.name + ".json"), &ok);
            EXPECT_TRUE(ok) << c.name << ": missing " << c.name << ".json";
            c.expected = Json::parse(json, nullptr, false);
            EXPECT_FALSE(c.expected.is_discarded()) << c.name << ".json is not JSON";
            out.push_back(std::move(c));
        }
        std::sort(out.begin(), out.end(), [](const Case &a, const Case &b) { return a.name < b.name; });
        return out;
    }();
    return cases;
}

// The arguments of a call as an object, or nullopt if they are not JSON (ds4 keeps a
// string="false" value that is not JSON as raw text).
std::optional<Json> arguments_object(const std::string &arguments) {
    if (!Json::accept(arguments)) return std::nullopt;
    return Json::parse(compact_arguments_json(arguments));
}

TEST(DsmlCorpus, HasEveryKindOfCase) {
    std::map<std::string, int> kinds;
    for (const Case &c : corpus()) kinds[c.name.substr(0, c.name.find('-'))]++;
    EXPECT_GE(corpus().size(), 40u);
    for (const char *kind : {"ok", "lookalike", "truncated", "malformed"}) EXPECT_GE(kinds[kind], 5) << kind;
}

TEST(DsmlCorpus, FinalParseGivesTheExpectedResult) {
    for (const Case &c : corpus()) {
        SCOPED_TRACE(c.name);
        const ParsedReply r = parse_generated_message(c.text, c.thinking);
        const Json &e = c.expected;
        EXPECT_EQ(r.content, e["content"].get<std::string>());
        if (e["reasoning_content"].is_null()) {
            EXPECT_FALSE(r.reasoning);
        } else {
            EXPECT_EQ(r.reasoning, e["reasoning_content"].get<std::string>());
        }
        EXPECT_EQ(!r.ok, e.contains("error"));
        EXPECT_EQ(r.error, e.value("error", ""));
        EXPECT_EQ(r.recovery, e.value("recovery", ""));
        ASSERT_EQ(r.calls.size(), e["tool_calls"].size());
        for (size_t i = 0; i < r.calls.size(); i++) {
            const Json &call = e["tool_calls"][i];
            EXPECT_EQ(r.calls[i].name, call["name"].get<std::string>());
            if (call["arguments"].is_string()) {
                EXPECT_FALSE(arguments_object(r.calls[i].arguments));
                EXPECT_EQ(r.calls[i].arguments, call["arguments"].get<std::string>());
            } else {
                EXPECT_EQ(arguments_object(r.calls[i].arguments), call["arguments"]);
            }
        }
        if (r.ok && !r.raw_block.empty()) {
            // The raw block is the sampled text itself, ending with a closing marker.
            EXPECT_NE(c.text.find(r.raw_block), std::string::npos);
            EXPECT_TRUE(find_any_tool_calls_end(r.raw_block));
        }
        if (!r.ok) {
            EXPECT_EQ(r.content, c.text);
            EXPECT_TRUE(r.calls.empty());
        }
    }
}

// Everything a streaming client receives, concatenated per channel.
struct Streamed {
    std::string reasoning, content;
    std::map<int, std::string> names, args;
    std::set<int> ended;

    void add(const std::vector<StreamEvent> &events) {
        for (const StreamEvent &e : events) {
            switch (e.kind) {
            case K::Reasoning: reasoning += e.text; break;
            case K::Content: content += e.text; break;
            case K::ToolCallStart: names[e.index] = e.text; break;
            case K::ToolCallArgs: args[e.index] += e.text; break;
            case K::ToolCallEnd: ended.insert(e.index); break;
            }
        }
    }
    bool operator==(const Streamed &) const = default;
};

// Feeds text in chunks whose sizes come from `next_size`, then a final update.
template <class NextSize>
Streamed stream(const std::string &text, bool thinking, NextSize next_size) {
    StreamSplitter splitter(thinking, /*tools=*/true);
    Streamed s;
    for (size_t n = next_size(); n < text.size(); n += next_size())
        s.add(splitter.update(std::string_view(text).substr(0, n)));
    s.add(splitter.update(text, true));
    return s;
}

Streamed stream_whole(const std::string &text, bool thinking) {
    return stream(text, thinking, [&] { return text.size(); });
}

TEST(DsmlCorpus, StreamIsTheSameInAnyChunks) {
    // Random chunk sizes split UTF-8 characters, tags, entities and markers anywhere.
    std::mt19937 rng(20240611);
    for (const Case &c : corpus()) {
        SCOPED_TRACE(c.name);
        const Streamed whole = stream_whole(c.text, c.thinking);
        EXPECT_EQ(stream(c.text, c.thinking, [] { return size_t{1}; }), whole) << "1-byte chunks";
        for (int round = 0; round < 6; round++) {
            const size_t max = round < 3 ? 4 : 24;
            std::uniform_int_distribution<size_t> size(1, max);
            EXPECT_EQ(stream(c.text, c.thinking, [&] { return size(rng); }), whole) << "chunks up to " << max;
        }
    }
}

// The completion as the server would have generated it: with tools active it stops after the
// first closing marker that follows a start marker outside the reasoning.
std::string generated_by_server(const std::string &text, bool thinking) {
    ToolStopWatch stop(thinking ? "<｜Assistant｜><think>" : "<｜Assistant｜></think>",
                       thinking ? ThinkMode::High : ThinkMode::None);
    for (size_t n = 1; n <= text.size(); n++) {
        stop.feed(std::string_view(text).substr(n - 1, 1), std::string_view(text).substr(0, n));
        if (stop.saw_end()) return text.substr(0, n);
    }
    return text;
}

// The stream needs every parameter's string attribute to encode its value live.
bool has_parameter_without_string_attribute(std::string_view block) {
    for (const DsmlSyntax *syn : kDsmlSyntaxes) {
        for (size_t p = block.find(syn->param_start); p != std::string_view::npos;
             p = block.find(syn->param_start, p + 1)) {
            const size_t gt = block.find('>', p);
            if (gt != std::string_view::npos && !dsml_attr(block.substr(p, gt - p + 1), "string")) return true;
        }
    }
    return false;
}

TEST(DsmlCorpus, StreamAgreesWithTheFinalParse) {
    // Cases whose final parse needs text after the first closed block: the stream (like the
    // server, which stops generating there) only sees up to that point, so it is compared with
    // the parse of that prefix.  The later "\n\n" block wins the final parse (ds4's order) but
    // the stream takes the first marker; the unescaped protocol document is read whole only
    // thanks to what follows the first </｜DSML｜tool_calls>.
    const std::set<std::string> kSeesFirstBlockOnly = {"ok-later-blank-line-marker-wins",
                                                       "lookalike-write-file-dsml-doc-unescaped"};
    for (const Case &c : corpus()) {
        SCOPED_TRACE(c.name);
        const std::string text = kSeesFirstBlockOnly.count(c.name) ? generated_by_server(c.text, c.thinking) : c.text;
        if (kSeesFirstBlockOnly.count(c.name)) {
            EXPECT_LT(text.size(), c.text.size());
        }
        const ParsedReply r = parse_generated_message(text, c.thinking);
        if (!r.ok) continue;  // a malformed block: the final parse returns the raw text
        const Streamed s = stream_whole(text, c.thinking);
        // A truncated thinking completion is reasoning for the stream but content for the
        // final parse (spec 6.3 step 5).
        if (!c.thinking || r.reasoning) {
            EXPECT_EQ(s.content, r.content);
            EXPECT_EQ(s.reasoning, r.reasoning.value_or(""));
        }
        // Every call the stream finished is the final call of the same index.  (It stops
        // following a block whose parameters lack a string attribute; the final parse then
        // reports the calls.)
        EXPECT_LE(s.ended.size(), r.calls.size());
        for (int i : s.ended) {
            ASSERT_LT(static_cast<size_t>(i), r.calls.size());
            EXPECT_EQ(s.names.at(i), r.calls[i].name);
            const auto final_args = arguments_object(r.calls[i].arguments);
            if (!final_args) continue;  // ds4's own arguments are not JSON here
            const Json streamed = Json::parse(s.args.at(i), nullptr, false);
            EXPECT_EQ(streamed, *final_args) << s.args.at(i);
        }
        if (r.calls.size() > s.ended.size()) {
            EXPECT_TRUE(has_parameter_without_string_attribute(r.raw_block));
        }
    }
}

TEST(DsmlCorpus, TrackerAgreesWithTheReferenceOnEveryTokenPrefix) {
    // Token-sized chunks, except that a "<" directly followed by "/" never ends a chunk: there
    // the tracker legitimately differs (see dsml_decode_state_for_text).
    std::mt19937 rng(7);
    for (const Case &c : corpus()) {
        SCOPED_TRACE(c.name);
        const size_t max = c.text.size() > 4096 ? 96 : 8;
        std::uniform_int_distribution<size_t> size(1, max);
        DsmlTracker tracker;
        size_t n = 0;
        while (n < c.text.size()) {
            n = std::min(c.text.size(), n + size(rng));
            if (n < c.text.size() && c.text[n - 1] == '<' && c.text[n] == '/') n++;
            const std::string_view prefix = std::string_view(c.text).substr(0, n);
            ASSERT_EQ(tracker.update(prefix), dsml_decode_state_for_text(prefix))
                << "after " << n << " bytes: ..." << prefix.substr(n > 60 ? n - 60 : 0);
        }
    }
}

TEST(DsmlCorpus, TrackerDiffersOnlyAfterASplitLessThanSlash) {
    // Any chunking: wherever the tracker and the reference disagree, some earlier chunk ended
    // with a "<" and the next one began with "/" (see dsml_decode_state_for_text).
    std::mt19937 rng(99);
    int disagreements = 0;
    for (const Case &c : corpus()) {
        SCOPED_TRACE(c.name);
        std::uniform_int_distribution<size_t> size(1, c.text.size() > 4096 ? 96 : 6);
        for (int round = 0; round < 4; round++) {
            DsmlTracker tracker;
            bool split_close = false;
            for (size_t n = 0; n < c.text.size();) {
                n = std::min(c.text.size(), n + size(rng));
                const std::string_view prefix = std::string_view(c.text).substr(0, n);
                if (tracker.update(prefix) != dsml_decode_state_for_text(prefix)) {
                    EXPECT_TRUE(split_close) << "after " << n << " bytes: ..." << prefix.substr(n > 60 ? n - 60 : 0);
                    disagreements++;
                    break;
                }
                if (n < c.text.size() && c.text[n - 1] == '<' && c.text[n] == '/') split_close = true;
            }
        }
    }
    EXPECT_GT(disagreements, 0);  // the chunkings do hit the quirk
}

}  // namespace
}  // namespace dstar::chat

// The disk KV cache end to end on the synthetic tiny model: real sessions are stored, found by
// their key text, loaded back bit for bit, evicted, consumed, and every kind of damaged or
// foreign file is skipped or moved aside without a crash or a wrong hit.
#include "kvcache/disk_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>

#include "kvcache/crc32c.h"
#include "kvcache/directory.h"
#include "kvcache/file_format.h"
#include "kvcache/sha1_name.h"
#include "kvcache/stub_file.h"
#include "kvcache/temp_dir.h"
#include "model/synth.h"
#include "tokenizer/hf_vocab.h"

namespace dstar::kvcache {
namespace {

using testing::TempDir;

std::string slurp(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

void spill(const std::string &path, const std::string &bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

bool exists(const std::string &path) { return ::access(path.c_str(), F_OK) == 0; }

bool same_bits(const std::vector<float> &a, const std::vector<float> &b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

int32_t argmax(const std::vector<float> &v) {
    return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

class DiskCacheTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        model_path_ = std::string(::testing::TempDir()) + "/dstar_kvcache_tiny_" + std::to_string(::getpid()) + ".gguf";
        model::SynthOptions o;
        o.tokenizer_json = tok::default_npm_tokenizer_json();
        model::write_synthetic(model_path_, o);
        engine::EngineOptions eo;
        eo.model_path = model_path_;
        eo.threads = 2;
        engine_ = std::make_unique<engine::Engine>(eo);
        // A chat transcript with a tool call: ~200 tokens of the tiny vocabulary.
        text_ = std::string("<｜begin▁of▁sentence｜>You are a helpful assistant. Use the tools.") +
                "<｜User｜>List the files in the current directory, please.<｜Assistant｜></think>" + tool_block() +
                "<｜end▁of▁sentence｜><｜User｜><tool_result>a.txt b.txt</tool_result><｜Assistant｜></think>"
                "There are two files: a.txt and b.txt.<｜end▁of▁sentence｜><｜User｜>Thanks! What is in a.txt?"
                "<｜Assistant｜><think>";
        tokens_ = tok().encode_rendered(text_);
    }
    static void TearDownTestSuite() {
        engine_.reset();
        std::remove(model_path_.c_str());
    }

    static const tok::Tokenizer &tok() { return engine_->tokenizer(); }
    static std::string tool_block() {
        return "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"bash\">\n<｜DSML｜parameter name=\"command\" "
               "string=\"true\">ls</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
    }
    // The first n tokens of the transcript and the text they spell.
    static std::vector<int32_t> head(size_t n) { return std::vector<int32_t>(tokens_.begin(), tokens_.begin() + n); }
    static std::string head_text(size_t n) { return tok().decode(head(n)); }

    Options options() const {
        Options o;
        o.dir = dir_.path();
        o.min_tokens = 16;
        o.space_mb = 64;
        return o;
    }
    std::unique_ptr<DiskCache> open(const Options &o, uint8_t bits = 2, uint32_t ctx = 256) {
        return std::make_unique<DiskCache>(o, tok(), bits, ctx, [this](const std::string &l) { logs_.push_back(l); });
    }
    std::unique_ptr<engine::Session> session(size_t n, uint32_t ctx = 256) {
        auto s = std::make_unique<engine::Session>(*engine_, ctx, 32);
        if (n) s->sync(head(n));
        return s;
    }
    bool logged(const std::string &needle) const {
        return std::any_of(logs_.begin(), logs_.end(), [&](const std::string &l) { return l.find(needle) != std::string::npos; });
    }
    std::string logs() const {
        std::string all;
        for (const std::string &l : logs_) all += l + "\n";
        return all;
    }
    std::string path_for(const std::string &key_text) const { return dir_.file(cache_file_name(sha1_hex(key_text))); }

    static std::string model_path_;
    static std::unique_ptr<engine::Engine> engine_;
    static std::string text_;
    static std::vector<int32_t> tokens_;
    TempDir dir_;
    std::vector<std::string> logs_;
};
std::string DiskCacheTest::model_path_;
std::unique_ptr<engine::Engine> DiskCacheTest::engine_;
std::string DiskCacheTest::text_;
std::vector<int32_t> DiskCacheTest::tokens_;

TEST_F(DiskCacheTest, TranscriptIsLongEnough) { ASSERT_GE(tokens_.size(), 150u); }

TEST_F(DiskCacheTest, StoreThenLoadContinuesLikeASessionThatNeverLeft) {
    auto cache = open(options());
    ASSERT_TRUE(cache->enabled());
    auto a = session(120);
    const StoreResult st = cache->store(*a, SaveReason::Cold, KeyKind::TokenText, {}, 7);
    ASSERT_TRUE(st.ok) << logs();
    EXPECT_EQ(st.file, path_for(head_text(120)));
    EXPECT_TRUE(logged("kv cache stored tokens=120 trimmed=7 reason=cold key=token-text size=")) << logs();

    auto b = session(0);
    const std::optional<LoadHit> hit = cache->load_longest_prefix(text_, *b);
    ASSERT_TRUE(hit) << logs();
    EXPECT_EQ(hit->tokens, 120u);
    EXPECT_EQ(hit->text_bytes, head_text(120).size());
    EXPECT_FALSE(hit->consumed);
    EXPECT_EQ(b->tokens(), a->tokens());
    EXPECT_TRUE(same_bits(b->logits(), a->logits()));
    EXPECT_TRUE(b->save() == a->save());  // the whole state, byte for byte
    EXPECT_TRUE(logged("kv cache hit text tokens=120 text=" + std::to_string(hit->text_bytes) +
                       " quant=2 key=token-text load="))
        << logs();

    // The caller's effective prompt: the loaded tokens + the rest of the text, tokenized.
    std::vector<int32_t> prompt = b->tokens();
    tok().encode_rendered(std::string_view(text_).substr(hit->text_bytes), prompt);
    auto never_left = session(0);
    never_left->sync(prompt);
    b->sync(prompt);
    ASSERT_TRUE(same_bits(b->logits(), never_left->logits()));
    for (int step = 0; step < 6; step++) {
        const int32_t next = argmax(b->logits());
        ASSERT_EQ(next, argmax(never_left->logits())) << step;
        b->append(next);
        never_left->append(next);
        ASSERT_TRUE(same_bits(b->logits(), never_left->logits())) << step;
    }
    const Stats s = cache->stats();
    EXPECT_EQ(s.stores, 1u);
    EXPECT_EQ(s.hits, 1u);
    EXPECT_EQ(s.files, 1u);
    EXPECT_EQ(s.bytes_written, st.bytes);
}

TEST_F(DiskCacheTest, FileHasDs4LayoutWithChecksumAndHitBookkeeping) {
    auto cache = open(options());
    auto a = session(100);
    const StoreResult st = cache->store(*a, SaveReason::Continued);
    ASSERT_TRUE(st.ok);
    const std::string bytes = slurp(st.file);
    ASSERT_EQ(bytes.size(), st.bytes);
    std::string why;
    std::optional<FileHeader> h = decode_header(std::span(reinterpret_cast<const uint8_t *>(bytes.data()), kPrefixBytes), &why);
    ASSERT_TRUE(h) << why;
    EXPECT_EQ(h->quant_bits, 2);
    EXPECT_EQ(h->reason, static_cast<uint8_t>(SaveReason::Continued));
    EXPECT_EQ(h->flags, 0);  // no tool map: nothing remembered
    EXPECT_EQ(h->tokens, 100u);
    EXPECT_EQ(h->hits, 0u);
    EXPECT_EQ(h->ctx, 256u);
    EXPECT_EQ(h->created, h->last_used);
    EXPECT_GT(h->created, 1'600'000'000u);
    const std::string key = head_text(100);
    ASSERT_EQ(h->text_bytes, key.size());
    EXPECT_EQ(bytes.substr(kPrefixBytes, key.size()), key);  // `strings` shows the prompt
    const std::vector<uint8_t> payload = a->save();
    ASSERT_EQ(h->payload_bytes, payload.size());
    EXPECT_TRUE(bytes.substr(kPrefixBytes + key.size()) == std::string(payload.begin(), payload.end()));
    ASSERT_TRUE(h->payload_crc);
    EXPECT_EQ(*h->payload_crc, crc32c(0, payload.data(), payload.size()));

    auto b = session(0);
    ASSERT_TRUE(cache->load_longest_prefix(text_, *b));
    ASSERT_TRUE(cache->load_longest_prefix(text_, *b));
    const std::string after = slurp(st.file);
    h = decode_header(std::span(reinterpret_cast<const uint8_t *>(after.data()), kPrefixBytes));
    ASSERT_TRUE(h);
    EXPECT_EQ(h->hits, 2u);
    EXPECT_GE(h->last_used, h->created);
    EXPECT_TRUE(after.substr(kPrefixBytes) == bytes.substr(kPrefixBytes));  // only the header changed
}

TEST_F(DiskCacheTest, LongestKeyTextPrefixWins) {
    auto cache = open(options());
    auto s = session(0);
    for (size_t n : {40, 80, 120}) {
        s->sync(head(n));
        ASSERT_TRUE(cache->store(*s, SaveReason::Continued).ok);
    }
    auto b = session(0);
    auto hit = cache->load_longest_prefix(text_, *b);
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->tokens, 120u);
    hit = cache->load_longest_prefix(head_text(100) + "and then something else", *b);
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->tokens, 80u);
    EXPECT_EQ(b->tokens(), head(80));
    // A key must be a byte prefix of the prompt: one changed byte early on is a miss, and
    // the session keeps what it holds.
    std::string changed = text_;
    changed[30] = changed[30] == 'x' ? 'y' : 'x';
    EXPECT_FALSE(cache->load_longest_prefix(changed, *b));
    EXPECT_EQ(b->tokens(), head(80));
    EXPECT_FALSE(cache->load_longest_prefix(head_text(39), *b));  // shorter than every key
    Options o = options();
    o.min_tokens = 50;  // the 40-token file no longer counts
    auto strict = open(o);
    EXPECT_FALSE(strict->load_longest_prefix(head_text(60), *b));
    EXPECT_TRUE(strict->load_longest_prefix(head_text(90), *b));
    EXPECT_EQ(cache->stats().misses, 2u);
}

TEST_F(DiskCacheTest, QuantAndContextDecideWhoMayLoad) {
    auto q2 = open(options());
    auto a = session(60);
    ASSERT_TRUE(q2->store(*a, SaveReason::Cold).ok);
    auto b = session(0);
    EXPECT_TRUE(open(options(), 4)->load_longest_prefix(text_, *b));  // cross-quant allowed by default
    Options reject = options();
    reject.reject_different_quant = true;
    EXPECT_FALSE(open(reject, 4)->load_longest_prefix(text_, *b));
    EXPECT_TRUE(open(reject, 2)->load_longest_prefix(text_, *b));
    EXPECT_FALSE(open(options(), 2, 128)->load_longest_prefix(text_, *b));  // written with ctx 256 > 128
    auto small = session(0, 60);  // the checkpoint must leave room for one more token
    EXPECT_FALSE(open(options())->load_longest_prefix(text_, *small));
    auto larger = session(0, 512);
    EXPECT_TRUE(open(options(), 2, 512)->load_longest_prefix(text_, *larger));
    EXPECT_EQ(larger->tokens(), head(60));
}

TEST_F(DiskCacheTest, LongCheckpointsAreConsumedShortOnesCountHits) {
    Options o = options();
    o.cold_max_tokens = 50;
    auto cache = open(o);
    auto s = session(40);
    ASSERT_TRUE(cache->store(*s, SaveReason::Cold).ok);
    s->sync(head(80));
    const StoreResult longer = cache->store(*s, SaveReason::Continued);
    ASSERT_TRUE(longer.ok);
    auto b = session(0);
    auto hit = cache->load_longest_prefix(text_, *b);
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->tokens, 80u);
    EXPECT_TRUE(hit->consumed);
    EXPECT_FALSE(exists(longer.file));
    EXPECT_TRUE(logged(" consumed file=" + longer.file)) << logs();
    hit = cache->load_longest_prefix(text_, *b);  // the 40-token file: kept, hit counted
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->tokens, 40u);
    EXPECT_FALSE(hit->consumed);
    EXPECT_TRUE(exists(hit->file));
    o.cold_max_tokens = 0;  // 0: no consuming at all
    s->sync(head(80));
    ASSERT_TRUE(open(o)->store(*s, SaveReason::Evict).ok);
    hit = open(o)->load_longest_prefix(text_, *b);
    ASSERT_TRUE(hit);
    EXPECT_FALSE(hit->consumed);
}

TEST_F(DiskCacheTest, DamagedFilesAreMovedAsideNeverLoaded) {
    auto cache = open(options());
    auto a = session(100);
    const StoreResult st = cache->store(*a, SaveReason::Cold);
    ASSERT_TRUE(st.ok);
    const std::string good = slurp(st.file);
    const size_t payload_at = kPrefixBytes + head_text(100).size();

    // A flipped bit deep in the rows: structurally valid, caught by the checksum.
    std::string flipped = good;
    flipped[good.size() - 5000] ^= 0x10;
    spill(st.file, flipped);
    auto b = session(30);
    EXPECT_FALSE(cache->load_longest_prefix(text_, *b));
    EXPECT_EQ(b->pos(), 0u);  // a rejected payload leaves an empty session
    EXPECT_FALSE(exists(st.file));
    EXPECT_TRUE(slurp(st.file + ".bad") == flipped);
    EXPECT_TRUE(logged("payload checksum mismatch")) << logs();
    EXPECT_EQ(cache->stats().rejected_files, 1u);
    EXPECT_FALSE(cache->load_longest_prefix(text_, *b));  // never selected again

    // A ds4 file (no checksum) whose payload was written for another layout.
    std::string foreign = good;
    foreign[7] = 0;
    foreign[payload_at + 4 * 8] ^= 1;  // payload field 8: layer count
    spill(st.file, foreign);
    EXPECT_FALSE(cache->load_longest_prefix(text_, *b));
    EXPECT_TRUE(logged("different DS4 layout")) << logs();
    EXPECT_TRUE(exists(st.file + ".bad"));
    EXPECT_FALSE(exists(st.file));

    // Key text that does not hash to the file name.
    std::string renamed_text = good;
    renamed_text[kPrefixBytes + 3] ^= 1;
    spill(st.file, renamed_text);
    EXPECT_FALSE(cache->load_longest_prefix(text_, *b));
    EXPECT_TRUE(logged("cached text hash mismatch")) << logs();
    EXPECT_FALSE(exists(st.file));

    // Truncated: not even listed (ds4's listing rule), so it stays where it is.
    spill(st.file, good.substr(0, good.size() - 1));
    EXPECT_FALSE(cache->load_longest_prefix(text_, *b));
    EXPECT_TRUE(exists(st.file));
    EXPECT_EQ(cache->stats().rejected_files, 3u);

    // And a ds4 file without a checksum but intact loads normally.
    std::string ds4_file = good;
    ds4_file[7] = 0;
    std::memset(&ds4_file[20], 0, 4);
    spill(st.file, ds4_file);
    ASSERT_TRUE(cache->load_longest_prefix(text_, *b));
    EXPECT_TRUE(b->save() == a->save());
}

TEST_F(DiskCacheTest, RandomTruncationsAndBitFlipsNeverGiveAWrongHit) {
    auto cache = open(options());
    auto a = session(90);
    const StoreResult st = cache->store(*a, SaveReason::Cold);
    ASSERT_TRUE(st.ok);
    const std::string good = slurp(st.file);
    const std::vector<uint8_t> want = a->save();
    std::mt19937_64 rng(12345);
    int hits = 0, misses = 0;
    auto b = session(0);
    for (int trial = 0; trial < 160; trial++) {
        std::string bad = good;
        if (trial % 4 == 0) {
            bad.resize(rng() % good.size());
        } else {
            // Bias half of the flips into the header and key text, where the fields are.
            const size_t span = trial % 2 ? good.size() : kPrefixBytes + 64;
            bad[rng() % span] ^= static_cast<char>(1u << (rng() % 8));
        }
        std::filesystem::remove(st.file + ".bad");
        spill(st.file, bad);
        std::optional<LoadHit> hit;
        ASSERT_NO_THROW(hit = cache->load_longest_prefix(text_, *b)) << trial;
        if (hit) {
            hits++;
            ASSERT_TRUE(b->save() == want) << "trial " << trial << ": a damaged file loaded a different state";
        } else {
            misses++;
        }
    }
    EXPECT_GT(misses, 60);  // truncations and most flips
    EXPECT_GT(hits, 0);     // flips in bookkeeping fields (hits, times, reason) are harmless
}

TEST_F(DiskCacheTest, EvictionKeepsTheBudgetByScore) {
    // Files of 70..150 tokens are 0.26-0.32 MiB here: a 1 MiB budget holds three.
    Options o = options();
    o.space_mb = 1;
    auto cache = open(o);
    auto s = session(0);
    std::map<size_t, StoreResult> stored;
    for (size_t n : {70, 90, 110, 130, 150}) {
        s->sync(head(n));
        stored[n] = cache->store(*s, SaveReason::Continued);
        ASSERT_TRUE(stored[n].ok) << logs();
        uint64_t total = 0;
        for (const CacheFile &f : list_cache_files(dir_.path())) total += f.file_size;
        ASSERT_LE(total, uint64_t(1) << 20);
    }
    // Fewest tokens per byte went first, one per store.
    EXPECT_FALSE(exists(stored[70].file));
    EXPECT_FALSE(exists(stored[90].file));
    for (size_t n : {110, 130, 150}) EXPECT_TRUE(exists(stored[n].file)) << n;
    const auto evicted_at = [&](const std::string &needle) {
        return std::find_if(logs_.begin(), logs_.end(), [&](const std::string &l) { return l.find(needle) != std::string::npos; });
    };
    const auto first = evicted_at("kv cache evicted reason=disk-cache-full tokens=70 hits=0 size=");
    const auto second = evicted_at("kv cache evicted reason=disk-cache-full tokens=90 hits=0 size=");
    ASSERT_NE(first, logs_.end()) << logs();
    ASSERT_NE(second, logs_.end()) << logs();
    EXPECT_LT(first, second);
    EXPECT_EQ(cache->stats().evictions, 2u);
    EXPECT_EQ(cache->stats().files, 3u);

    // Hits keep a file, and the file just written is protected although it scores lowest:
    // a 150-token checkpoint under a 200 KB visible key (0.52 MiB) pushes out 130 and 150.
    auto b = session(0);
    for (int i = 0; i < 3; i++) ASSERT_TRUE(cache->load_longest_prefix(head_text(115), *b));
    const StoreResult big = cache->store(*s, SaveReason::Evict, KeyKind::ResponsesVisible, std::string(200000, 'v'));
    ASSERT_TRUE(big.ok) << logs();
    EXPECT_TRUE(exists(big.file));
    EXPECT_TRUE(exists(stored[110].file));
    EXPECT_FALSE(exists(stored[130].file));
    EXPECT_FALSE(exists(stored[150].file));
}

TEST_F(DiskCacheTest, OpeningEvictsDownToBudgetAndRemovesStaleTempFiles) {
    using testing::stub_header;
    using testing::write_stub;
    const uint64_t now = static_cast<uint64_t>(std::time(nullptr));
    // 3 x 400 KB in a 1 MiB budget: the least valuable one goes.
    write_stub(dir_.path(), stub_header(1000, 400'000, 0, now), "dense");
    write_stub(dir_.path(), stub_header(500, 400'000, 0, now), "sparse");
    write_stub(dir_.path(), stub_header(500, 400'000, 5, now), "popular");
    const std::string temp = path_for("x") + ".tmp." + std::to_string(::getpid());
    spill(temp, "half a file");
    Options o = options();
    o.space_mb = 1;
    auto cache = open(o);
    EXPECT_FALSE(exists(path_for("sparse")));
    EXPECT_TRUE(exists(path_for("dense")));
    EXPECT_TRUE(exists(path_for("popular")));
    EXPECT_FALSE(exists(temp));
    EXPECT_TRUE(logged("removed stale temp file")) << logs();
    EXPECT_TRUE(logged("KV disk cache " + dir_.path() + " (budget=1 MiB, cross-quant=accept, min=16")) << logs();
    EXPECT_EQ(cache->stats().files, 2u);
    EXPECT_EQ(cache->stats().evictions, 1u);
}

TEST_F(DiskCacheTest, FailedWriteLeavesTheOldFileIntact) {
    auto q2 = open(options());
    auto a = session(50);
    const StoreResult first = q2->store(*a, SaveReason::Cold);
    ASSERT_TRUE(first.ok);
    const std::string before = slurp(first.file);
    // A cache that may not reuse 2-bit files must rewrite it; make its temp file unopenable.
    Options o = options();
    o.reject_different_quant = true;
    auto q4 = open(o, 4);
    const std::string temp = first.file + ".tmp." + std::to_string(::getpid());
    ASSERT_EQ(::mkdir(temp.c_str(), 0700), 0);
    const StoreResult failed = q4->store(*a, SaveReason::Evict);
    EXPECT_FALSE(failed.ok);
    EXPECT_TRUE(slurp(first.file) == before);
    EXPECT_EQ(q4->stats().store_failures, 1u);
    EXPECT_TRUE(logged("kv cache store failed (evict): cannot create")) << logs();
    ASSERT_EQ(::rmdir(temp.c_str()), 0);
    ASSERT_TRUE(q4->store(*a, SaveReason::Evict).ok);
    EXPECT_TRUE(logged("replaced incompatible file")) << logs();
    EXPECT_EQ(slurp(first.file)[4], 4);  // now the 4-bit cache's file

    // A new key whose write fails leaves nothing behind.
    auto c = session(70);
    const std::string path = path_for(head_text(70));
    ASSERT_EQ(::mkdir((path + ".tmp." + std::to_string(::getpid())).c_str(), 0700), 0);
    EXPECT_FALSE(q2->store(*c, SaveReason::Cold).ok);
    EXPECT_FALSE(exists(path));
    EXPECT_EQ(q2->stats().store_failures, 1u);
}

TEST_F(DiskCacheTest, ToolMapTrailerTravelsWithTheCheckpoint) {
    ToolMemory memory;
    memory.remember({"call_ls_1", "call_ls_2"}, tool_block());
    memory.remember({"call_elsewhere"}, "\n\n<｜DSML｜tool_calls>\nnot in this transcript\n</｜DSML｜tool_calls>");
    auto cache = open(options());
    auto a = session(tokens_.size() - 10);
    ASSERT_NE(tok().decode(a->tokens()).find(tool_block()), std::string::npos);
    const StoreResult st = cache->store(*a, SaveReason::Evict, KeyKind::TokenText, {}, 0, &memory);
    ASSERT_TRUE(st.ok);
    std::string bytes = slurp(st.file);
    EXPECT_EQ(bytes[6] & kFlagToolMap, kFlagToolMap);

    // Loading restores exactly the entries of this text, as disk-origin entries.
    ToolMemory fresh;
    auto b = session(0);
    ASSERT_TRUE(cache->load_longest_prefix(text_, *b, &fresh));
    EXPECT_EQ(fresh.size(), 2u);
    ASSERT_TRUE(fresh.lookup("call_ls_2"));
    EXPECT_EQ(fresh.lookup("call_ls_2")->block, tool_block());
    EXPECT_EQ(fresh.lookup("call_ls_2")->origin, ToolMemory::Origin::Disk);
    EXPECT_FALSE(fresh.contains("call_elsewhere"));

    // Restore-before-render loads only the ids a request names, from any file.
    ToolMemory other;
    const std::vector<std::string> wanted = {"call_ls_1", "unknown"};
    cache->restore_tool_ids(wanted, other);
    EXPECT_EQ(other.size(), 1u);
    EXPECT_TRUE(other.contains("call_ls_1"));

    // Storing the same key again keeps the file and refreshes only its trailer.
    memory.remember({"call_ls_3"}, tool_block());
    logs_.clear();
    ASSERT_TRUE(cache->store(*a, SaveReason::Shutdown, KeyKind::TokenText, {}, 0, &memory).ok);
    EXPECT_TRUE(logged("kv cache kept tokens=")) << logs();
    const std::string refreshed = slurp(st.file);
    const std::optional<FileHeader> h =
        decode_header(std::span(reinterpret_cast<const uint8_t *>(refreshed.data()), kPrefixBytes));
    ASSERT_TRUE(h);
    EXPECT_TRUE(refreshed.substr(kPrefixBytes, h->payload_end() - kPrefixBytes) ==
                bytes.substr(kPrefixBytes, h->payload_end() - kPrefixBytes));
    EXPECT_EQ(h->reason, static_cast<uint8_t>(SaveReason::Evict));  // still the original file
    ToolMemory third;
    cache->restore_tool_ids(std::vector<std::string>{"call_ls_3"}, third);
    EXPECT_TRUE(third.contains("call_ls_3"));

    // A damaged block in the trailer is not restored (it does not occur in the key text).
    std::string damaged = refreshed;
    damaged[damaged.size() - 20] ^= 1;
    spill(st.file, damaged);
    ToolMemory fourth;
    cache->restore_tool_ids(std::vector<std::string>{"call_ls_1", "call_ls_2", "call_ls_3"}, fourth);
    EXPECT_EQ(fourth.size(), 2u);

    // With exact replay off no trailer is written or read.
    Options off = options();
    off.exact_replay = false;
    off.dir = dir_.file("no_replay");
    auto plain = open(off);
    const StoreResult no_map = plain->store(*a, SaveReason::Evict, KeyKind::TokenText, {}, 0, &memory);
    ASSERT_TRUE(no_map.ok);
    EXPECT_EQ(slurp(no_map.file)[6] & kFlagToolMap, 0);
    off.dir = dir_.path();
    ToolMemory untouched;
    ASSERT_TRUE(open(off)->load_longest_prefix(text_, *b, &untouched));
    open(off)->restore_tool_ids(wanted, untouched);
    EXPECT_EQ(untouched.size(), 0u);
}

TEST_F(DiskCacheTest, VisibleKeysStoreTheLiveTokensUnderTheVisibleText) {
    auto cache = open(options());
    auto a = session(110);  // hidden reasoning would be in these tokens, not in the key
    const std::string visible = "<｜begin▁of▁sentence｜>visible transcript the client will replay";
    const StoreResult st = cache->store(*a, SaveReason::Evict, KeyKind::ResponsesVisible, visible);
    ASSERT_TRUE(st.ok);
    EXPECT_EQ(st.file, path_for(visible));
    EXPECT_EQ(slurp(st.file)[6], kFlagResponsesVisible);
    EXPECT_TRUE(logged("reason=evict key=responses-visible")) << logs();
    auto b = session(0);
    const auto hit = cache->load_longest_prefix(visible + "<｜User｜>next", *b);
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->text_bytes, visible.size());
    EXPECT_EQ(b->tokens(), head(110));
    EXPECT_TRUE(logged("key=responses-visible load=")) << logs();
    ASSERT_TRUE(cache->store(*a, SaveReason::Evict, KeyKind::ThinkingVisible, visible + " 2").ok);
    EXPECT_EQ(slurp(path_for(visible + " 2"))[6], kFlagThinkingVisible);
}

TEST_F(DiskCacheTest, SkipsAndDisabledCaches) {
    auto cache = open(options());
    auto tiny = session(10);
    EXPECT_FALSE(cache->store(*tiny, SaveReason::Cold).ok);
    EXPECT_TRUE(logged("kv cache skipped tokens=10 reason=cold because it is below min-tokens=16")) << logs();
    Options o = options();
    o.space_mb = 1;
    auto small = open(o);
    auto a = session(40);
    EXPECT_FALSE(small->store(*a, SaveReason::Cold, KeyKind::ThinkingVisible, std::string(1100000, 'k')).ok);
    EXPECT_TRUE(logged("exceeds budget 1.00 MiB")) << logs();
    EXPECT_EQ(small->stats().store_failures, 0u);  // a skip, not a failure

    spill(dir_.file("plain_file"), "x");
    Options blocked = options();
    blocked.dir = dir_.file("plain_file/cache");
    auto off = open(blocked);
    EXPECT_FALSE(off->enabled());
    EXPECT_TRUE(logged("failed to create KV cache directory " + blocked.dir)) << logs();
    EXPECT_FALSE(off->store(*a, SaveReason::Cold).ok);
    EXPECT_FALSE(off->load_longest_prefix(text_, *a));
    EXPECT_EQ(a->pos(), 40u);
    Options none;
    EXPECT_FALSE(open(none)->enabled());
    EXPECT_FALSE(open(options(), 3)->enabled());
    EXPECT_TRUE(logged("quant bits 3 is neither 2 nor 4")) << logs();

    Options nested = options();
    nested.dir = dir_.file("a/b/c");
    EXPECT_TRUE(open(nested)->enabled());
    struct stat st;
    ASSERT_EQ(::stat(nested.dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
}

}  // namespace
}  // namespace dstar::kvcache

// The disk KV cache (spec kvcache.md §4-8): one "<sha1>.kv" file per checkpoint, keyed by the
// text the checkpoint's tokens spell, so a restarted server (or another slot) can resume a
// long prompt by loading the longest cached prefix instead of prefilling it.
//
// Files are written atomically (temp file, fsync, rename, fsync of the directory); a file
// that does not parse or whose payload is rejected is never trusted: it is skipped with a
// log line and moved aside (renamed "*.bad") so that it is not selected again.
//
// Thread-safety: every public method may be called from any thread (one internal mutex);
// the worker calls store/load, client threads call restore_tool_ids.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/session.h"
#include "kvcache/tool_memory.h"
#include "tokenizer/tokenizer.h"

namespace dstar::kvcache {

// ds4-server's --kv-cache-* flags (kvcache.md §11), same defaults.
struct Options {
    std::string dir;                        // "" = disabled
    uint64_t space_mb = 4096;               // --kv-disk-space-mb
    uint32_t min_tokens = 512;              // --kv-cache-min-tokens
    uint32_t cold_max_tokens = 30000;       // --kv-cache-cold-max-tokens (0: no cold saves, no consume)
    uint32_t continued_interval = 10000;    // --kv-cache-continued-interval-tokens (0: off)
    uint32_t boundary_trim = 32;            // --kv-cache-boundary-trim-tokens
    uint32_t boundary_align = 2048;         // --kv-cache-boundary-align-tokens (0: off)
    bool reject_different_quant = false;    // --kv-cache-reject-different-quant
    bool exact_replay = true;               // false with --disable-exact-dsml-tool-replay
};

// Header byte 5 (kvcache.md §8.1).
enum class SaveReason : uint8_t { Unknown = 0, Cold = 1, Continued = 2, Evict = 3, Shutdown = 4 };
const char *save_reason_name(SaveReason r);  // "cold", "continued", ...

// What the key text is (header flag bits 1 and 2).
enum class KeyKind { TokenText, ResponsesVisible, ThinkingVisible };
const char *key_kind_name(KeyKind k);  // "token-text", "responses-visible", "thinking-visible"

using LogFn = std::function<void(const std::string &line)>;

struct StoreResult {
    bool ok = false;
    std::string file;      // final path
    uint64_t bytes = 0;    // file size
    double ms = 0;
};

struct LoadHit {
    std::string file;
    uint32_t tokens = 0;       // tokens now in the session
    size_t text_bytes = 0;     // length of the key text (a byte prefix of the prompt text)
    bool consumed = false;     // file deleted after loading (tokens > cold_max_tokens)
    double ms = 0;
};

struct Stats {
    uint64_t files = 0, bytes = 0;         // current directory contents (well-formed files)
    uint64_t hits = 0, misses = 0;         // lookups since start
    uint64_t stores = 0, store_failures = 0;
    uint64_t evictions = 0, rejected_files = 0;  // rejected: corrupt/foreign, moved aside
    uint64_t bytes_written = 0, bytes_read = 0;
};

class DiskCache {
public:
    // Creates the directory (mkdir -p, 0700), removes stale "*.tmp.*" files and runs one
    // eviction pass.  If the directory cannot be used, logs why and stays disabled (the
    // server keeps running).  quant_bits: the model's routed-expert bits (2 or 4).
    DiskCache(Options opt, const tok::Tokenizer &tok, uint8_t quant_bits, uint32_t ctx,
              LogFn log = {});
    bool enabled() const { return enabled_; }
    const Options &options() const { return opt_; }

    // Saves the session's whole current state.  key_text "" = token-text key (the decoded
    // bytes of the session's tokens); otherwise the visible text of a binding (kind says
    // which).  Writes a tool-id trailer from `memory` when exact replay is on.  Skips (ok=false,
    // logged) when the session has fewer than min_tokens or the file would exceed the budget.
    StoreResult store(const engine::Session &s, SaveReason reason, KeyKind kind = KeyKind::TokenText,
                      const std::string &key_text = {}, uint32_t trimmed = 0,
                      ToolMemory *memory = nullptr);

    // Finds the file with the longest key text that is a byte prefix of prompt_text (§7.1) and
    // loads it into `s` (§7.2), restoring its tool-map entries into `memory`.  nullopt = miss
    // (s unchanged) or a rejected file (s reset to empty; file moved aside; logged).
    std::optional<LoadHit> load_longest_prefix(std::string_view prompt_text, engine::Session &s,
                                               ToolMemory *memory = nullptr);

    // §9 restore-before-render: loads the trailer entries of every file for exactly these ids.
    void restore_tool_ids(std::span<const std::string> ids, ToolMemory &memory);

    Stats stats() const;

private:
    // (implementation detail; see disk_cache.cpp)
    void log(const std::string &line) const;
    // §6 pass under mu_: deletes the lowest-scoring files until the directory fits the budget.
    void evict_locked(const std::string &protected_sha);
    // Moves a file that failed validation aside ("<path>.bad") so it is never selected again.
    void quarantine_locked(const std::string &path, const std::string &why, double ms);

    Options opt_;
    const tok::Tokenizer &tok_;
    uint8_t quant_bits_;
    uint32_t ctx_;
    LogFn log_;
    bool enabled_ = false;
    uint64_t budget_bytes_ = 0;
    mutable std::mutex mu_;
    Stats stats_;
};

// ---- Save policy (kvcache.md §5), pure functions the scheduler calls ----

// Cold-save boundary for a prompt that reused nothing: the chat anchor (last User token
// before the first Assistant token, if >= min_tokens), else trim-and-align, else the whole
// prompt.  0 = no cold save (prompt outside [min_tokens, cold_max_tokens] or cold saves off).
uint32_t cold_store_len(std::span<const int32_t> prompt, int32_t user_id, int32_t assistant_id,
                        const Options &opt);

// Continued-save frontier step: continued_interval rounded up to boundary_align (0 = off).
uint32_t continued_step(const Options &opt);

// True when a session now holding n tokens must be saved as "continued": n is a positive
// multiple of the step, n >= min_tokens and n > last_frontier.
bool at_continued_frontier(uint32_t n, uint32_t last_frontier, const Options &opt);

}  // namespace dstar::kvcache

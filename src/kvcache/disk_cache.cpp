#include "kvcache/disk_cache.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <unordered_map>
#include <unordered_set>

#include "common/error.h"
#include "kvcache/crc32c.h"
#include "kvcache/directory.h"
#include "kvcache/eviction.h"
#include "kvcache/file_format.h"
#include "kvcache/file_io.h"
#include "kvcache/sha1_name.h"

namespace dstar::kvcache {

namespace {

using Clock = std::chrono::steady_clock;
using ull = unsigned long long;

constexpr uint64_t kDefaultBudgetMb = 4096;

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double mib(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

uint64_t unix_now() { return static_cast<uint64_t>(std::time(nullptr)); }

const char *key_kind_of_flags(uint8_t flags) {
    if (flags & kFlagResponsesVisible) return key_kind_name(KeyKind::ResponsesVisible);
    if (flags & kFlagThinkingVisible) return key_kind_name(KeyKind::ThinkingVisible);
    return key_kind_name(KeyKind::TokenText);
}

// Trailer entries of the file open in `r`, limited to ids `keep` accepts.
ToolEntries read_trailer(FileReader &r, const FileHeader &h, size_t max_ids,
                         const std::function<bool(std::string_view)> &keep) {
    if (!(h.flags & kFlagToolMap) || r.size() <= h.payload_end()) return {};
    r.seek(h.payload_end());
    return decode_trailer([&](void *dst, size_t n) { return r.try_read(dst, n); }, r.size() - h.payload_end(),
                          4ull * max_ids, keep);
}

// Remembers the entries whose block occurs verbatim in the file's key text: every entry was
// written that way (ToolMemory::entries_in_text), so anything else is a damaged trailer.
size_t remember_verified(const ToolEntries &entries, std::string_view key_text, ToolMemory &memory) {
    size_t n = 0;
    for (const auto &[id, block] : entries) {
        if (key_text.find(block) == std::string_view::npos) continue;
        memory.remember({id}, block, ToolMemory::Origin::Disk);
        n++;
    }
    return n;
}

// The entries a trailer can hold (ds4 stops reading at a longer id or block).
ToolEntries writable(ToolEntries entries) {
    std::erase_if(entries, [](const auto &e) {
        return e.first.empty() || e.first.size() > kMaxToolIdBytes || e.second.empty() ||
               e.second.size() > kMaxDsmlBytes;
    });
    return entries;
}

}  // namespace

const char *save_reason_name(SaveReason r) {
    switch (r) {
    case SaveReason::Cold: return "cold";
    case SaveReason::Continued: return "continued";
    case SaveReason::Evict: return "evict";
    case SaveReason::Shutdown: return "shutdown";
    case SaveReason::Unknown: break;
    }
    return "unknown";
}

const char *key_kind_name(KeyKind k) {
    switch (k) {
    case KeyKind::ResponsesVisible: return "responses-visible";
    case KeyKind::ThinkingVisible: return "thinking-visible";
    case KeyKind::TokenText: break;
    }
    return "token-text";
}

DiskCache::DiskCache(Options opt, const tok::Tokenizer &tok, uint8_t quant_bits, uint32_t ctx, LogFn log)
    : opt_(std::move(opt)), tok_(tok), quant_bits_(quant_bits), ctx_(ctx), log_(std::move(log)) {
    if (opt_.dir.empty()) return;
    if (quant_bits_ != 2 && quant_bits_ != 4) {
        this->log(strformat("KV disk cache disabled: routed-expert quant bits %u is neither 2 nor 4", quant_bits_));
        return;
    }
    std::string why;
    if (!make_directories(opt_.dir, 0700, &why)) {
        this->log(strformat("failed to create KV cache directory %s: %s", opt_.dir.c_str(), why.c_str()));
        return;
    }
    if (::access(opt_.dir.c_str(), R_OK | W_OK | X_OK) != 0) {
        this->log(strformat("KV cache directory %s is not writable: KV disk cache disabled", opt_.dir.c_str()));
        return;
    }
    enabled_ = true;
    budget_bytes_ = (opt_.space_mb ? opt_.space_mb : kDefaultBudgetMb) << 20;
    for (const std::string &name : remove_stale_temp_files(opt_.dir))
        this->log("kv cache removed stale temp file " + join_path(opt_.dir, name));
    std::lock_guard<std::mutex> lock(mu_);
    evict_locked("");
    this->log(strformat("KV disk cache %s (budget=%llu MiB, cross-quant=%s, min=%u, cold_max=%u, continued=%u, "
                        "trim=%u, align=%u, hit_half_life=%.0fs)",
                        opt_.dir.c_str(), static_cast<ull>(budget_bytes_ >> 20),
                        opt_.reject_different_quant ? "reject" : "accept", opt_.min_tokens, opt_.cold_max_tokens,
                        opt_.continued_interval, opt_.boundary_trim, opt_.boundary_align, kHitHalfLifeSeconds));
}

void DiskCache::log(const std::string &line) const {
    if (log_) log_(line);
}

Stats DiskCache::stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
}

void DiskCache::evict_locked(const std::string &protected_sha) {
    std::vector<CacheFile> files = list_cache_files(opt_.dir);
    uint64_t total = 0;
    for (const CacheFile &f : files) total += f.file_size;
    uint64_t count = files.size();
    for (size_t i : plan_eviction(files, budget_bytes_, protected_sha, unix_now())) {
        const CacheFile &f = files[i];
        if (::unlink(f.path.c_str()) != 0) {
            log(strformat("kv cache could not evict %s: %s", f.path.c_str(), std::strerror(errno)));
            break;  // like ds4: stop rather than delete more than needed
        }
        log(strformat("kv cache evicted reason=disk-cache-full tokens=%u hits=%u size=%.2f MiB file=%s",
                      f.header.tokens, f.header.hits, mib(f.file_size), f.path.c_str()));
        stats_.evictions++;
        total -= f.file_size;
        count--;
    }
    stats_.files = count;
    stats_.bytes = total;
}

void DiskCache::quarantine_locked(const std::string &path, const std::string &why, double ms) {
    const std::string bad = path + ".bad";
    std::string where = "moved to " + bad;
    if (::rename(path.c_str(), bad.c_str()) != 0)
        where = ::unlink(path.c_str()) == 0 ? "deleted" : strformat("kept: %s", std::strerror(errno));
    log(strformat("kv cache load failed %s: %s load=%.1f ms (file %s)", path.c_str(), why.c_str(), ms,
                  where.c_str()));
    stats_.rejected_files++;
}

StoreResult DiskCache::store(const engine::Session &s, SaveReason reason, KeyKind kind, const std::string &key_text,
                             uint32_t trimmed, ToolMemory *memory) {
    StoreResult res;
    std::lock_guard<std::mutex> lock(mu_);
    if (!enabled_) return res;
    const char *why = save_reason_name(reason);
    const uint32_t n = s.pos();
    if (n == 0 || n < opt_.min_tokens) {
        log(strformat("kv cache skipped tokens=%u reason=%s because it is below min-tokens=%u", n, why,
                      opt_.min_tokens));
        return res;
    }
    const auto t0 = Clock::now();
    const bool visible = !key_text.empty();
    const std::string text = visible ? key_text : tok_.decode(s.tokens());
    const char *kind_name = key_kind_name(visible ? kind : KeyKind::TokenText);
    if (text.size() > UINT32_MAX) {
        log(strformat("kv cache skipped tokens=%u reason=%s because the key text is too large", n, why));
        return res;
    }
    const ToolEntries entries =
        opt_.exact_replay && memory ? writable(memory->entries_in_text(text)) : ToolEntries{};
    const uint64_t payload = s.payload_bytes();
    const uint64_t trailer = trailer_bytes(entries);
    const uint64_t size = kPrefixBytes + text.size() + payload + trailer;
    if (with_budget_slack(size) > budget_bytes_) {
        log(strformat("kv cache skipped tokens=%u reason=%s because estimated file size %.2f MiB (%.2f MiB with "
                      "safety) exceeds budget %.2f MiB",
                      n, why, mib(size), mib(with_budget_slack(size)), mib(budget_bytes_)));
        return res;
    }

    const std::string sha = sha1_hex(text);
    const std::string path = join_path(opt_.dir, cache_file_name(sha));
    const uint64_t now = unix_now();

    bool replacing = false;
    // §5.5 step 3: a file with this key text that this server could load is kept; only its
    // tool-map trailer is refreshed.  Anything else under the name is replaced.
    if (::access(path.c_str(), F_OK) == 0) {
        std::optional<CacheFile> old = read_cache_file(opt_.dir, cache_file_name(sha));
        bool compatible = old && old->header.ctx <= ctx_ &&
                          (!opt_.reject_different_quant || old->header.quant_bits == quant_bits_) &&
                          old->header.text_bytes == text.size();
        if (compatible) {
            try {
                FileReader r(path);
                std::string stored(text.size(), '\0');
                r.seek(kPrefixBytes);
                compatible = r.try_read(stored.data(), stored.size()) && stored == text;
            } catch (const Error &) {
                compatible = false;
            }
        }
        if (compatible) {
            res.ok = true;
            res.file = path;
            res.bytes = old->file_size;
            if (!entries.empty()) {
                try {
                    FileHeader h = old->header;
                    replace_tail(path, h.payload_end(), encode_trailer(entries));
                    h.flags |= kFlagToolMap;
                    h.last_used = now;
                    const auto head = encode_header(h);
                    write_at(path, 0, head.data(), head.size(), true);
                    res.bytes = h.payload_end() + trailer;
                } catch (const Error &e) {
                    log(strformat("kv cache could not refresh the tool map of %s: %s", path.c_str(), e.what()));
                }
            }
            res.ms = ms_since(t0);
            log(strformat("kv cache kept tokens=%u reason=%s key=%s file=%s (same key text already stored)",
                          old->header.tokens, why, kind_name, path.c_str()));
            stats_.stores++;
            return res;
        }
        // Unlike ds4, the incompatible file is not deleted first: the rename below replaces
        // it atomically, so a failed write leaves it as it was.
        replacing = true;
    }

    // Temp file, fsync, rename, fsync of the directory: a crash leaves the old file or none,
    // never a torn one; a failure (full disk, ...) removes the temp file.
    const std::string tmp = temp_file_path(path, static_cast<long>(::getpid()));
    try {
        FileHeader h;
        h.quant_bits = quant_bits_;
        h.reason = static_cast<uint8_t>(reason);
        h.flags = static_cast<uint8_t>((entries.empty() ? 0 : kFlagToolMap) |
                                       (visible && kind == KeyKind::ResponsesVisible ? kFlagResponsesVisible : 0) |
                                       (visible && kind == KeyKind::ThinkingVisible ? kFlagThinkingVisible : 0));
        h.tokens = n;
        h.ctx = s.ctx();
        h.created = h.last_used = now;
        h.payload_bytes = payload;
        h.text_bytes = static_cast<uint32_t>(text.size());
        h.payload_crc = 0;
        FileWriter w(tmp, 0600);
        w.write(encode_header(h).data(), kPrefixBytes);
        w.write(text.data(), text.size());
        uint32_t crc = 0;
        s.save([&](const void *p, size_t k) {
            crc = crc32c(crc, p, k);
            w.write(p, k);
        });
        if (w.bytes() != h.payload_end())
            fail("session payload has %llu bytes, %llu announced", static_cast<ull>(w.bytes() - kPrefixBytes - text.size()),
                 static_cast<ull>(payload));
        const std::vector<uint8_t> tail = encode_trailer(entries);
        w.write(tail.data(), tail.size());
        h.payload_crc = crc;
        w.patch(0, encode_header(h).data(), kPrefixBytes);
        w.commit();
        if (::rename(tmp.c_str(), path.c_str()) != 0)
            fail("cannot rename '%s' to '%s': %s", tmp.c_str(), path.c_str(), std::strerror(errno));
    } catch (const Error &e) {
        ::unlink(tmp.c_str());
        stats_.store_failures++;
        log(strformat("kv cache store failed (%s): %s save=%.1f ms", why, e.what(), ms_since(t0)));
        return res;
    }
    try {
        sync_directory(opt_.dir);
    } catch (const Error &e) {
        log(strformat("kv cache stored %s but could not sync the directory: %s", path.c_str(), e.what()));
    }
    res.ok = true;
    res.file = path;
    res.bytes = size;
    res.ms = ms_since(t0);
    stats_.stores++;
    stats_.bytes_written += size;
    if (replacing) log("kv cache replaced incompatible file " + path);
    log(strformat("kv cache stored tokens=%u trimmed=%u reason=%s key=%s size=%.2f MiB save=%.1f ms", n, trimmed, why,
                  kind_name, mib(size), res.ms));
    evict_locked(sha);
    return res;
}

std::optional<LoadHit> DiskCache::load_longest_prefix(std::string_view prompt_text, engine::Session &s,
                                                      ToolMemory *memory) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!enabled_) return std::nullopt;

    // §7.1: the well-formed file with the longest key text that is a byte prefix of the prompt.
    std::vector<CacheFile> files = list_cache_files(opt_.dir);
    stats_.files = files.size();
    stats_.bytes = 0;
    for (const CacheFile &f : files) stats_.bytes += f.file_size;
    std::erase_if(files, [&](const CacheFile &f) {
        const FileHeader &h = f.header;
        return h.text_bytes > prompt_text.size() || h.tokens < opt_.min_tokens || h.ctx > ctx_ ||
               h.tokens >= s.ctx() || (opt_.reject_different_quant && h.quant_bits != quant_bits_);
    });
    std::stable_sort(files.begin(), files.end(), [](const CacheFile &a, const CacheFile &b) {
        if (a.header.text_bytes != b.header.text_bytes) return a.header.text_bytes > b.header.text_bytes;
        return a.header.tokens > b.header.tokens;
    });
    std::unordered_map<uint32_t, std::string> prefix_sha;  // one SHA-1 per distinct length
    const CacheFile *chosen = nullptr;
    for (const CacheFile &f : files) {
        auto [it, fresh] = prefix_sha.try_emplace(f.header.text_bytes);
        if (fresh) it->second = sha1_hex(prompt_text.substr(0, f.header.text_bytes));
        if (it->second == f.sha) {
            chosen = &f;
            break;
        }
    }
    if (!chosen) {
        stats_.misses++;
        return std::nullopt;
    }

    const auto t0 = Clock::now();
    const std::string &path = chosen->path;
    auto miss = [&](const std::string &why) {
        log(strformat("kv cache load failed %s: %s load=%.1f ms", path.c_str(), why.c_str(), ms_since(t0)));
        stats_.misses++;
        return std::nullopt;
    };
    auto reject = [&](const std::string &why) {
        quarantine_locked(path, why, ms_since(t0));
        stats_.misses++;
        return std::nullopt;
    };
    std::optional<FileReader> r;
    try {
        r.emplace(path);
    } catch (const Error &e) {
        return miss(e.what());  // e.g. deleted since the listing
    }
    // §7.2 step 1: re-read the header, then the key text, and prove it is the prompt's prefix.
    uint8_t prefix[kPrefixBytes];
    std::string why;
    std::optional<FileHeader> h;
    if (r->try_read(prefix, kPrefixBytes)) h = decode_header(prefix, &why);
    else why = "header is truncated";
    if (!h) return reject(why);
    if (h->text_bytes > prompt_text.size()) return miss("cached text is longer than prompt");
    if (r->size() < h->payload_end()) return reject("file is shorter than its header says");
    std::string text(h->text_bytes, '\0');
    if (!r->try_read(text.data(), text.size())) return reject("truncated cached text");
    if (sha1_hex(text) != chosen->sha) return reject("cached text hash mismatch");
    if (prompt_text.substr(0, text.size()) != text) return miss("cached text prefix mismatch");

    // Step 2: the payload, checked against the CRC dstar stores (files from ds4 carry none).
    uint32_t crc = 0;
    try {
        s.load(
            [&](void *dst, size_t n) {
                r->read(dst, n, "the session payload");
                crc = crc32c(crc, dst, n);
            },
            h->payload_bytes);
    } catch (const Error &e) {
        s.reset();
        return reject(e.what());
    }
    if (h->payload_crc && crc != *h->payload_crc) {
        s.reset();
        return reject(strformat("payload checksum mismatch (crc32c %08x, header says %08x)", crc, *h->payload_crc));
    }
    if (s.pos() != h->tokens) {  // step 3
        s.reset();
        return reject(strformat("discarded corrupt text-prefix payload (%u tokens, header says %u)", s.pos(),
                                h->tokens));
    }
    // Step 4: exact DSML of the tool calls this checkpoint's text contains.
    size_t restored = 0;
    if (opt_.exact_replay && memory)
        restored = remember_verified(read_trailer(*r, *h, memory->max_ids(), {}), text, *memory);

    // Step 6: a checkpoint longer than cold saves is carried on by the live session (and
    // re-saved by continued/evict/shutdown saves), so its file is consumed; others count a hit.
    LoadHit hit;
    hit.file = path;
    hit.tokens = h->tokens;
    hit.text_bytes = text.size();
    hit.consumed = opt_.cold_max_tokens > 0 && h->tokens > opt_.cold_max_tokens;
    if (hit.consumed) {
        if (::unlink(path.c_str()) != 0) hit.consumed = false;
    } else {
        FileHeader touched = *h;
        touched.hits = h->hits + 1;
        touched.last_used = unix_now();
        try {
            const auto head = encode_header(touched);
            write_at(path, 0, head.data(), head.size());
        } catch (const Error &e) {
            log(strformat("kv cache could not update the hit count of %s: %s", path.c_str(), e.what()));
        }
    }
    hit.ms = ms_since(t0);
    stats_.hits++;
    stats_.bytes_read += h->payload_end();
    log(strformat("kv cache hit text tokens=%u text=%zu quant=%u key=%s load=%.1f ms%s file=%s", hit.tokens,
                  hit.text_bytes, h->quant_bits, key_kind_of_flags(h->flags), hit.ms, hit.consumed ? " consumed" : "",
                  path.c_str()));
    if (restored) log(strformat("kv cache restored %zu tool ids from %s", restored, path.c_str()));
    return hit;
}

void DiskCache::restore_tool_ids(std::span<const std::string> ids, ToolMemory &memory) {
    if (!enabled_ || !opt_.exact_replay || ids.empty()) return;
    const std::unordered_set<std::string_view> wanted(ids.begin(), ids.end());
    auto keep = [&](std::string_view id) { return wanted.count(id) != 0; };
    // No lock: this only reads files (the worker may be writing; renames are atomic and a
    // trailer caught mid-rewrite decodes as a shorter one), and ToolMemory locks itself.
    for (const CacheFile &f : list_cache_files(opt_.dir)) {
        if (!(f.header.flags & kFlagToolMap)) continue;
        try {
            FileReader r(f.path);
            const ToolEntries entries = read_trailer(r, f.header, memory.max_ids(), keep);
            if (entries.empty()) continue;
            std::string text(f.header.text_bytes, '\0');
            r.seek(kPrefixBytes);
            if (!r.try_read(text.data(), text.size())) continue;
            remember_verified(entries, text, memory);
        } catch (const Error &) {
            continue;  // vanished or unreadable: the next lookup's listing deals with it
        }
    }
}

}  // namespace dstar::kvcache

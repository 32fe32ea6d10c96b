// The cache directory as a list of checkpoint files (kvcache.md §4, §8.4 "Listing"): every
// lookup, store and eviction re-lists it, so several processes and a user deleting files
// by hand never leave stale in-memory state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvcache/file_format.h"

namespace dstar::kvcache {

struct CacheFile {
    std::string sha;   // 40 lowercase hex digits
    std::string path;  // directory + the name as found (hex may be upper case)
    FileHeader header;
    uint64_t file_size = 0;
};

// Reads one file's header and checks it with the listing rules: the name is 40 hex + ".kv",
// the header parses (file_format.h) and the file holds at least 52 + text + payload bytes.
// nullopt with *why naming the problem otherwise.
std::optional<CacheFile> read_cache_file(const std::string &dir, const std::string &name, std::string *why = nullptr);

// Every file of `dir` that passes read_cache_file(), sorted by name.  Other files are skipped
// without a word (temp files, quarantined "*.bad" files, truncated files, foreign files).
std::vector<CacheFile> list_cache_files(const std::string &dir);

// Temp files of an unfinished write: "<name>.tmp.<pid>".
std::string temp_file_path(const std::string &final_path, long pid);
// Removes "<40 hex>.kv.tmp.<pid>" files left by a writer that is gone: a process that no
// longer runs, or one with this process's id (a crashed earlier run whose id was reused).
// Returns the removed names.
std::vector<std::string> remove_stale_temp_files(const std::string &dir);

}  // namespace dstar::kvcache

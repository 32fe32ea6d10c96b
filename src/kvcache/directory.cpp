#include "kvcache/directory.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "common/error.h"
#include "kvcache/file_io.h"
#include "kvcache/sha1_name.h"

namespace dstar::kvcache {

namespace {

std::vector<std::string> directory_names(const std::string &dir) {
    std::vector<std::string> names;
    std::unique_ptr<DIR, int (*)(DIR *)> d(::opendir(dir.c_str()), ::closedir);
    if (!d) return names;
    while (const dirent *e = ::readdir(d.get())) names.emplace_back(e->d_name);
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace

std::optional<CacheFile> read_cache_file(const std::string &dir, const std::string &name, std::string *why) {
    CacheFile f;
    if (!parse_cache_file_name(name, &f.sha)) {
        if (why) *why = "name is not 40 hex digits + .kv";
        return std::nullopt;
    }
    f.path = join_path(dir, name);
    try {
        FileReader r(f.path);
        f.file_size = r.size();
        uint8_t prefix[kPrefixBytes];
        const size_t got = r.size() < kPrefixBytes ? static_cast<size_t>(r.size()) : kPrefixBytes;
        if (!r.try_read(prefix, got)) {
            if (why) *why = "cannot read the header";
            return std::nullopt;
        }
        std::optional<FileHeader> h = decode_header(std::span<const uint8_t>(prefix, got), why);
        if (!h) return std::nullopt;
        if (f.file_size < h->payload_end()) {
            if (why)
                *why = strformat("file has %llu bytes, header and sizes need %llu",
                                 static_cast<unsigned long long>(f.file_size),
                                 static_cast<unsigned long long>(h->payload_end()));
            return std::nullopt;
        }
        f.header = *h;
    } catch (const Error &e) {
        if (why) *why = e.what();
        return std::nullopt;
    }
    return f;
}

std::vector<CacheFile> list_cache_files(const std::string &dir) {
    std::vector<CacheFile> out;
    for (const std::string &name : directory_names(dir))
        if (std::optional<CacheFile> f = read_cache_file(dir, name)) out.push_back(std::move(*f));
    return out;
}

std::string temp_file_path(const std::string &final_path, long pid) {
    return final_path + ".tmp." + std::to_string(pid);
}

std::vector<std::string> remove_stale_temp_files(const std::string &dir) {
    std::vector<std::string> removed;
    const long self = static_cast<long>(::getpid());
    for (const std::string &name : directory_names(dir)) {
        // "<40 hex>.kv.tmp.<digits>": 43 + 5 characters, then the writer's pid.
        if (name.size() <= 48 || !parse_cache_file_name(name.substr(0, 43), nullptr) ||
            name.compare(43, 5, ".tmp.") != 0)
            continue;
        const std::string digits = name.substr(48);
        if (digits.size() > 9 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
            continue;
        const long pid = std::stol(digits);
        const bool writer_gone = pid == self || pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH);
        if (writer_gone && ::unlink(join_path(dir, name).c_str()) == 0) removed.push_back(name);
    }
    return removed;
}

}  // namespace dstar::kvcache

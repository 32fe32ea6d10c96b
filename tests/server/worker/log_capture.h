// Collects the scheduler's log lines and can hold the worker thread inside the log callback at
// a chosen line: the worker is then stopped between two well-defined points, so a test can
// submit a job at an exact moment (e.g. while another job is half-way through its prefill).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace dstar::server::test {

class LogCapture {
public:
    std::function<void(const std::string &)> fn() {
        return [this](const std::string &line) { on_line(line); };
    }

    // The first later line containing `pattern` blocks the worker until release().
    void pause_at(std::string pattern) {
        std::lock_guard<std::mutex> lk(mu_);
        pause_pattern_ = std::move(pattern);
        paused_ = released_ = false;
    }
    bool wait_paused(std::chrono::seconds limit = std::chrono::seconds(60)) {
        std::unique_lock<std::mutex> lk(mu_);
        return cv_.wait_for(lk, limit, [&] { return paused_; });
    }
    void release() {
        std::lock_guard<std::mutex> lk(mu_);
        released_ = true;
        cv_.notify_all();
    }

    std::vector<std::string> lines() const {
        std::lock_guard<std::mutex> lk(mu_);
        return lines_;
    }
    // Index of the first line containing every fragment, or -1.
    int find(std::initializer_list<std::string> fragments) const {
        std::lock_guard<std::mutex> lk(mu_);
        for (size_t i = 0; i < lines_.size(); i++) {
            bool all = true;
            for (const std::string &f : fragments) all = all && lines_[i].find(f) != std::string::npos;
            if (all) return static_cast<int>(i);
        }
        return -1;
    }

private:
    void on_line(const std::string &line) {
        std::unique_lock<std::mutex> lk(mu_);
        lines_.push_back(line);
        if (!pause_pattern_.empty() && line.find(pause_pattern_) != std::string::npos) {
            pause_pattern_.clear();
            paused_ = true;
            cv_.notify_all();
            cv_.wait(lk, [&] { return released_; });
        }
    }

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::string> lines_;
    std::string pause_pattern_;
    bool paused_ = false, released_ = false;
};

}  // namespace dstar::server::test

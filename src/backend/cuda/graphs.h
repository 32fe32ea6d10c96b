// Recorded evaluation steps (backend.h, begin_step/end_step) as CUDA graphs, by step key.
//
// The first step with a key runs its ops directly (so that every scratch buffer reaches the
// size the step needs before anything is recorded: nothing may allocate while recording);
// the second is recorded (stream capture) and then launched; later ones replay the graph.
// Graphs recorded before device memory they may reference was freed (memory_generation())
// are dropped.  A recording that fails turns recording off for the backend (with a message
// on stderr): steps then run their ops directly, with the same results.  DSTAR_CUDA_GRAPHS=0
// in the environment turns it off from the start.
#pragma once

#include <cstdint>
#include <cuda_runtime_api.h>
#include <string>
#include <unordered_map>

namespace dstar::backend::cuda {

class StepGraphs {
public:
    // allowed: false records nothing (the per-op profiler times ops one by one).
    StepGraphs(cudaStream_t stream, bool allowed);
    ~StepGraphs();
    StepGraphs(const StepGraphs &) = delete;
    StepGraphs &operator=(const StepGraphs &) = delete;

    enum class Plan {
        Direct,    // run the ops
        Record,    // recording has begun on the stream: run the ops, then finish_recording()
        Replayed,  // the step's graph is launched on the stream
    };
    Plan plan(const std::string &key);
    // Ends the recording begun by plan(): instantiates and launches the graph.  False when
    // that failed: nothing ran, recording is off, the ops must run directly.
    bool finish_recording();
    // Ends a recording whose ops threw; recording is turned off.
    void abandon_recording();
    void disable(const char *why);
    bool enabled() const { return enabled_; }
    size_t size() const { return graphs_.size(); }

private:
    struct Entry {
        cudaGraphExec_t exec = nullptr;  // null: seen once, not recorded yet
        uint64_t last_use = 0;
    };
    void clear();
    void evict_oldest();

    static constexpr size_t kMaxGraphs = 32;
    cudaStream_t stream_;
    bool enabled_ = true;
    uint64_t generation_ = 0;
    uint64_t clock_ = 0;
    std::unordered_map<std::string, Entry> graphs_;
    std::string recording_;  // key being recorded
};

}  // namespace dstar::backend::cuda

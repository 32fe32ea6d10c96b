#include "backend/cuda/graphs.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "backend/cuda/check.h"
#include "backend/cuda/scratch.h"

namespace dstar::backend::cuda {

StepGraphs::StepGraphs(cudaStream_t stream, bool allowed) : stream_(stream), generation_(memory_generation()) {
    const char *v = std::getenv("DSTAR_CUDA_GRAPHS");
    enabled_ = allowed && !(v && std::strcmp(v, "0") == 0);
}

StepGraphs::~StepGraphs() { clear(); }

void StepGraphs::clear() {
    for (auto &kv : graphs_)
        if (kv.second.exec) cudaGraphExecDestroy(kv.second.exec);
    graphs_.clear();
}

void StepGraphs::evict_oldest() {
    auto oldest = graphs_.begin();
    for (auto it = graphs_.begin(); it != graphs_.end(); ++it)
        if (it->second.last_use < oldest->second.last_use) oldest = it;
    if (oldest == graphs_.end()) return;
    if (oldest->second.exec) cudaGraphExecDestroy(oldest->second.exec);
    graphs_.erase(oldest);
}

void StepGraphs::disable(const char *why) {
    if (enabled_) std::fprintf(stderr, "dstar: CUDA graphs off (%s); decode steps run op by op\n", why);
    enabled_ = false;
    clear();
}

StepGraphs::Plan StepGraphs::plan(const std::string &key) {
    if (!enabled_) return Plan::Direct;
    if (memory_generation() != generation_) {
        clear();
        generation_ = memory_generation();
    }
    auto it = graphs_.find(key);
    if (it == graphs_.end()) {
        if (graphs_.size() >= kMaxGraphs) evict_oldest();
        graphs_[key].last_use = ++clock_;
        return Plan::Direct;
    }
    it->second.last_use = ++clock_;
    if (it->second.exec) {
        check(cudaGraphLaunch(it->second.exec, stream_), "cudaGraphLaunch");
        return Plan::Replayed;
    }
    // Only this thread's unsafe calls are refused while recording (the server's other
    // threads do no GPU work, but they must not break the capture either).
    const cudaError_t e = cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal);
    if (e != cudaSuccess) {
        cudaGetLastError();
        disable(cudaGetErrorString(e));
        return Plan::Direct;
    }
    recording_ = key;
    return Plan::Record;
}

bool StepGraphs::finish_recording() {
    cudaGraph_t graph = nullptr;
    cudaError_t e = cudaStreamEndCapture(stream_, &graph);
    cudaGraphExec_t exec = nullptr;
    if (e == cudaSuccess) e = cudaGraphInstantiate(&exec, graph, 0);
    if (graph) cudaGraphDestroy(graph);
    if (e == cudaSuccess) e = cudaGraphLaunch(exec, stream_);
    if (e != cudaSuccess) {
        cudaGetLastError();
        if (exec) cudaGraphExecDestroy(exec);
        disable(cudaGetErrorString(e));
        return false;
    }
    auto it = graphs_.find(recording_);
    if (it == graphs_.end()) {
        cudaGraphExecDestroy(exec);  // dropped meanwhile (cannot happen: one step at a time)
    } else {
        if (it->second.exec) cudaGraphExecDestroy(it->second.exec);
        it->second.exec = exec;
    }
    recording_.clear();
    return true;
}

void StepGraphs::abandon_recording() {
    cudaGraph_t graph = nullptr;
    cudaStreamEndCapture(stream_, &graph);
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    recording_.clear();
    disable("an op failed while a step was recorded");
}

}  // namespace dstar::backend::cuda

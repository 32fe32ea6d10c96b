#include "server/api/serving_stack.h"

#include "common/error.h"
#include "model/weights.h"
#include "server/api/log.h"
#include "server/api/warm_weights.h"

namespace dstar::server::api {

ServingStack::ServingStack(const ServerOptions &opt, Metrics &metrics) {
    engine::EngineOptions eo;
    eo.model_path = opt.model;
    eo.backend = opt.backend.empty() ? default_backend() : opt.backend;
    eo.threads = opt.threads > 0 ? opt.threads : default_thread_count();
    log_line(strformat("dstar-server: loading %s (backend=%s, threads=%d)", opt.model.c_str(), eo.backend.c_str(), eo.threads));
    engine_ = std::make_unique<engine::Engine>(eo);
    log_line("dstar-server: " + engine_->describe());
    if (opt.warm_weights) warm_weights(engine_->reader());

    if (opt.kv.exact_replay) {
        memory_ = std::make_unique<kvcache::ToolMemory>(opt.tool_memory_max_ids);
    } else {
        log_line("dstar-server: exact DSML tool replay disabled; tool history uses canonical JSON rendering");
    }
    if (!opt.kv.dir.empty()) {
        disk_ = std::make_unique<kvcache::DiskCache>(opt.kv, engine_->tokenizer(), model::routed_quant_bits(engine_->weights()),
                                                     opt.ctx, [](const std::string &line) { log_line(line); });
    }
    SchedulerOptions so;
    so.ctx = opt.ctx;
    so.slots = opt.sessions;
    so.prefill_chunk = opt.prefill_chunk;
    so.default_max_tokens = opt.tokens;
    scheduler_ = std::make_unique<Scheduler>(*engine_, so, disk_.get(), memory_.get(), metrics,
                                             [](const std::string &line) { log_line(line); });
}

ServingStack::~ServingStack() {
    scheduler_.reset();  // joins the worker before the engine and caches go away
}

ServingState ServingStack::serving() const {
    ServingState s;
    s.tokenizer = &engine_->tokenizer();
    s.scheduler = scheduler_.get();
    s.disk = disk_.get();
    s.memory = memory_.get();
    return s;
}

void ServingStack::shutdown() { scheduler_->shutdown(); }

std::string missing_model_message(const std::string &path) {
    return "dstar-server: model file '" + path +
           "' not found.\n"
           "  Real model (~81 GB download):  scripts/download-model.sh q2-imatrix   (see README.md)\n"
           "  Another file:                  dstar-server -m FILE\n"
           "  Synthetic demo (random weights, gibberish output):\n"
           "                                 dstar-gguf synth --preset tiny --out tiny.gguf && dstar-server -m tiny.gguf";
}

}  // namespace dstar::server::api

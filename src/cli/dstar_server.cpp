// dstar-server: ds4-server's HTTP APIs on dstar's engine (spec server.md).
//
// Startup: flags -> chdir -> checks that need no model -> single-instance lock -> listen (so
// /health can answer "loading") -> load the model in the background -> ready.
// Shutdown: SIGINT/SIGTERM -> new requests get 503, running jobs end with an error, the
// worker saves its slots to the disk cache, exit 0; a second signal exits 130 at once.
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "server/api/http_server.h"
#include "server/api/instance_lock.h"
#include "server/api/log.h"
#include "server/api/options.h"
#include "server/api/serving_stack.h"
#include "server/metrics.h"
#include "server/trace.h"

namespace {

using namespace dstar;
using namespace dstar::server;
using namespace dstar::server::api;

// Checks that fail before anything is started (exit 1): features dstar does not have yet.
bool unsupported_options(const ServerOptions &o) {
    if (const std::string why = backend_unavailable_reason(o.backend); !why.empty()) {
        log_line("dstar-server: cannot use backend " + o.backend + ": " + why);
        return true;
    }
    if (!o.steering_file.empty() || o.steering_ffn != 0.0f || o.steering_attn != 0.0f) {
        // Steering changes the model's output, so running without it would silently answer
        // differently from ds4.
        log_line("dstar-server: directional steering (--dir-steering-file/-ffn/-attn) is not supported by dstar yet");
        return true;
    }
    return false;
}

HttpOptions http_options(const ServerOptions &o) {
    HttpOptions h;
    h.host = o.host;
    h.port = o.port;
    h.cors = o.cors;
    h.http_threads = o.http_threads;
    h.ctx = o.ctx;
    h.default_max_tokens = o.tokens;
    h.slots = o.sessions;
    h.model_aliases = o.model_aliases;
    return h;
}

// Signals are blocked in every thread and taken synchronously by sigwait, so no handler ever
// runs inside a worker; SIGUSR1 is the loader thread telling the main thread it failed.
sigset_t control_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    return set;
}

int run(const ServerOptions &o) {
    if (!o.chdir.empty() && ::chdir(o.chdir.c_str()) != 0) {
        log_line("dstar-server: failed to chdir to " + o.chdir + ": " + std::strerror(errno));
        return 1;
    }
    if (unsupported_options(o)) return 1;
    struct stat st {};
    if (::stat(o.model.c_str(), &st) != 0) {
        log_line(errno == ENOENT ? missing_model_message(o.model)
                                 : "dstar-server: cannot read model file " + o.model + ": " + std::strerror(errno));
        return 1;
    }
    if (o.mtp_flags_given) {
        log_line("dstar-server: warning: --mtp/--mtp-draft/--mtp-margin are ignored: MTP speculative decoding is not "
                 "implemented in dstar yet (it only changes speed, not output)");
    }
    if (o.quality) log_line("dstar-server: --quality: dstar's kernels are always exact");

    InstanceLock lock(InstanceLock::default_path());
    if (lock.status() == InstanceLock::Status::Busy) {
        log_line(strformat("dstar-server: another dstar process is already running (pid %ld); refusing to start",
                           lock.holder_pid()));
        return 2;
    }
    if (lock.status() == InstanceLock::Status::Failed) {
        log_line("dstar-server: " + lock.error());
        return 1;
    }

    const sigset_t signals = control_signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    Metrics metrics;
    std::unique_ptr<Trace> trace;
    if (!o.trace.empty()) {
        try {
            trace = std::make_unique<Trace>(o.trace);
        } catch (const Error &e) {
            log_line(std::string("dstar-server: ") + e.what());
            return 1;
        }
        log_line("dstar-server: tracing requests to " + o.trace);
    }

    ApiServer api(http_options(o), metrics, trace.get());
    try {
        api.start();
    } catch (const Error &e) {
        log_line(std::string("dstar-server: ") + e.what());
        return 1;
    }

    std::unique_ptr<ServingStack> stack;
    std::mutex load_mu;
    std::string load_error;
    std::thread loader([&] {
        try {
            auto loaded = std::make_unique<ServingStack>(o, metrics);
            api.set_ready(loaded->serving());
            std::lock_guard<std::mutex> lk(load_mu);
            stack = std::move(loaded);
        } catch (const std::exception &e) {
            {
                std::lock_guard<std::mutex> lk(load_mu);
                load_error = e.what();
            }
            ::kill(::getpid(), SIGUSR1);
        }
    });

    int sig = 0;
    for (;;) {
        sigwait(&signals, &sig);
        if (sig != SIGUSR1) break;
        std::lock_guard<std::mutex> lk(load_mu);
        if (!load_error.empty()) {
            log_line("dstar-server: failed to load the model: " + load_error);
            loader.join();
            api.stop();
            return 1;
        }
    }

    log_line("dstar-server: shutdown requested, draining requests");
    api.begin_shutdown();
    // A second signal means "now": no drain, no disk save.
    std::thread([signals] {
        int again = 0;
        do sigwait(&signals, &again);
        while (again == SIGUSR1);
        log_line("dstar-server: second signal, exiting immediately");
        std::_Exit(130);
    }).detach();

    if (!api.ready()) {
        // Loading cannot be interrupted and nothing was served yet: leave without waiting.
        log_line("dstar-server: exiting before the model finished loading");
        api.stop();
        std::_Exit(0);
    }
    loader.join();
    stack->shutdown();  // running jobs end with "shutdown requested"; slots saved to disk
    api.stop();         // waits for the connection threads to write their last bytes
    stack.reset();
    log_line("dstar-server: bye");
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    ::signal(SIGPIPE, SIG_IGN);
    const ParsedOptions parsed = parse_server_options(std::vector<std::string>(argv + 1, argv + argc));
    if (parsed.exit_code >= 0) {
        std::fputs(parsed.out.c_str(), stdout);
        std::fputs(parsed.err.c_str(), stderr);
        return parsed.exit_code;
    }
    return run(parsed.options);
}

// dstar: run DeepSeek V4 Flash from the command line (one prompt, or an interactive chat).
#include <cstdio>
#include <string_view>
#include <sys/stat.h>

#include "cli/dsml_parse_cmd.h"
#include "cli/options.h"
#include "cli/repl.h"
#include "cli/run.h"
#include "common/error.h"
#include "engine/engine.h"

using namespace dstar;

namespace {

bool file_exists(const std::string &p) {
    struct stat st{};
    return ::stat(p.c_str(), &st) == 0;
}

void explain_missing_model(const std::string &path) {
    std::fprintf(stderr,
                 "dstar: model file '%s' not found.\n"
                 "  Get the real model (~81 GB, needs internet):  scripts/download-model.sh q2-imatrix\n"
                 "  (it downloads the published GGUF and links ./ds4flash.gguf to it), or make a small\n"
                 "  SYNTHETIC random-weight demo model (it produces gibberish, for trying the tools):\n"
                 "    dstar-gguf synth --preset tiny --out tiny.gguf && dstar -m tiny.gguf\n",
                 path.c_str());
}

}  // namespace

int main(int argc, char **argv) {
    // Subcommands that need no model come before the model options.
    if (argc >= 2 && std::string_view(argv[1]) == "dsml-parse") return cli::run_dsml_parse_command(argc - 1, argv + 1);
    const cli::Options o = cli::parse_options(argc, argv);
    if (!file_exists(o.model)) {
        explain_missing_model(o.model);
        return 1;
    }
    try {
        engine::EngineOptions eo;
        eo.model_path = o.model;
        eo.backend = o.backend;
        eo.threads = o.threads;
        eo.qat = !o.no_qat;
        if (o.torch_ties) eo.indexer_ties = backend::Numerics::IndexerTies::Torch;
        engine::Engine e(eo);
        std::fprintf(stderr, "dstar: %s\n", e.describe().c_str());
        if (o.think == chat::ThinkMode::Max && cli::effective_mode(o) != chat::ThinkMode::Max)
            std::fprintf(stderr, "dstar: --think-max needs --ctx >= %lld; using plain thinking\n",
                         static_cast<long long>(chat::kThinkMaxMinContext));
        if (o.inspect) return 0;
        if (o.dump_tokens) return cli::run_dump_tokens(e, o);
        if (o.have_prompt_ids) return cli::run_prompt_ids(e, o);
        if (!o.dump_logprobs.empty()) return cli::run_dump_logprobs(e, o);
        if (o.have_prompt) return cli::run_generation(e, o);
        return cli::run_repl(e, o);
    } catch (const Error &err) {
        std::fprintf(stderr, "dstar: %s\n", err.what());
        return 1;
    }
}

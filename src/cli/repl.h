// Interactive multi-turn chat of `dstar` (when no prompt is given).
#pragma once

#include "cli/options.h"
#include "engine/engine.h"

namespace dstar::cli {

int run_repl(engine::Engine &e, Options o);

}  // namespace dstar::cli

// The non-interactive modes of `dstar`.
#pragma once

#include "cli/options.h"
#include "engine/engine.h"

namespace dstar::cli {

// Prompt tokens for -p / --prompt-file: the one-shot chat template, or the rendered-chat
// encoder for a prompt that already starts with the BOS string.
std::vector<int32_t> build_prompt(const engine::Engine &e, const Options &o);
// The effective thinking mode (Think Max needs a large context).
chat::ThinkMode effective_mode(const Options &o);

int run_dump_tokens(const engine::Engine &e, const Options &o);
int run_generation(engine::Engine &e, const Options &o);
int run_dump_logprobs(engine::Engine &e, const Options &o);
int run_prompt_ids(engine::Engine &e, const Options &o);

// Ctrl-C handling shared with the interactive chat.
void install_interrupt_handler();
bool interrupted();
void clear_interrupt();

}  // namespace dstar::cli

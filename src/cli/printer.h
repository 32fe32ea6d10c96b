// Writes generated tokens to the terminal as raw bytes.  In thinking mode on a terminal the
// reasoning is shown dimmed and the </think> marker is not printed; piped output gets the
// exact bytes the model produced.
#pragma once

#include <cstdio>
#include <string>

#include "tokenizer/tokenizer.h"

namespace dstar::cli {

class TokenPrinter {
public:
    TokenPrinter(const tok::Tokenizer &tok, std::FILE *f, bool thinking);
    void token(int32_t id);
    void finish();  // resets colours, ends the line

private:
    const tok::Tokenizer &tok_;
    std::FILE *f_;
    bool tty_;
    bool in_think_;
    bool last_newline_ = true;
};

}  // namespace dstar::cli

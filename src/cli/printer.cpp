#include "cli/printer.h"

#include <unistd.h>

namespace dstar::cli {

TokenPrinter::TokenPrinter(const tok::Tokenizer &tok, std::FILE *f, bool thinking)
    : tok_(tok), f_(f), tty_(isatty(fileno(f)) != 0), in_think_(thinking) {
    if (tty_ && in_think_) std::fputs("\x1b[2m", f_);
}

void TokenPrinter::token(int32_t id) {
    if (tty_ && in_think_ && id == tok_.think_close()) {
        in_think_ = false;
        std::fputs("\x1b[0m\n", f_);
        last_newline_ = true;
        std::fflush(f_);
        return;
    }
    const std::string_view b = tok_.token_bytes_view(id);
    if (!b.empty()) {
        std::fwrite(b.data(), 1, b.size(), f_);
        last_newline_ = b.back() == '\n';
    }
    std::fflush(f_);
}

void TokenPrinter::finish() {
    if (tty_ && in_think_) std::fputs("\x1b[0m", f_);
    if (!last_newline_) std::fputc('\n', f_);
    std::fflush(f_);
}

}  // namespace dstar::cli

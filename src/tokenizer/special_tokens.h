// The 7 control tokens ds4 knows (tokenizer.md §5), in the order ds4 tests them at each
// position of a rendered prompt.  Their ids are looked up by string in the vocabulary.
#pragma once

#include <array>
#include <string_view>

namespace dstar::tok {

enum class Special { Bos, Eos, User, Assistant, ThinkOpen, ThinkClose, Dsml };

inline constexpr std::array<std::string_view, 7> kSpecialStrings = {
    "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",  // <｜begin▁of▁sentence｜>
    "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",    // <｜end▁of▁sentence｜>
    "<\xEF\xBD\x9CUser\xEF\xBD\x9C>",                                        // <｜User｜>
    "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>",                                // <｜Assistant｜>
    "<think>",
    "</think>",
    "\xEF\xBD\x9C" "DSML\xEF\xBD\x9C",  // ｜DSML｜
};

}  // namespace dstar::tok

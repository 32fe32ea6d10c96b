// Where the *next* sampled token falls inside a DSML tool-call block (spec section 8), so that
// the sampler can decode tag syntax greedily and payloads with the request's settings.
#pragma once

#include <cstddef>
#include <string_view>

#include "chat/dsml_syntax.h"

namespace dstar::chat {

enum class DsmlDecodeState {
    Outside,         // no start marker yet, or the block is finished: normal sampling
    Structural,      // tags, attributes, whitespace between tags: greedy
    StringBody,      // value of a string="true" parameter: normal sampling
    JsonStructural,  // JSON value outside string literals: greedy
    JsonString,      // inside a JSON string literal: normal sampling
};

const char *dsml_decode_state_name(DsmlDecodeState s);
// True for the states sampled with temperature 0.
bool dsml_state_is_greedy(DsmlDecodeState s);

// Incremental tracker.  Feed it the whole completion text after every token (the text only
// grows); it keeps a scan position so each update costs about the new bytes.  Like ds4 it
// does not look at <think>: a start marker quoted in reasoning also switches it on.
class DsmlTracker {
public:
    DsmlDecodeState update(std::string_view completion);
    DsmlDecodeState state() const { return state_; }

private:
    enum class Mode { Search, Structural, StringBody, JsonParam, Done };
    Mode mode_ = Mode::Search;
    DsmlDecodeState state_ = DsmlDecodeState::Outside;
    const DsmlSyntax *syn_ = nullptr;
    size_t pos_ = 0;
    bool json_in_string_ = false;
    bool json_escaped_ = false;

    bool structural(std::string_view raw);  // true: switched to a value mode, keep going
};

// ds4's slow reference recognizer: the state for the next token computed from scratch.  Agrees
// with DsmlTracker whenever a closing tag's "</" is not split across tokens.
DsmlDecodeState dsml_decode_state_for_text(std::string_view completion);

}  // namespace dstar::chat

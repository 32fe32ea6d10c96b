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
//
// One deliberate difference from ds4: a closing parameter tag inside a string value that is
// followed (after whitespace) by ordinary text rather than a tag of the block's family was
// written as text, and the value goes on (STRING_BODY again).  ds4 stays STRUCTURAL there for
// the rest of the generation, decoding the remaining payload greedily; the final parse keeps
// such a tag inside the value too.  Until the next non-space byte shows which it is, the state
// is STRUCTURAL, as in ds4.  JSON values keep ds4's rule.
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
    // Just after the closing tag of a string value, until what follows shows whether it was
    // real: followed by ordinary text instead of a tag, it was part of the value.
    size_t string_close_end_ = std::string_view::npos;

    bool structural(std::string_view raw);  // true: switched to a value mode, keep going
};

// ds4's slow reference recognizer (with the closing-tag rule above, and ending a JSON value at
// the closing tag its string-literal scan found, as the tracker does, where ds4's searched again
// and could land inside a JSON string): the state for the next token computed from scratch.
// DsmlTracker agrees with it on every prefix of a completion fed token by token, except after
// a token that ends with a "<" inside a value when the next one starts with "/": the tracker
// (like ds4's) has already taken that "<" as payload, so it neither turns STRUCTURAL while the
// text ends in "</…" nor sees the closing tag if that is what it becomes (it stays in the
// value), while the recognizer does both.  A token ending in "</" or any longer part of the
// tag is recognised by both.
DsmlDecodeState dsml_decode_state_for_text(std::string_view completion);

}  // namespace dstar::chat

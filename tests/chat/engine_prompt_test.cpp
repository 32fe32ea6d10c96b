#include "chat/engine_prompt.h"

#include <gtest/gtest.h>
#include <ostream>

#include "chat/prompt_text.h"

namespace dstar::chat {

// Readable failure output for piece lists.
void PrintTo(const PromptPiece &p, std::ostream *os) {
    if (p.special) *os << "[" << special_token_text(*p.special) << "]";
    else *os << "\"" << p.text << "\"";
}

namespace {

using P = PromptPiece;
using T = SpecialToken;

TEST(EnginePrompt, OneShotOfficialVector) {
    const auto pieces = one_shot_prompt("", "Rispondi in italiano con una frase: chi era Ada Lovelace?",
                                        ThinkMode::None);
    const PromptPieces expected = {P::token(T::Bos), P::token(T::User),
                                   P::plain("Rispondi in italiano con una frase: chi era Ada Lovelace?"),
                                   P::token(T::Assistant), P::token(T::ThinkClose)};
    EXPECT_EQ(pieces, expected);
}

TEST(EnginePrompt, OneShotWithSystemAndMax) {
    const auto pieces = one_shot_prompt(kDefaultSystemPrompt, "hi", ThinkMode::Max);
    const PromptPieces expected = {P::token(T::Bos), P::plain(think_max_prefix()),
                                   P::plain("You are a helpful assistant"), P::token(T::User),
                                   P::plain("hi"), P::token(T::Assistant), P::token(T::ThinkOpen)};
    EXPECT_EQ(pieces, expected);
    EXPECT_EQ(pieces_text(one_shot_prompt("S", "p", ThinkMode::High)),
              "<｜begin▁of▁sentence｜>S<｜User｜>p<｜Assistant｜><think>");
}

TEST(EnginePrompt, MessageAppender) {
    EXPECT_EQ(message_pieces("system", "s"), (PromptPieces{P::plain("s")}));
    EXPECT_EQ(message_pieces("developer", ""), PromptPieces{});
    EXPECT_EQ(message_pieces("user", "u"), (PromptPieces{P::token(T::User), P::plain("u")}));
    EXPECT_EQ(message_pieces("tool", "r"),
              (PromptPieces{P::token(T::User), P::plain("Tool: "), P::plain("r")}));
    EXPECT_EQ(message_pieces("function", "r"),
              (PromptPieces{P::token(T::User), P::plain("Tool: "), P::plain("r")}));
    EXPECT_EQ(message_pieces("assistant", "a"),
              (PromptPieces{P::token(T::Assistant), P::token(T::ThinkClose), P::plain("a")}));
    // Content starting with a think marker: no extra </think>, and the marker stays plain text.
    EXPECT_EQ(message_pieces("assistant", "<think>x</think>y"),
              (PromptPieces{P::token(T::Assistant), P::plain("<think>x</think>y")}));
    EXPECT_EQ(message_pieces("assistant", "</think>y"),
              (PromptPieces{P::token(T::Assistant), P::plain("</think>y")}));
}

TEST(EnginePrompt, AssistantPrefix) {
    EXPECT_EQ(assistant_prefix(ThinkMode::None),
              (PromptPieces{P::token(T::Assistant), P::token(T::ThinkClose)}));
    EXPECT_EQ(assistant_prefix(ThinkMode::High),
              (PromptPieces{P::token(T::Assistant), P::token(T::ThinkOpen)}));
}

TEST(EnginePrompt, PrerenderedDetection) {
    EXPECT_TRUE(is_prerendered_prompt("<｜begin▁of▁sentence｜><｜User｜>x"));
    EXPECT_FALSE(is_prerendered_prompt(" <｜begin▁of▁sentence｜>"));
}

TEST(EnginePrompt, SplitRenderedChat) {
    const auto pieces =
        split_rendered_chat("<｜begin▁of▁sentence｜>sys<｜User｜>hi <think><｜DSML｜>x</think>"
                            "<｜Assistant｜><｜end▁of▁sentence｜>tail");
    const PromptPieces expected = {P::token(T::Bos),       P::plain("sys"),       P::token(T::User),
                                   P::plain("hi "),        P::token(T::ThinkOpen), P::plain("<"),
                                   P::token(T::Dsml),      P::plain(">x"),        P::token(T::ThinkClose),
                                   P::token(T::Assistant), P::token(T::Eos),       P::plain("tail")};
    EXPECT_EQ(pieces, expected);
    EXPECT_EQ(pieces_text(pieces), "<｜begin▁of▁sentence｜>sys<｜User｜>hi <think><｜DSML｜>x</think>"
                                   "<｜Assistant｜><｜end▁of▁sentence｜>tail");
    EXPECT_EQ(split_rendered_chat(""), PromptPieces{});
    // "<｜DSML" without the final bar is not special.
    EXPECT_EQ(split_rendered_chat("<｜DSML"), (PromptPieces{P::plain("<｜DSML")}));
}

}  // namespace
}  // namespace dstar::chat

// Random DSML-ish completions for property tests: well-formed blocks of random families with
// random damage (closing tags and whole block ends inside values, stray tags after the block,
// cuts, inserted fragments, </think>).
#pragma once

#include <random>
#include <string>
#include <vector>

#include "chat/dsml_syntax.h"

namespace dstar::chat::test {

inline std::string random_dsml_completion(std::mt19937 &rng) {
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    const DsmlSyntax &syn = *kDsmlSyntaxes[pick(5) < 3 ? 0 : pick(3)];
    const std::string pe(syn.param_end);
    // The first nine are plain text; the rest look like syntax.
    const std::vector<std::string> value_bits = {
        "x", "a b", "&amp;", "&lt;/", " ", "\n", "{\"k\": [1, 2]}", "\"s</\"", "\xC3\xA9",
        pe, pe + " text", pe + "\n", std::string(syn.invoke_end), std::string(syn.tool_calls_end),
        std::string(syn.tool_calls_start), "</think>", "<", std::string(syn.param_start) + " name=\"q\">",
        pe + "\n" + std::string(syn.invoke_end) + "\n" + std::string(syn.tool_calls_end) + "\nmore doc",
    };
    auto bit = [&](int n) { return value_bits[static_cast<size_t>(pick(n))]; };
    const int all = static_cast<int>(value_bits.size());
    std::string text = pick(3) == 0 ? "" : (pick(2) ? "Sure.</think>ok" : "Let me look.");
    text += pick(2) ? "\n\n" : (pick(2) ? "\n" : "");
    text += std::string(syn.tool_calls_start) + "\n";
    for (int i = 0, invokes = 1 + pick(3); i < invokes; i++) {
        text += std::string(syn.invoke_start) + " name=\"f" + std::to_string(i) + "\">\n";
        for (int j = 0, params = pick(4); j < params; j++) {
            const int kind = pick(4);
            text += std::string(syn.param_start) + " name=\"p" + std::to_string(j) + "\"" +
                    (kind == 0 ? "" : kind == 1 ? " string=\"false\"" : " string=\"true\"") + ">";
            for (int k = 0, bits = pick(5); k < bits; k++) {
                text += pick(6) ? bit(9) : bit(all);  // mostly plain text
            }
            text += pe + "\n";
        }
        text += std::string(syn.invoke_end) + "\n";
    }
    text += std::string(syn.tool_calls_end);
    if (pick(3) == 0) {
        // Text after the block: prose with a closing tag, or a stray closing tag.
        text += '\n';
        if (pick(2)) text.append("more ").append(pe).append(" words");
        else text.append(syn.invoke_end);
    }
    if (pick(4) == 0) text.resize(static_cast<size_t>(pick(static_cast<int>(text.size()) + 1)));
    if (pick(4) == 0) text.insert(static_cast<size_t>(pick(static_cast<int>(text.size()) + 1)), bit(all));
    return text;
}

}  // namespace dstar::chat::test

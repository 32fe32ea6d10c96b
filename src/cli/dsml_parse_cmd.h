// `dstar dsml-parse [--thinking] FILE`: how dstar reads the DSML tool calls of a saved
// completion, printed as one JSON object, without loading a model.
#pragma once

#include <cstdio>
#include <string>

#include "chat/dsml_parse.h"

namespace dstar::cli {

// The object dsml-parse prints (no trailing newline), one call per line:
//   {"content": …, "reasoning_content": … or null,
//    "tool_calls": [{"name": …, "arguments": {…}}, …],
//    "error": …      only when a started block could not be parsed (content is then the raw
//                    text and tool_calls is empty),
//    "recovery": …   only when the lenient reading was used (ParsedReply::recovery)}
// `arguments` is the object exactly as the OpenAI API sends it (compact_arguments_json: same
// member order, duplicates and number spelling); when the model's arguments are not valid
// JSON (e.g. string="false" with text in it) it is the arguments text as a string instead.
// Invalid UTF-8 in strings is replaced by U+FFFD.
std::string dsml_parse_result_json(const chat::ParsedReply &reply);

void print_dsml_parse_usage(std::FILE *f);

// Runs the subcommand (argv[0] is "dsml-parse").  Exit status: 0 when the text was read (a
// malformed block is a result too), 1 when FILE cannot be read, 2 for a usage error.
int run_dsml_parse_command(int argc, char **argv);

}  // namespace dstar::cli

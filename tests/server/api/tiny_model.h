// The tiny synthetic model (6 layers, 4096-token vocabulary, random weights) shared by the API
// tests: written once per test process, removed at exit.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <gtest/gtest.h>
#include <string>

#include "model/synth.h"
#include "tokenizer/hf_vocab.h"

namespace dstar::server::api::test {

inline const std::string &tiny_model_path() {
    struct File {
        std::string path;
        File() : path(std::string(::testing::TempDir()) + "/dstar_api_tiny_" + std::to_string(::getpid()) + ".gguf") {
            model::SynthOptions o;
            o.preset = model::SynthPreset::Tiny;
            o.tokenizer_json = tok::default_npm_tokenizer_json();
            model::write_synthetic(path, o);
        }
        ~File() { std::remove(path.c_str()); }
    };
    static File file;
    return file.path;
}

}  // namespace dstar::server::api::test

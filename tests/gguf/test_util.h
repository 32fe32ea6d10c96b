// Shared helpers for the gguf tests: a scratch folder and error-message checks.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "common/error.h"
#include "common/test_util.h"

namespace dstar::gguf::test {

// A scratch folder named after the gguf tests.
class ScratchDir : public ::dstar::test::ScratchDir {
public:
    ScratchDir() : ::dstar::test::ScratchDir("dstar-gguf") {}
};
using ::dstar::test::contains;
using ::dstar::test::error_of;

}  // namespace dstar::gguf::test

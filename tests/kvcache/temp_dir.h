// A fresh directory under the test temp dir, removed with its contents at scope end.
#pragma once

#include "common/test_util.h"

namespace dstar::kvcache::testing {

class TempDir : public ::dstar::test::ScratchDir {
public:
    TempDir() : ::dstar::test::ScratchDir("dstar_kvcache") {}
};

}  // namespace dstar::kvcache::testing

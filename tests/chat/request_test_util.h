// Helpers for the request parser tests.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "common/error.h"

namespace dstar::chat::test {

// Runs f, expecting a dstar::Error whose message contains `needle`.
inline void expect_error(const std::function<void()> &f, const std::string &needle) {
    try {
        f();
        ADD_FAILURE() << "expected an error containing: " << needle;
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
            << "message: " << e.what() << "\nexpected to contain: " << needle;
    }
}

}  // namespace dstar::chat::test

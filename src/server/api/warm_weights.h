// --warm-weights (spec features.md §3): read one byte of every page of the model's tensor data
// before serving, so that the first requests do not stall on page faults.
#pragma once

#include "gguf/reader.h"

namespace dstar::server::api {

// Touches [data_offset, file end) after a read-ahead hint; logs the size, the time and a
// checksum (which also keeps the reads from being optimised away).
void warm_weights(const gguf::Reader &reader);

}  // namespace dstar::server::api

// The API layer's parts of a request's --trace block (spec server.md §14): the header lines,
// the raw request and the rendered prompt before the job runs (the worker then appends its
// cache decision and the generated text), and the parsed message at the end.
#pragma once

#include <string_view>

#include "server/api/gen_params.h"
#include "server/api/reply.h"
#include "server/job.h"
#include "server/trace.h"

namespace dstar::server::api {

// Exact-replay statistics of one request's history (kvcache.md §9): assistant turns rendered
// from RAM / disk-restored blocks or canonically, and call ids the memory did not know.
struct ToolReplayStats {
    uint32_t mem = 0, disk = 0, canonical = 0, missing_ids = 0;
};

void trace_request(TraceRecord &rec, const JobRequest &job, const GenParams &params, const ToolReplayStats &replay,
                   std::string_view raw_body);

void trace_reply(TraceRecord &rec, const JobResult &result, const FinalReply &reply, double elapsed_s);

}  // namespace dstar::server::api

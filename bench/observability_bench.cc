// What counting and access-logging a request adds to it: one request walking a chain of four
// pass-through filters and one that answers, without a recorder (the baseline, in the same run),
// with the metrics only, and with the metrics and a JSON access log (to /dev/null, through the
// writer thread). Report the ratios to the baseline.

#include <memory>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "benchmark/benchmark.h"
#include "source/active_request.h"
#include "source/common/access_log.h"
#include "source/common/metrics.h"

namespace gateway {
namespace {

using bench::NullEncoder;

// Arg 0: no recorder; 1: metrics; 2: metrics and the JSON access log.
void BM_RecordedRequest(benchmark::State& state) {
  FilterChain chain = bench::ChainOf(4, R"({"jsonrpc":"2.0","id":1,"result":{}})");
  bench::BenchWorker worker;
  Metrics metrics;
  std::unique_ptr<AccessLog> access_log;
  if (state.range(0) == 2) {
    access_log = *AccessLog::Open({AccessLogConfig::Format::kJson, "/dev/null"}, &metrics);
  }
  RequestRecorder recorder(metrics, access_log.get(), chain);
  NullEncoder encoder;
  const http::RequestHead head = bench::McpPostHead();
  for (auto _ : state) {
    ActiveRequest request(chain, worker.Services(state.range(0) == 0 ? nullptr : &recorder),
                          encoder, "bench-0-1");
    encoder.stream = &request;
    http::RequestHead copy = head;
    request.OnHeaders(std::move(copy), true);
  }
  access_log.reset();  // drains the queue
  state.counters["dropped_lines"] =
      metrics.Render().find("gateway_access_log_dropped_total 0\n") == std::string::npos;
}
BENCHMARK(BM_RecordedRequest)->Arg(0)->Arg(1)->Arg(2);

}  // namespace
}  // namespace gateway

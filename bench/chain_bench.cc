// The filter chain walk with N pass-through filters in front of one that answers: the fixed cost
// the composed design adds per request, against N = 0 as the baseline in the same run.

#include <memory>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "benchmark/benchmark.h"
#include "source/active_request.h"

namespace gateway {
namespace {

using bench::NullEncoder;

void BM_ChainWalk(benchmark::State& state) {
  FilterChain chain = bench::ChainOf(static_cast<int>(state.range(0)));
  bench::BenchWorker worker;
  NullEncoder encoder;
  const http::RequestHead head = bench::McpPostHead();
  for (auto _ : state) {
    ActiveRequest request(chain, worker.Services(), encoder, "b");
    encoder.stream = &request;
    http::RequestHead copy = head;
    request.OnHeaders(std::move(copy), true);
  }
}
BENCHMARK(BM_ChainWalk)->Arg(0)->Arg(1)->Arg(4)->Arg(8);

}  // namespace
}  // namespace gateway

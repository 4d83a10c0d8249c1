// The filter chain walk with N pass-through filters in front of one that answers: the fixed cost
// the composed design adds per request, against N = 0 as the baseline in the same run.

#include <memory>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "benchmark/benchmark.h"
#include "source/active_request.h"
#include "source/common/store/memory_store.h"

namespace gateway {
namespace {

using bench::NullEncoder;
using bench::PassThrough;

class Answer : public Filter {
 public:
  explicit Answer(FilterCallbacks& callbacks) : callbacks_(callbacks) {}
  FilterStatus OnRequestHeaders() override {
    http::LocalReply reply;
    reply.status = 200;
    callbacks_.SendLocalReply(std::move(reply));
    return FilterStatus::kStopIteration;
  }

 private:
  FilterCallbacks& callbacks_;
};

void BM_ChainWalk(benchmark::State& state) {
  std::vector<FilterChain::Entry> entries;
  for (int i = 0; i < state.range(0); ++i) {
    entries.push_back(
        {"pass", RouteMatch{}, [](FilterCallbacks&) { return std::make_unique<PassThrough>(); }});
  }
  entries.push_back({"answer", RouteMatch{}, [](FilterCallbacks& callbacks) {
                       return std::make_unique<Answer>(callbacks);
                     }});
  FilterChain chain(std::move(entries));
  Dispatcher dispatcher("bench");
  http::HttpClient client(dispatcher, http::ClientOptions{});
  SystemClock clock;
  store::MemoryStoreBackend backend(clock, store::StoreLimits{});
  std::unique_ptr<store::Store> store = backend.ForWorker(dispatcher);
  NullEncoder encoder;
  http::RequestHead head;
  head.method = "POST";
  head.target = head.path = "/mcp";
  head.headers.Add("Content-Type", "application/json");
  for (auto _ : state) {
    ActiveRequest request(chain, WorkerServices{dispatcher, client, *store, 1 << 16}, encoder, "b");
    encoder.stream = &request;
    http::RequestHead copy = head;
    request.OnHeaders(std::move(copy), true);
  }
}
BENCHMARK(BM_ChainWalk)->Arg(0)->Arg(1)->Arg(4)->Arg(8);

}  // namespace
}  // namespace gateway

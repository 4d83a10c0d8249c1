#pragma once

// What the benchmarks that drive a request through a filter chain share: a filter that passes
// the request on, one that answers, a chain of them, a worker's services, and an encoder that
// takes the response and ends the stream.

#include <memory>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "source/active_request.h"
#include "source/common/store/memory_store.h"

namespace gateway::bench {

class PassThrough : public Filter {
 public:
  FilterStatus OnRequestHeaders() override { return FilterStatus::kContinue; }
};

// Answers 200 with `body`.
class Answer : public Filter {
 public:
  Answer(FilterCallbacks& callbacks, std::string body)
      : callbacks_(callbacks), body_(std::move(body)) {}
  FilterStatus OnRequestHeaders() override {
    http::LocalReply reply;
    reply.status = 200;
    reply.body = body_;
    callbacks_.SendLocalReply(std::move(reply));
    return FilterStatus::kStopIteration;
  }

 private:
  FilterCallbacks& callbacks_;
  const std::string body_;
};

// `pass_throughs` PassThrough entries, then an Answer with `body`.
inline FilterChain ChainOf(int pass_throughs, std::string body = "") {
  std::vector<FilterChain::Entry> entries;
  for (int i = 0; i < pass_throughs; ++i) {
    entries.push_back(
        {"pass", RouteMatch{}, [](FilterCallbacks&) { return std::make_unique<PassThrough>(); }});
  }
  entries.push_back({"answer", RouteMatch{}, [body](FilterCallbacks& callbacks) {
                       return std::make_unique<Answer>(callbacks, body);
                     }});
  return FilterChain(std::move(entries));
}

// A worker's services for ActiveRequest, with an in-memory store.
struct BenchWorker {
  BenchWorker() : client(dispatcher, http::ClientOptions{}), backend(clock, store::StoreLimits{}) {
    store = backend.ForWorker(dispatcher);
  }
  WorkerServices Services(RequestRecorder* recorder = nullptr) {
    return WorkerServices{dispatcher, client, *store, 1 << 16, recorder};
  }

  Dispatcher dispatcher{"bench"};
  http::HttpClient client;
  SystemClock clock;
  store::MemoryStoreBackend backend;
  std::unique_ptr<store::Store> store;
};

// A POST /mcp head with a JSON body type.
inline http::RequestHead McpPostHead() {
  http::RequestHead head;
  head.method = "POST";
  head.target = head.path = "/mcp";
  head.headers.Add("Content-Type", "application/json");
  return head;
}

// Ends `stream` when the response ends; keeps the last status.
class NullEncoder : public http::ResponseEncoder {
 public:
  void EncodeHeaders(http::ResponseHead head, bool end_stream) override {
    status = head.status;
    benchmark::DoNotOptimize(status);
    if (end_stream) {
      stream->OnEnd(http::StreamEnd::kComplete);
    }
  }
  void EncodeData(absl::string_view, bool end_stream) override {
    if (end_stream) {
      stream->OnEnd(http::StreamEnd::kComplete);
    }
  }
  void ReadDisable(bool) override {}
  size_t BufferedBytes() const override { return 0; }
  void Reset() override {}
  bool response_started() const override { return false; }
  const Address& peer() const override { return peer_address; }

  http::ServerStream* stream = nullptr;
  Address peer_address;
  int status = 0;
};

}  // namespace gateway::bench

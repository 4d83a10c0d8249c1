#pragma once

// What the benchmarks that drive a request through a filter chain share: a filter that passes
// the request on, and an encoder that takes the response and ends the stream.

#include "benchmark/benchmark.h"
#include "source/active_request.h"

namespace gateway::bench {

class PassThrough : public Filter {
 public:
  FilterStatus OnRequestHeaders() override { return FilterStatus::kContinue; }
};

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

// The codec's parse of a typical MCP request: a POST of a JSON-RPC tools/call with the headers
// an SDK client sends, from bytes in an evbuffer to callbacks with the head and body.

#include <event2/buffer.h>

#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "source/common/http/parser.h"

namespace gateway::http {
namespace {

constexpr char kMcpRequest[] =
    "POST /mcp HTTP/1.1\r\n"
    "Host: localhost:8002\r\n"
    "Content-Type: application/json\r\n"
    "Accept: application/json, text/event-stream\r\n"
    "Authorization: Bearer "
    "Z3dfYWNjZXNzX3Rva2VuXzEyMzQ1Njc4OTA6dXBzdHJlYW1fYWNjZXNzX3Rva2VuX2FiY2RlZmdoaWprbG1ub3BxcnN0"
    "dXZ3eHl6\r\n"
    "Mcp-Session-Id: 4f0c2b8e-8f1d-4a7e-9c3b-2d6e5f7a8b9c\r\n"
    "Mcp-Protocol-Version: 2025-06-18\r\n"
    "User-Agent: node\r\n"
    "Content-Length: 91\r\n"
    "\r\n"
    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\","
    "\"arguments\":{\"x\":1}}}";

class Counting : public Parser::Callbacks {
 public:
  void OnMessageBegin() override {}
  void OnRequestHead(RequestHead&& head, const Parser::Framing&) override {
    benchmark::DoNotOptimize(head.headers.size());
  }
  void OnBody(absl::string_view data) override { body_bytes += data.size(); }
  void OnMessageComplete() override { ++messages; }
  size_t body_bytes = 0;
  size_t messages = 0;
};

void BM_ParseMcpRequest(benchmark::State& state) {
  Counting callbacks;
  Parser parser(Parser::Mode::kRequest, Parser::Limits{}, callbacks);
  std::unique_ptr<evbuffer, decltype(&evbuffer_free)> input(evbuffer_new(), &evbuffer_free);
  for (auto _ : state) {
    evbuffer_add(input.get(), kMcpRequest, sizeof(kMcpRequest) - 1);
    parser.Dispatch(input.get());
  }
  if (callbacks.messages != static_cast<size_t>(state.iterations())) {
    state.SkipWithError("the parser missed messages");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * (sizeof(kMcpRequest) - 1)));
}
BENCHMARK(BM_ParseMcpRequest);

}  // namespace
}  // namespace gateway::http

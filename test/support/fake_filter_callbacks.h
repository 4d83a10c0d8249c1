#pragma once

// FilterCallbacks for unit tests of one filter: records what the filter asks of the chain
// (continue, replies, body hand-over) so a test can drive the filter and assert on the outcome.

#include <functional>
#include <string>

#include "source/filter.h"

namespace gateway::testing {

class FakeFilterCallbacks : public FilterCallbacks {
 public:
  FakeFilterCallbacks(Dispatcher& dispatcher, http::HttpClient& client)
      : dispatcher_(dispatcher), client_(client) {}

  RequestContext& context() override { return context_; }
  Dispatcher& dispatcher() override { return dispatcher_; }
  http::HttpClient& http_client() override { return client_; }
  void ContinueChain() override {
    ++continued;
    if (on_continue) {
      on_continue();
    }
  }
  void SendLocalReply(http::LocalReply reply) override {
    replied = true;
    this->reply = std::move(reply);
  }
  void EncodeHeaders(http::ResponseHead head, bool end_stream) override {
    response_head = std::move(head);
    response_complete = end_stream;
  }
  void EncodeData(absl::string_view data, bool end_stream) override {
    response_body.append(data.data(), data.size());
    response_complete = end_stream;
  }
  size_t BufferedResponseBytes() const override { return 0; }
  void StreamRequestBody() override { streaming_body = true; }
  void ReadDisable(bool disable) override { read_disabled = disable; }
  void ResetStream() override { reset = true; }

  std::function<void()> on_continue;  // optional: called on each ContinueChain()
  int continued = 0;
  bool replied = false;
  http::LocalReply reply;
  http::ResponseHead response_head;
  std::string response_body;
  bool response_complete = false;
  bool streaming_body = false;
  bool read_disabled = false;
  bool reset = false;

 private:
  Dispatcher& dispatcher_;
  http::HttpClient& client_;
  RequestContext context_;
};

}  // namespace gateway::testing

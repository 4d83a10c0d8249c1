#pragma once

// Unit tests of one filter: FakeFilterCallbacks records what the filter asks of the chain
// (continue, replies, body hand-over); FilterHarness bundles it with the rest a filter needs (a
// dispatcher, an HTTP client, the memory store, the process-wide services) and builds the filter
// from YAML through its factory, as the chain would.

#include <functional>
#include <memory>
#include <string>

#include "source/common/store/memory_store.h"
#include "source/filter.h"
#include "test/support/test_services.h"

namespace gateway::testing {

class FakeFilterCallbacks : public FilterCallbacks {
 public:
  FakeFilterCallbacks(Dispatcher& dispatcher, http::HttpClient& client, store::Store& store)
      : dispatcher_(dispatcher), client_(client), store_(store) {}

  RequestContext& context() override { return context_; }
  Dispatcher& dispatcher() override { return dispatcher_; }
  http::HttpClient& http_client() override { return client_; }
  store::Store& store() override { return store_; }
  void ContinueChain() override {
    ++continued;
    if (on_continue) {
      on_continue();
    }
  }
  void SendLocalReply(http::LocalReply reply) override {
    replied = true;
    this->reply = std::move(reply);
    if (on_reply) {
      on_reply();
    }
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
  std::function<void()> on_reply;     // optional: called on each SendLocalReply()
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
  store::Store& store_;
  RequestContext context_;
};

class FilterHarness {
 public:
  explicit FilterHarness(Config config = TestConfig())
      : services(std::move(config)),
        dispatcher("test"),
        client(dispatcher, http::ClientOptions{}),
        store_backend(services.clock, services.config.store.limits),
        store(store_backend.ForWorker(dispatcher)),
        callbacks(dispatcher, client, *store) {}

  // The filter `factory` makes from the YAML `config` text, as the chain would build it.
  absl::StatusOr<std::unique_ptr<Filter>> Make(const FilterFactory& factory,
                                               absl::string_view yaml = "",
                                               FilterCallbacks* use = nullptr) {
    absl::StatusOr<config::Node> node = config::ParseYaml(yaml, "test.yaml");
    if (!node.ok()) {
      return node.status();
    }
    FactoryContext context = services.context();
    absl::StatusOr<FilterFactoryFn> create = factory.CreateFilterFactory(*node, context);
    if (!create.ok()) {
      return create.status();
    }
    return (*create)(use != nullptr ? *use : callbacks);
  }

  TestServices services;
  Dispatcher dispatcher;
  http::HttpClient client;
  store::MemoryStoreBackend store_backend;
  std::unique_ptr<store::Store> store;
  FakeFilterCallbacks callbacks;
};

}  // namespace gateway::testing

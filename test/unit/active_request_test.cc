// The chain walk, one request at a time, in process: scripted filters, a fake response encoder
// standing in for the connection, and a real dispatcher (no sockets) for the asynchronous cases.

#include "source/active_request.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/common/store/memory_store.h"
#include "source/filter_registry.h"
#include "test/support/test_server.h"
#include "test/support/test_services.h"

namespace gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Stands in for the server connection: records the response and, like the connection, ends the
// stream as soon as the response is complete.
class FakeEncoder : public http::ResponseEncoder {
 public:
  void EncodeHeaders(http::ResponseHead head, bool end_stream) override {
    status = head.status;
    headers = head.headers;
    started = true;
    if (end_stream) {
      Complete();
    }
  }
  void EncodeData(absl::string_view data, bool end_stream) override {
    body.append(data.data(), data.size());
    if (end_stream) {
      Complete();
    }
  }
  void ReadDisable(bool disable) override { read_disabled.push_back(disable); }
  size_t BufferedBytes() const override { return 0; }
  void Reset() override {
    reset = true;
    stream->OnEnd(http::StreamEnd::kReset);
  }
  bool response_started() const override { return started; }
  const Address& peer() const override { return peer_address; }

  void Complete() {
    complete = true;
    stream->OnEnd(http::StreamEnd::kComplete);
  }

  http::ServerStream* stream = nullptr;
  int status = 0;
  http::HeaderMap headers;
  std::string body;
  bool started = false;
  bool complete = false;
  bool reset = false;
  std::vector<bool> read_disabled;
  Address peer_address = *Address::FromIp("127.0.0.1", 50000);
};

// A filter whose every step is a lambda supplied by the test; it records what happens to it.
struct Script {
  std::function<FilterStatus(FilterCallbacks&)> on_headers = [](FilterCallbacks&) {
    return FilterStatus::kContinue;
  };
  std::function<FilterStatus(FilterCallbacks&)> on_body = [](FilterCallbacks&) {
    return FilterStatus::kContinue;
  };
  std::function<void(FilterCallbacks&, absl::string_view, bool)> on_data;
  std::function<void(http::ResponseHead&)> on_response_headers;
};

class ScriptedFilter : public Filter {
 public:
  ScriptedFilter(std::string name, const Script& script, FilterCallbacks& callbacks,
                 std::vector<std::string>& log, FilterCallbacks*& handle)
      : name_(std::move(name)), script_(script), callbacks_(callbacks), log_(log) {
    handle = &callbacks;
  }
  FilterStatus OnRequestHeaders() override {
    log_.push_back(name_ + ":headers");
    return script_.on_headers(callbacks_);
  }
  FilterStatus OnRequestBody() override {
    log_.push_back(absl::StrCat(name_, ":body=", callbacks_.context().body));
    return script_.on_body(callbacks_);
  }
  void OnRequestData(absl::string_view data, bool end_stream) override {
    log_.push_back(absl::StrCat(name_, ":data=", data, end_stream ? ":end" : ""));
    if (script_.on_data) {
      script_.on_data(callbacks_, data, end_stream);
    }
  }
  void OnResponseHeaders(http::ResponseHead& head) override {
    log_.push_back(name_ + ":response");
    if (script_.on_response_headers) {
      script_.on_response_headers(head);
    }
  }
  void OnDownstreamWatermark(bool above) override {
    log_.push_back(absl::StrCat(name_, ":watermark=", above));
  }
  void OnDestroy(http::StreamEnd reason) override {
    log_.push_back(absl::StrCat(name_, ":destroy=", http::StreamEndName(reason)));
  }

 private:
  std::string name_;
  const Script& script_;
  FilterCallbacks& callbacks_;
  std::vector<std::string>& log_;
};

FilterStatus Reply(FilterCallbacks& callbacks, int status, std::string body) {
  http::LocalReply reply;
  reply.status = status;
  reply.content_type = "text/plain";
  reply.body = std::move(body);
  callbacks.SendLocalReply(std::move(reply));
  return FilterStatus::kStopIteration;
}

class ActiveRequestTest : public ::testing::Test {
 protected:
  ActiveRequestTest()
      : dispatcher_("test"),
        client_(dispatcher_, http::ClientOptions{}),
        store_backend_(services_.clock, store::StoreLimits{}),
        store_(store_backend_.ForWorker(dispatcher_)) {}

  // Adds a scripted entry named `name`; its callbacks are at handles_[name] once created.
  Script& Add(const std::string& name, RouteMatch match = {}) {
    scripts_.push_back(std::make_unique<Script>());
    Script& script = *scripts_.back();
    FilterCallbacks*& handle = handles_[name];
    entries_.push_back(FilterChain::Entry{
        name, std::move(match), [this, name, &script, &handle](FilterCallbacks& callbacks) {
          return std::make_unique<ScriptedFilter>(name, script, callbacks, log_, handle);
        }});
    return script;
  }

  // Adds a registered filter built from its YAML config, as the chain would.
  void AddRegistered(const std::string& name, absl::string_view yaml_config) {
    FilterRegistry registry;
    RegisterBuiltinFilters(registry);
    absl::StatusOr<config::Node> node = config::ParseYaml(yaml_config, "test.yaml");
    ASSERT_TRUE(node.ok()) << node.status();
    FactoryContext context = services_.context();
    absl::StatusOr<FilterFactoryFn> create =
        registry.Find(name)->CreateFilterFactory(*node, context);
    ASSERT_TRUE(create.ok()) << create.status();
    entries_.push_back(FilterChain::Entry{name, RouteMatch{}, *create});
  }

  void Start(std::string method, std::string path, bool end_stream = true,
             size_t buffer_bytes = 1024) {
    chain_ = std::make_unique<FilterChain>(entries_);
    request_ = std::make_unique<ActiveRequest>(
        *chain_, WorkerServices{dispatcher_, client_, *store_, buffer_bytes}, encoder_, "test-1");
    encoder_.stream = request_.get();
    http::RequestHead head;
    head.method = std::move(method);
    head.target = std::move(path);
    http::SplitTarget(head);
    request_->OnHeaders(std::move(head), end_stream);
  }

  testing::TestServices services_;
  Dispatcher dispatcher_;
  http::HttpClient client_;
  store::MemoryStoreBackend store_backend_;
  std::unique_ptr<store::Store> store_;
  FakeEncoder encoder_;
  std::vector<std::string> log_;  // before request_: its filters log into it when destroyed
  std::vector<std::unique_ptr<Script>> scripts_;
  std::map<std::string, FilterCallbacks*> handles_;
  std::vector<FilterChain::Entry> entries_;
  std::unique_ptr<FilterChain> chain_;
  std::unique_ptr<ActiveRequest> request_;
};

TEST_F(ActiveRequestTest, ContinueWalksToTheNextFilter) {
  Add("a");
  Add("b");
  Add("c").on_headers = [](FilterCallbacks& callbacks) { return Reply(callbacks, 200, "hi"); };
  Start("GET", "/x");
  EXPECT_EQ(encoder_.status, 200);
  EXPECT_EQ(encoder_.body, "hi");
  EXPECT_TRUE(encoder_.complete);
  EXPECT_THAT(log_, ElementsAre("a:headers", "b:headers", "c:headers", "c:response", "b:response",
                                "a:response", "c:destroy=complete", "b:destroy=complete",
                                "a:destroy=complete"));
}

TEST_F(ActiveRequestTest, StopIterationWaitsForContinueChain) {
  Add("a").on_headers = [](FilterCallbacks&) { return FilterStatus::kStopIteration; };
  Add("b").on_headers = [](FilterCallbacks& callbacks) { return Reply(callbacks, 201, ""); };
  Start("GET", "/x");
  EXPECT_THAT(log_, ElementsAre("a:headers"));
  EXPECT_FALSE(encoder_.started);
  handles_["a"]->ContinueChain();
  EXPECT_EQ(encoder_.status, 201);
  EXPECT_THAT(log_, ElementsAre("a:headers", "b:headers", "b:response", "a:response",
                                "b:destroy=complete", "a:destroy=complete"));
}

TEST_F(ActiveRequestTest, ContinueChainFromInsideOnRequestHeadersCountsAsContinue) {
  Add("a").on_headers = [](FilterCallbacks& callbacks) {
    callbacks.ContinueChain();
    return FilterStatus::kStopIteration;
  };
  Add("b").on_headers = [](FilterCallbacks& callbacks) { return Reply(callbacks, 200, "b"); };
  Start("GET", "/x");
  EXPECT_EQ(encoder_.body, "b");
}

TEST_F(ActiveRequestTest, ContinueChainFromAFilterThatIsNotWaitedOnIsIgnored) {
  Add("a");
  Add("b").on_headers = [](FilterCallbacks&) { return FilterStatus::kStopIteration; };
  Add("c").on_headers = [](FilterCallbacks& callbacks) { return Reply(callbacks, 200, "c"); };
  Start("GET", "/x");
  handles_["a"]->ContinueChain();  // a already continued: the walk waits on b, not a
  EXPECT_FALSE(encoder_.started);
  EXPECT_EQ(handles_["c"], nullptr);  // never created
  handles_["b"]->ContinueChain();
  EXPECT_EQ(encoder_.body, "c");
}

TEST_F(ActiveRequestTest, LocalReplyEndsTheWalk) {
  Add("a").on_headers = [](FilterCallbacks& callbacks) { return Reply(callbacks, 403, "no"); };
  Add("b");
  Start("GET", "/x");
  EXPECT_EQ(encoder_.status, 403);
  EXPECT_EQ(*encoder_.headers.Get("content-length"), "2");
  EXPECT_THAT(log_, ElementsAre("a:headers", "a:response", "a:destroy=complete"));
}

TEST_F(ActiveRequestTest, RequestNoFilterAnswersGetsA404Json) {
  Add("a");
  Start("GET", "/nowhere");
  EXPECT_EQ(encoder_.status, 404);
  EXPECT_EQ(*encoder_.headers.Get("content-type"), "application/json");
  EXPECT_EQ(encoder_.body,
            R"({"error":"not_found","error_description":"no route for GET /nowhere"})");
}

TEST_F(ActiveRequestTest, EntriesThatDoNotMatchAreSkippedWithoutBeingCreated) {
  Add("mcp_only", RouteMatch{.path = "", .prefix = "/mcp", .methods = {}, .paths = {}});
  Add("post_only", RouteMatch{.path = "", .prefix = "", .methods = {"POST"}, .paths = {}});
  Add("answer").on_headers = [](FilterCallbacks& callbacks) { return Reply(callbacks, 200, ""); };
  Start("GET", "/healthz");
  EXPECT_THAT(log_, ElementsAre("answer:headers", "answer:response", "answer:destroy=complete"));
  EXPECT_EQ(handles_["mcp_only"], nullptr);  // never created
}

TEST_F(ActiveRequestTest, ResumesFromATimer) {
  testing::LoopRunner runner(dispatcher_);
  AddRegistered("delay", "{duration: 5ms}");
  Add("answer").on_headers = [&runner](FilterCallbacks& callbacks) {
    runner.Done();
    return Reply(callbacks, 200, "late");
  };
  Start("GET", "/slow");
  EXPECT_FALSE(encoder_.started);
  EXPECT_TRUE(runner.Run(absl::Seconds(5)));
  EXPECT_EQ(encoder_.body, "late");
  EXPECT_THAT(log_, ElementsAre("answer:headers", "answer:response", "answer:destroy=complete"));
}

TEST_F(ActiveRequestTest, ClientGoneDuringStopRunsTeardownAndNeverResumes) {
  Add("a").on_headers = [](FilterCallbacks&) { return FilterStatus::kStopIteration; };
  Add("b").on_headers = [](FilterCallbacks& callbacks) { return Reply(callbacks, 200, "b"); };
  Start("GET", "/x");
  request_->OnEnd(http::StreamEnd::kClientGone);
  EXPECT_THAT(log_, ElementsAre("a:headers", "a:destroy=client_gone"));
  // The filter's late work finishing after the client left: nothing resumes, nothing is sent.
  handles_["a"]->ContinueChain();
  handles_["a"]->SendLocalReply(http::ErrorReply(500, "late", ""));
  handles_["a"]->EncodeData("late", true);
  handles_["a"]->ReadDisable(true);
  handles_["a"]->ResetStream();
  EXPECT_EQ(handles_["b"], nullptr);  // never created
  EXPECT_FALSE(encoder_.started);
  EXPECT_FALSE(encoder_.reset);
  EXPECT_TRUE(encoder_.read_disabled.empty());
  EXPECT_THAT(log_, ElementsAre("a:headers", "a:destroy=client_gone"));
}

TEST_F(ActiveRequestTest, ClientGoneCancelsAPendingTimer) {
  AddRegistered("delay", "{duration: 20ms}");
  Add("answer").on_headers = [](FilterCallbacks& callbacks) { return Reply(callbacks, 200, ""); };
  Start("GET", "/slow");
  request_->OnEnd(http::StreamEnd::kClientGone);
  testing::LoopRunner runner(dispatcher_);
  std::unique_ptr<Timer> after = dispatcher_.CreateTimer([&] { runner.Done(); });
  after->Enable(absl::Milliseconds(60));
  EXPECT_TRUE(runner.Run());
  EXPECT_EQ(handles_["answer"], nullptr);  // never created
  EXPECT_FALSE(encoder_.started);
}

TEST_F(ActiveRequestTest, BufferedBodyArrivesWholeAtTheFilterThatAskedForIt) {
  Add("form").on_headers = [](FilterCallbacks&) { return FilterStatus::kStopAndBufferBody; };
  scripts_.back()->on_body = [](FilterCallbacks& callbacks) {
    return Reply(callbacks, 200, "got " + callbacks.context().body);
  };
  Start("POST", "/token", /*end_stream=*/false);
  request_->OnData("grant_type=", false);
  EXPECT_FALSE(encoder_.started);
  request_->OnData("authorization_code", true);
  EXPECT_EQ(encoder_.body, "got grant_type=authorization_code");
  EXPECT_THAT(log_, ElementsAre("form:headers", "form:body=grant_type=authorization_code",
                                "form:response", "form:destroy=complete"));
}

TEST_F(ActiveRequestTest, BufferedBodyRequestWithoutBodyGoesOnAtOnce) {
  Add("form").on_headers = [](FilterCallbacks&) { return FilterStatus::kStopAndBufferBody; };
  Add("answer").on_headers = [](FilterCallbacks& callbacks) { return Reply(callbacks, 200, "x"); };
  Start("POST", "/token", /*end_stream=*/true);
  EXPECT_EQ(encoder_.body, "x");
  EXPECT_THAT(log_[1], "form:body=");
}

TEST_F(ActiveRequestTest, StreamedBodyKeepsOrderAcrossTheHandOver) {
  Add("auth").on_headers = [](FilterCallbacks&) { return FilterStatus::kStopIteration; };
  Add("proxy").on_headers = [](FilterCallbacks& callbacks) {
    callbacks.StreamRequestBody();
    return FilterStatus::kStopIteration;
  };
  scripts_.back()->on_data = [](FilterCallbacks& callbacks, absl::string_view, bool end_stream) {
    if (end_stream) {
      Reply(callbacks, 200, "done");
    }
  };
  Start("POST", "/mcp", /*end_stream=*/false, /*buffer_bytes=*/8);
  request_->OnData("0123", false);
  request_->OnData("4567", false);  // 8 bytes held and nobody has taken them: reading pauses
  EXPECT_THAT(encoder_.read_disabled, ElementsAre(true));
  handles_["auth"]->ContinueChain();  // the proxy takes the body: buffered bytes first
  EXPECT_THAT(encoder_.read_disabled, ElementsAre(true, false));
  request_->OnData("89", true);
  EXPECT_EQ(encoder_.body, "done");
  EXPECT_THAT(log_, ElementsAre("auth:headers", "proxy:headers", "proxy:data=01234567",
                                "proxy:data=89:end", "proxy:response", "auth:response",
                                "proxy:destroy=complete", "auth:destroy=complete"));
}

TEST_F(ActiveRequestTest, StreamRequestBodyWithNoBodyDeliversTheEnd) {
  Add("proxy").on_headers = [](FilterCallbacks& callbacks) {
    callbacks.StreamRequestBody();
    return FilterStatus::kStopIteration;
  };
  Start("GET", "/mcp");
  EXPECT_THAT(log_, ElementsAre("proxy:headers", "proxy:data=:end"));
}

TEST_F(ActiveRequestTest, ResponseHeaderHooksRunLastFilterFirstAndMayAddHeaders) {
  Add("cors").on_response_headers = [](http::ResponseHead& head) {
    head.headers.Add("Access-Control-Allow-Origin", "*");
  };
  Add("answer").on_headers = [](FilterCallbacks& callbacks) { return Reply(callbacks, 200, ""); };
  Start("GET", "/.well-known/oauth-authorization-server");
  ASSERT_NE(encoder_.headers.Get("access-control-allow-origin"), nullptr);
  EXPECT_THAT(log_,
              ElementsAre("cors:headers", "answer:headers", "answer:response", "cors:response",
                          "answer:destroy=complete", "cors:destroy=complete"));
}

TEST_F(ActiveRequestTest, StreamedResponseAndWatermarksReachTheFilters) {
  Add("sse").on_headers = [](FilterCallbacks& callbacks) {
    http::ResponseHead head;
    head.headers.Add("Content-Type", "text/event-stream");
    callbacks.EncodeHeaders(std::move(head), false);
    callbacks.EncodeData("data: 1\n\n", false);
    return FilterStatus::kStopIteration;
  };
  Start("GET", "/mcp");
  request_->OnWatermark(true);
  request_->OnWatermark(false);
  handles_["sse"]->EncodeData("data: 2\n\n", true);
  EXPECT_EQ(encoder_.body, "data: 1\n\ndata: 2\n\n");
  EXPECT_THAT(log_, ElementsAre("sse:headers", "sse:response", "sse:watermark=1", "sse:watermark=0",
                                "sse:destroy=complete"));
}

TEST_F(ActiveRequestTest, ResetStreamEndsTheRequest) {
  Add("a").on_headers = [](FilterCallbacks& callbacks) {
    callbacks.ResetStream();
    return FilterStatus::kStopIteration;
  };
  Start("GET", "/x");
  EXPECT_TRUE(encoder_.reset);
  EXPECT_THAT(log_, ElementsAre("a:headers", "a:destroy=reset"));
}

TEST_F(ActiveRequestTest, HealthAnswersOkThenDrainingOnceShutdownBegins) {
  AddRegistered("health", "");
  Start("GET", "/healthz");
  EXPECT_EQ(encoder_.status, 200);
  EXPECT_EQ(encoder_.body, R"({"status":"ok"})");
  services_.state.draining = true;
  FakeEncoder second;
  auto request = std::make_unique<ActiveRequest>(
      *chain_, WorkerServices{dispatcher_, client_, *store_, 1024}, second, "test-2");
  second.stream = request.get();
  http::RequestHead head;
  head.method = "GET";
  head.target = head.path = "/healthz";
  request->OnHeaders(std::move(head), true);
  EXPECT_EQ(second.status, 503);
  EXPECT_THAT(second.body, HasSubstr("draining"));
}

}  // namespace
}  // namespace gateway

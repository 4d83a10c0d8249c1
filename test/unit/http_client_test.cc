// The upstream side of the codec: HttpClient on the test thread's dispatcher, real upstream
// servers (the gateway's own ServerConnection, plain and TLS, or a bare socket) on loopback.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/common/http/client.h"
#include "source/common/net.h"
#include "test/support/producer_stream.h"
#include "test/support/test_certificate.h"
#include "test/support/test_server.h"

namespace gateway::http {
namespace {

using ::testing::HasSubstr;
using testing::LoopRunner;
using testing::TestServer;

StreamFactory Echo() {
  return testing::RespondWith(
      [](const RequestHead& head, const std::string& body, ResponseEncoder& encoder) {
        testing::SendResponse(encoder, 200,
                              absl::StrCat(head.method, " ", head.target,
                                           " host=", *head.headers.Get("host"), " body=", body));
      });
}

Url LocalUrl(uint16_t port, const char* scheme = "http", const char* host = "127.0.0.1") {
  return *ParseUrl(absl::StrCat(scheme, "://", host, ":", port, "/"));
}

RequestHead Get(std::string target) {
  RequestHead head;
  head.method = "GET";
  head.target = std::move(target);
  return head;
}

// Records what an exchange reports and ends the loop when it is over.
class Recorder : public UpstreamCallbacks {
 public:
  explicit Recorder(LoopRunner& runner) : runner_(runner) {}
  void OnResponseHeaders(ResponseHead&& head, bool end_stream) override {
    status = head.status;
    headers = std::move(head.headers);
    if (end_stream) {
      Finish();
    }
  }
  void OnResponseData(absl::string_view data, bool end_stream) override {
    body.append(data.data(), data.size());
    ++pieces;
    if (on_data) {
      on_data(data);
    }
    if (end_stream) {
      Finish();
    }
  }
  void OnError(const absl::Status& status) override {
    error = status;
    Finish();
  }

  std::function<void(absl::string_view)> on_data;
  int status = 0;
  HeaderMap headers;
  std::string body;
  int pieces = 0;
  bool complete = false;
  absl::Status error;

 private:
  void Finish() {
    complete = true;
    runner_.Done();
  }
  LoopRunner& runner_;
};

class HttpClientTest : public ::testing::Test {
 protected:
  HttpClientTest() : dispatcher_("client"), runner_(dispatcher_) {}

  HttpClient& Client(ClientOptions options = {}) {
    client_ = std::make_unique<HttpClient>(dispatcher_, options);
    return *client_;
  }

  absl::StatusOr<FetchResponse> Fetch(HttpClient& client, const Url& url, RequestHead head,
                                      std::string body = "", size_t max_body = 1 << 20,
                                      AddressPolicy policy = AddressPolicy::kAny) {
    absl::StatusOr<FetchResponse> result = absl::UnknownError("no answer");
    std::unique_ptr<UpstreamRequest> request = client.Fetch(
        url, std::move(head), std::move(body),
        [&](absl::StatusOr<FetchResponse> response) {
          result = std::move(response);
          runner_.Done();
        },
        max_body, absl::Seconds(15), policy);
    EXPECT_TRUE(runner_.Run(absl::Seconds(10)));
    return result;
  }

  Dispatcher dispatcher_;
  LoopRunner runner_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(HttpClientTest, FetchesAndReusesTheKeptAliveConnection) {
  TestServer server(Echo());
  HttpClient& client = Client();
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<FetchResponse> response =
        Fetch(client, LocalUrl(server.port()), Get(absl::StrCat("/r", i)));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->head.status, 200);
    EXPECT_EQ(response->body,
              absl::StrCat("GET /r", i, " host=127.0.0.1:", server.port(), " body="));
  }
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(client.idle_count(), 1u);
}

TEST_F(HttpClientTest, SendsAWholeBodyWithItsLength) {
  TestServer server(Echo());
  RequestHead head;
  head.method = "POST";
  head.target = "/token";
  absl::StatusOr<FetchResponse> response =
      Fetch(Client(), LocalUrl(server.port()), std::move(head), "grant_type=refresh_token");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(response->body, HasSubstr("body=grant_type=refresh_token"));
}

TEST_F(HttpClientTest, StreamsARequestBodyInPieces) {
  TestServer server(Echo());
  HttpClient& client = Client();
  Recorder recorder(runner_);
  RequestHead head;
  head.method = "POST";
  head.target = "/mcp";
  std::unique_ptr<UpstreamRequest> request =
      client.Send(LocalUrl(server.port()), std::move(head), /*end_stream=*/false, recorder);
  request->SendData("{\"jsonrpc\":", false);
  request->SendData("\"2.0\"}", true);
  ASSERT_TRUE(runner_.Run());
  ASSERT_TRUE(recorder.error.ok()) << recorder.error;
  EXPECT_THAT(recorder.body, HasSubstr("body={\"jsonrpc\":\"2.0\"}"));
}

// Sends the head and a first event at once, the rest when the test says so.
class TwoPartStream : public ServerStream {
 public:
  TwoPartStream(ResponseEncoder& encoder, ResponseEncoder*& handle) : encoder_(encoder) {
    handle = &encoder;
  }
  void OnHeaders(RequestHead&&, bool) override {
    ResponseHead head;
    head.headers.Add("Content-Type", "text/event-stream");
    encoder_.EncodeHeaders(std::move(head), false);
    encoder_.EncodeData("data: 1\n\n", false);
  }
  void OnData(absl::string_view, bool) override {}
  void OnWatermark(bool) override {}
  void OnEnd(StreamEnd) override {}

 private:
  ResponseEncoder& encoder_;
};

// With a response timeout too: a response whose head came in time is not cut by it.
TEST_F(HttpClientTest, DeliversAStreamedResponseEventByEvent) {
  ResponseEncoder* upstream = nullptr;
  TestServer server(
      [&](ResponseEncoder& encoder) { return std::make_unique<TwoPartStream>(encoder, upstream); });
  Recorder recorder(runner_);
  recorder.on_data = [&](absl::string_view) { runner_.Done(); };
  std::unique_ptr<UpstreamRequest> request =
      Client().Send(LocalUrl(server.port()), Get("/mcp"), true, recorder, AddressPolicy::kAny,
                    absl::Seconds(1));  // from Send, connecting included: room for a slow machine
  ASSERT_TRUE(runner_.Run());
  EXPECT_EQ(recorder.status, 200);
  EXPECT_EQ(recorder.body, "data: 1\n\n");  // the first event arrived before the second exists
  EXPECT_FALSE(recorder.complete);
  // Past the response timeout with nothing more from the upstream: the stream stays open.
  EXPECT_FALSE(runner_.Run(absl::Milliseconds(2500)));
  EXPECT_TRUE(recorder.error.ok()) << recorder.error;
  EXPECT_FALSE(recorder.complete);
  recorder.on_data = nullptr;
  server.RunAndWait([&] { upstream->EncodeData("data: 2\n\n", true); });
  ASSERT_TRUE(runner_.Run());
  EXPECT_TRUE(recorder.complete);
  EXPECT_TRUE(recorder.error.ok()) << recorder.error;
  EXPECT_EQ(recorder.body, "data: 1\n\ndata: 2\n\n");
}

class TlsTest : public HttpClientTest {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::TestCertificate> certificate = testing::MakeTestCertificate();
    ASSERT_TRUE(certificate.ok()) << certificate.status();
    certificate_ = std::move(*certificate);
    absl::StatusOr<tls::SslCtxPtr> context =
        tls::CreateServerContext(certificate_.certificate_file, certificate_.key_file);
    ASSERT_TRUE(context.ok()) << context.status();
    server_context_ = std::move(*context);
  }

  testing::TestCertificate certificate_;
  tls::SslCtxPtr server_context_;
};

TEST_F(TlsTest, TalksHttpsToAVerifiedServerByName) {
  TestServer server(Echo(), ConnectionLimits{}, server_context_.get());
  ClientOptions options;
  options.ca_file = certificate_.certificate_file;
  // "localhost" may resolve to ::1 first, where nothing listens: the client moves on to the next
  // address.
  absl::StatusOr<FetchResponse> response =
      Fetch(Client(options), LocalUrl(server.port(), "https", "localhost"), Get("/secure"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(response->body, HasSubstr("GET /secure host=localhost:"));
}

// The descriptor of this process's client socket connected to 127.0.0.1:`port`, or -1.
int ClientSocketTo(uint16_t port) {
  for (int fd = 3; fd < 4096; ++fd) {
    sockaddr_in peer{};
    socklen_t length = sizeof(peer);
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) == 0 &&
        peer.sin_family == AF_INET && ntohs(peer.sin_port) == port) {
      return fd;
    }
  }
  return -1;
}

// The epoll events (EPOLLIN, EPOLLOUT...) some epoll set of this process waits for on `fd`, from
// /proc/self/fdinfo; -1 if no set has it.
int EpollEventsOf(int fd) {
  for (int epoll = 3; epoll < 4096; ++epoll) {
    char link[64] = {};
    if (::readlink(absl::StrCat("/proc/self/fd/", epoll).c_str(), link, sizeof(link) - 1) <= 0 ||
        absl::string_view(link) != "anon_inode:[eventpoll]") {
      continue;
    }
    std::ifstream info(absl::StrCat("/proc/self/fdinfo/", epoll));
    std::string line;
    while (std::getline(info, line)) {
      // "tfd:        9 events:       19 data: ..."
      std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
      int target = -1;
      unsigned int events = 0;
      if (words.size() >= 4 && words[0] == "tfd:" && absl::SimpleAtoi(words[1], &target) &&
          target == fd && absl::SimpleHexAtoi(words[3], &events)) {
        return static_cast<int>(events);
      }
    }
  }
  return -1;
}

// A request on a kept TLS connection is written in the turn that queued it without its socket
// joining epoll for writing (libevent's TLS bufferevent adds and removes its write event around
// every write: two epoll_ctl calls). When the socket is full, epoll takes over until it drains:
// here a 4 KiB send buffer and a 900 KB body, which the server echoes back.
TEST_F(TlsTest, WritesWithoutWaitingInEpollUnlessTheSocketIsFull) {
  TestServer server(Echo(), ConnectionLimits{}, server_context_.get());
  ClientOptions options;
  options.ca_file = certificate_.certificate_file;
  HttpClient& client = Client(options);
  const Url url = LocalUrl(server.port(), "https", "localhost");
  absl::StatusOr<FetchResponse> first = Fetch(client, url, Get("/first"));
  ASSERT_TRUE(first.ok()) << first.status();
  const int fd = ClientSocketTo(server.port());
  ASSERT_GE(fd, 0);
  ASSERT_GE(EpollEventsOf(fd), 0);
  EXPECT_EQ(EpollEventsOf(fd) & EPOLLOUT, 0);
  const int small = 4096;
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);

  Recorder recorder(runner_);
  RequestHead head;
  head.method = "POST";
  head.target = "/big";
  std::unique_ptr<UpstreamRequest> request =
      client.Send(url, std::move(head), /*end_stream=*/false, recorder);
  // Queued, not written yet (that happens later in this turn), and not waiting in epoll.
  EXPECT_EQ(EpollEventsOf(fd) & EPOLLOUT, 0);
  const std::string body = testing::Pattern(900 * 1000);
  request->SendData(body, /*end_stream=*/true);
  EXPECT_EQ(EpollEventsOf(fd) & EPOLLOUT, 0);
  ASSERT_TRUE(runner_.Run());
  ASSERT_TRUE(recorder.error.ok()) << recorder.error;
  EXPECT_EQ(recorder.status, 200);
  EXPECT_EQ(recorder.body,
            absl::StrCat("POST /big host=localhost:", server.port(), " body=", body));
  EXPECT_EQ(EpollEventsOf(fd) & EPOLLOUT, 0);  // drained: out of epoll's write set again

  // And the next request on the connection goes out the same way.
  absl::StatusOr<FetchResponse> third = Fetch(client, url, Get("/third"));
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_THAT(third->body, HasSubstr("GET /third"));
  EXPECT_EQ(ClientSocketTo(server.port()), fd);
}

// Each request on a connection of its own (none kept idle): the second handshake resumes the
// session the first one left, the third too.
TEST_F(TlsTest, AReconnectionResumesTheServersSession) {
  TestServer server(Echo(), ConnectionLimits{}, server_context_.get());
  ClientOptions options;
  options.ca_file = certificate_.certificate_file;
  options.max_idle_per_origin = 0;
  HttpClient& client = Client(options);
  for (int request = 0; request < 3; ++request) {
    absl::StatusOr<FetchResponse> response =
        Fetch(client, LocalUrl(server.port(), "https", "localhost"), Get("/secure"));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_THAT(response->body, HasSubstr("GET /secure"));
  }
  EXPECT_EQ(SSL_CTX_sess_hits(server_context_.get()), 2);
  // Another server (the same host, another port) is not offered this one's session.
  tls::SslCtxPtr other_context =
      *tls::CreateServerContext(certificate_.certificate_file, certificate_.key_file);
  TestServer other(Echo(), ConnectionLimits{}, other_context.get());
  ASSERT_TRUE(Fetch(client, LocalUrl(other.port(), "https", "localhost"), Get("/")).ok());
  EXPECT_EQ(SSL_CTX_sess_hits(other_context.get()), 0);
}

TEST_F(TlsTest, RefusesAnUntrustedCertificate) {
  TestServer server(Echo(), ConnectionLimits{}, server_context_.get());
  absl::StatusOr<FetchResponse> response =
      Fetch(Client(), LocalUrl(server.port(), "https", "localhost"), Get("/"));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(), HasSubstr("certificate"));
}

TEST_F(TlsTest, RefusesACertificateForAnotherName) {
  absl::StatusOr<testing::TestCertificate> other = testing::MakeTestCertificate("other.example");
  ASSERT_TRUE(other.ok());
  absl::StatusOr<tls::SslCtxPtr> context =
      tls::CreateServerContext(other->certificate_file, other->key_file);
  ASSERT_TRUE(context.ok());
  TestServer server(Echo(), ConnectionLimits{}, context->get());
  ClientOptions options;
  options.ca_file = other->certificate_file;
  absl::StatusOr<FetchResponse> response =
      Fetch(Client(options), LocalUrl(server.port(), "https", "localhost"), Get("/"));
  ASSERT_FALSE(response.ok());
  EXPECT_THAT(response.status().message(), HasSubstr("certificate"));
}

TEST_F(HttpClientTest, ReportsARefusedConnection) {
  const uint16_t port = *ReservePort(*Address::FromIp("127.0.0.1", 0));  // closed again: refused
  absl::StatusOr<FetchResponse> response = Fetch(Client(), LocalUrl(port), Get("/"));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(), HasSubstr("cannot connect to http://127.0.0.1:"));
}

TEST_F(HttpClientTest, ConnectTimeoutCoversTheTlsHandshake) {
  // A socket that accepts TCP (the kernel does, from the backlog) but never speaks TLS.
  int fd = *ListenReusePort(*Address::FromIp("127.0.0.1", 0), 16);
  const Address bound = Address::OfSocket(fd);
  ClientOptions options;
  options.connect_timeout = absl::Milliseconds(200);
  absl::StatusOr<FetchResponse> response =
      Fetch(Client(options), LocalUrl(bound.port(), "https"), Get("/"));
  ::close(fd);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(HttpClientTest, ReportsAnUpstreamThatDiesMidResponse) {
  ResponseEncoder* upstream = nullptr;
  TestServer server(
      [&](ResponseEncoder& encoder) { return std::make_unique<TwoPartStream>(encoder, upstream); });
  Recorder recorder(runner_);
  recorder.on_data = [&](absl::string_view) { runner_.Done(); };
  std::unique_ptr<UpstreamRequest> request =
      Client().Send(LocalUrl(server.port()), Get("/"), true, recorder);
  ASSERT_TRUE(runner_.Run());
  recorder.on_data = nullptr;
  server.RunAndWait([&] { upstream->Reset(); });  // the upstream dies after the first event
  ASSERT_TRUE(runner_.Run());
  EXPECT_EQ(recorder.status, 200);
  EXPECT_EQ(recorder.error.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(recorder.error.message(), HasSubstr("in the middle of a response"));
}

TEST_F(HttpClientTest, AResponseHeadLaterThanTheResponseTimeoutFailsTheExchange) {
  // Answers "/fast" at once and never answers anything else.
  TestServer server(testing::RespondWith(
      [](const RequestHead& head, const std::string&, ResponseEncoder& encoder) {
        if (head.target == "/fast") {
          testing::SendResponse(encoder, 200, "fast");
        }
      }));
  HttpClient& client = Client();
  // Sends `target` with `response_timeout` and waits for the outcome; answers how long it took.
  const auto exchange = [&](const char* target, absl::Duration response_timeout,
                            Recorder& recorder) {
    const absl::Time start = absl::Now();
    std::unique_ptr<UpstreamRequest> request =
        client.Send(LocalUrl(server.port()), Get(target), true, recorder, AddressPolicy::kAny,
                    response_timeout);
    EXPECT_TRUE(runner_.Run());
    return absl::Now() - start;
  };
  const absl::Duration timeout = absl::Milliseconds(200);
  const auto expect_timed_out = [&](const Recorder& recorder, absl::Duration took) {
    EXPECT_EQ(recorder.error.code(), absl::StatusCode::kDeadlineExceeded) << recorder.error;
    EXPECT_THAT(recorder.error.message(), HasSubstr("did not answer within the response timeout"));
    EXPECT_GE(took, timeout - absl::Milliseconds(1));
    EXPECT_LT(took, absl::Seconds(5));
  };
  // On a new connection: the deadline runs from Send(), connecting included.
  Recorder first(runner_);
  expect_timed_out(first, exchange("/slow", timeout, first));
  // On a pooled connection.
  Recorder fast(runner_);
  exchange("/fast", absl::Seconds(30), fast);
  EXPECT_TRUE(fast.error.ok()) << fast.error;
  EXPECT_EQ(fast.body, "fast");
  ASSERT_EQ(client.idle_count(), 1u);
  const int accepted = server.accepted();
  Recorder reused(runner_);
  expect_timed_out(reused, exchange("/slow", timeout, reused));
  EXPECT_EQ(server.accepted(), accepted);  // the silent exchange ran on the pooled connection
}

TEST_F(HttpClientTest, ReportsAnUpstreamThatClosesWithoutAnswering) {
  TestServer server(testing::RespondWith(
      [](const RequestHead&, const std::string&, ResponseEncoder& out) { out.Reset(); }));
  absl::StatusOr<FetchResponse> response = Fetch(Client(), LocalUrl(server.port()), Get("/"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(), HasSubstr("closed the connection before answering"));
}

TEST_F(HttpClientTest, FetchRefusesAnOversizedBody) {
  TestServer server(
      testing::RespondWith([](const RequestHead&, const std::string&, ResponseEncoder& out) {
        testing::SendResponse(out, 200, std::string(5000, 'z'));
      }));
  absl::StatusOr<FetchResponse> response =
      Fetch(Client(), LocalUrl(server.port()), Get("/"), "", /*max_body=*/1000);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kResourceExhausted);
}

// Tells the test when the request reached the upstream and when the upstream saw it go.
class WatchedStream : public ServerStream {
 public:
  WatchedStream(absl::Notification& arrived, absl::Notification& ended)
      : arrived_(arrived), ended_(ended) {}
  void OnHeaders(RequestHead&&, bool) override { arrived_.Notify(); }
  void OnData(absl::string_view, bool) override {}
  void OnWatermark(bool) override {}
  void OnEnd(StreamEnd) override { ended_.Notify(); }

 private:
  absl::Notification& arrived_;
  absl::Notification& ended_;
};

TEST_F(HttpClientTest, CancellingARequestClosesItsConnectionWithoutACallback) {
  absl::Notification arrived;
  absl::Notification upstream_ended;
  TestServer server(
      [&](ResponseEncoder&) { return std::make_unique<WatchedStream>(arrived, upstream_ended); });
  HttpClient& client = Client();
  Recorder recorder(runner_);
  std::unique_ptr<UpstreamRequest> request =
      client.Send(LocalUrl(server.port()), Get("/"), true, recorder);
  std::unique_ptr<Timer> cancel;
  cancel = dispatcher_.CreateTimer([&] {
    if (!arrived.HasBeenNotified()) {
      cancel->Enable(absl::Milliseconds(1));
      return;
    }
    request.reset();
    EXPECT_EQ(client.connection_count(), 0u);
    dispatcher_.Post([&] { runner_.Done(); });  // one more turn: the socket is freed
  });
  cancel->Enable(absl::Milliseconds(1));
  ASSERT_TRUE(runner_.Run());
  // The upstream sees its client go away: in-flight work is cancelled end to end.
  EXPECT_TRUE(upstream_ended.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_FALSE(recorder.complete);
}

TEST_F(HttpClientTest, PausedReadingStopsTheUpstreamInsteadOfBuffering) {
  constexpr size_t kTotal = 32 << 20;
  testing::ProducerStream::Stats upstream;
  TestServer server([&](ResponseEncoder& encoder) {
    return std::make_unique<testing::ProducerStream>(encoder, upstream, kTotal, 16 << 10);
  });
  ClientOptions options;
  options.buffer_bytes = 128 << 10;
  HttpClient& client = Client(options);
  Recorder recorder(runner_);
  std::unique_ptr<UpstreamRequest> request;
  size_t received_when_paused = 0;
  recorder.on_data = [&](absl::string_view) {
    if (received_when_paused == 0) {
      request->ReadDisable(true);
      received_when_paused = recorder.body.size();
      runner_.Done();
    }
  };
  request = client.Send(LocalUrl(server.port()), Get("/big"), true, recorder);
  ASSERT_TRUE(runner_.Run());
  // The client reads no more: the upstream fills the socket buffers and is told to stop.
  std::unique_ptr<Timer> spin;
  spin = dispatcher_.CreateTimer([&] {
    if (upstream.paused.HasBeenNotified()) {
      runner_.Done();
    } else {
      spin->Enable(absl::Milliseconds(5));
    }
  });
  spin->Enable(absl::Milliseconds(5));
  ASSERT_TRUE(runner_.Run(absl::Seconds(20)));
  EXPECT_EQ(recorder.body.size(), received_when_paused);  // nothing delivered while paused
  // Nor does the client's loop spin meanwhile: its input is full, and libevent would run the
  // read callback at every turn while reading is merely suspended (ReadHold). 500 ms of the
  // loop, the upstream idle too: a spinning loop would use most of it.
  const absl::Duration cpu_before = testing::ProcessCpuTime();
  EXPECT_FALSE(runner_.Run(absl::Milliseconds(500)));
  EXPECT_LT(testing::ProcessCpuTime() - cpu_before, absl::Milliseconds(100));
  EXPECT_EQ(recorder.body.size(), received_when_paused);
  recorder.on_data = nullptr;
  request->ReadDisable(false);
  ASSERT_TRUE(runner_.Run(absl::Seconds(60)));
  ASSERT_TRUE(recorder.error.ok()) << recorder.error;
  EXPECT_EQ(recorder.body.size(), kTotal);
}

// The pool is keyed by scheme, host, port and address policy: a request never rides a kept-alive
// connection made for another of them (HttpClient::Send() keeps the last key it built).
TEST_F(HttpClientTest, EachOriginAndAddressPolicyKeepsItsOwnConnections) {
  TestServer a(Echo());
  TestServer b(Echo());
  HttpClient& client = Client();
  for (int round = 0; round < 2; ++round) {
    for (TestServer* server : {&a, &b, &a}) {
      absl::StatusOr<FetchResponse> response = Fetch(client, LocalUrl(server->port()), Get("/"));
      ASSERT_TRUE(response.ok()) << response.status();
      EXPECT_THAT(response->body, HasSubstr(absl::StrCat(":", server->port(), " ")));
    }
  }
  // The same address by another host name is another origin.
  absl::StatusOr<FetchResponse> by_name =
      Fetch(client, LocalUrl(a.port(), "http", "localhost"), Get("/"));
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_THAT(by_name->body, HasSubstr(absl::StrCat("host=localhost:", a.port())));
  EXPECT_EQ(a.accepted(), 2);
  EXPECT_EQ(b.accepted(), 1);
  EXPECT_EQ(client.idle_count(), 3u);
  // A public-only request to an origin with an idle connection does not take it.
  absl::StatusOr<FetchResponse> refused =
      Fetch(client, LocalUrl(a.port()), Get("/"), "", 1 << 20, AddressPolicy::kPublicOnly);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(a.accepted(), 2);
  EXPECT_EQ(client.idle_count(), 3u);
  // And the next request of the first kind still finds its own.
  ASSERT_TRUE(Fetch(client, LocalUrl(a.port()), Get("/")).ok());
  EXPECT_EQ(a.accepted(), 2);
}

TEST_F(HttpClientTest, OpensANewConnectionWhenTheUpstreamClosedTheIdleOne) {
  ConnectionLimits limits;
  limits.idle_timeout = absl::Milliseconds(50);
  TestServer server(Echo(), limits);
  HttpClient& client = Client();
  ASSERT_TRUE(Fetch(client, LocalUrl(server.port()), Get("/1")).ok());
  std::unique_ptr<Timer> wait = dispatcher_.CreateTimer([&] {
    if (client.idle_count() == 0) {
      runner_.Done();  // the client saw the upstream close its pooled connection
    } else {
      wait->Enable(absl::Milliseconds(10));
    }
  });
  wait->Enable(absl::Milliseconds(10));
  ASSERT_TRUE(runner_.Run(absl::Seconds(5)));
  absl::StatusOr<FetchResponse> second = Fetch(client, LocalUrl(server.port()), Get("/2"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(server.accepted(), 2);
}

TEST_F(HttpClientTest, PublicOnlyRequestsNeverReachPrivateAddresses) {
  TestServer server(Echo());
  absl::StatusOr<FetchResponse> refused =
      Fetch(Client(), LocalUrl(server.port(), "http", "localhost"), Get("/"), "", 1 << 20,
            AddressPolicy::kPublicOnly);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("is not a public address"));
  EXPECT_EQ(server.accepted(), 0);
  // The same origin without the guard is reachable, on a connection of its own.
  EXPECT_TRUE(Fetch(*client_, LocalUrl(server.port(), "http", "localhost"), Get("/")).ok());
}

}  // namespace
}  // namespace gateway::http

// The MCP proxy path end to end: the real gateway binary, a client holding a real token pair
// (obtained through the GitHub-like authorization server), and an upstream resource server the
// test controls in process, so that it can stream, stall, reset, or record what it received.

#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "source/common/net.h"
#include "test/e2e/gateway_fixture.h"
#include "test/e2e/upstream_servers.h"
#include "test/support/files.h"
#include "test/support/observability.h"
#include "test/support/producer_stream.h"
#include "test/support/test_server.h"

namespace gateway::e2e {
namespace {

using testing::RawClient;

int64_t OpenFileDescriptors(pid_t pid) {
  int64_t count = 0;
  DIR* directory = opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (directory == nullptr) {
    return -1;
  }
  while (readdir(directory) != nullptr) {
    ++count;
  }
  closedir(directory);
  return count;
}

int64_t ResidentKiB(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "VmRSS:")) {
      int64_t kib = 0;
      absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(6, line.size() - 9)), &kib);
      return kib;
    }
  }
  return -1;
}

class ProxyE2eTest : public GatewayFixture {
 protected:
  // The GitHub-like server authorizes; MCP traffic goes to `resource_port`.
  void Start(uint16_t resource_port, absl::string_view forward_config = "{}") {
    StartGithubLikeUpstream(absl::StrCat("http://127.0.0.1:", resource_port, "/mcp"));
    StartGateway(ChainWith(forward_config));
    tokens_ = Login(&client_);
  }

  std::vector<std::pair<std::string, std::string>> Auth() {
    return {{"Authorization", "Bearer " + tokens_.access}};
  }

  // Connects and asks for a GET event stream through the gateway, and reads the answer's head.
  absl::StatusOr<RawResponse> RequestStream(absl::StatusOr<RawClient>& client) {
    client = RawClient::Connect(port_);
    if (!client.ok()) {
      return client.status();
    }
    EXPECT_TRUE(
        client->Send(absl::StrCat("GET /mcp HTTP/1.1\r\nHost: x\r\nAccept: "
                                  "text/event-stream\r\nAuthorization: Bearer ",
                                  tokens_.access, "\r\n\r\n")));
    return client->ReadHead();
  }

  // Opens a GET event stream through the gateway and reads its head.
  RawClient OpenStream() {
    absl::StatusOr<RawClient> client = absl::UnknownError("not connected");
    absl::StatusOr<RawResponse> head = RequestStream(client);
    EXPECT_TRUE(head.ok()) << head.status();
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->Header("content-type"), "text/event-stream");
    return std::move(*client);
  }

  Client client_;
  Tokens tokens_;
};

TEST_F(ProxyE2eTest, ForwardsWithTheUpstreamTokenAndOnlyTheHeadersThatBelong) {
  Seen seen;
  ResourceServer upstream(Recording(seen));
  Start(upstream.port());
  std::vector<std::pair<std::string, std::string>> headers = Auth();
  headers.insert(headers.end(), {{"Content-Type", "application/json"},
                                 {"Accept", "application/json, text/event-stream"},
                                 {"Mcp-Protocol-Version", "2025-06-18"},
                                 {"X-Forwarded-For", "6.6.6.6"},
                                 {"Cookie", "gateway-session=1"},
                                 {"Proxy-Authorization", "Basic c2VjcmV0"},
                                 {"Connection", "keep-alive, X-Hop"},
                                 {"X-Hop", "hop"},
                                 {"TE", "trailers"}});
  absl::StatusOr<RawResponse> response =
      testing::Send(port_, HttpRequest{"POST", "/mcp?x=1", headers, R"({"jsonrpc":"2.0","id":1})"});
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 200) << response->body;
  EXPECT_EQ(response->body, R"({"jsonrpc":"2.0","id":1,"result":{"ok":true}})");
  EXPECT_EQ(response->Header("mcp-session-id"), "session-1");
  EXPECT_FALSE(response->HasHeader("set-cookie"));
  EXPECT_FALSE(response->HasHeader("x-upstream-internal"));

  absl::MutexLock lock(&seen.mutex);
  const http::HeaderMap& sent = seen.head.headers;
  EXPECT_EQ(seen.head.target, "/mcp?x=1");
  EXPECT_THAT(*sent.Get("authorization"), ::testing::StartsWith("Bearer gho_"));
  EXPECT_EQ(*sent.Get("host"), absl::StrCat("127.0.0.1:", upstream.port()));
  EXPECT_EQ(*sent.Get("x-forwarded-for"), "127.0.0.1");
  EXPECT_EQ(*sent.Get("x-forwarded-proto"), "http");
  EXPECT_EQ(*sent.Get("mcp-protocol-version"), "2025-06-18");
  for (const char* dropped : {"cookie", "proxy-authorization", "x-hop", "te", "connection"}) {
    EXPECT_EQ(sent.Get(dropped), nullptr) << dropped;
  }
  EXPECT_EQ(seen.body, R"({"jsonrpc":"2.0","id":1})");
}

TEST_F(ProxyE2eTest, PassHeadersNamesMoreFieldsThatPassBothWays) {
  Seen seen;
  ResourceServer upstream(Recording(seen));
  Start(upstream.port(), "{pass_headers: [x-upstream-internal, X-Trace]}");
  std::vector<std::pair<std::string, std::string>> headers = Auth();
  headers.insert(
      headers.end(),
      {{"X-TRACE", "trace-1"}, {"X-Other", "stays"}, {"Mcp-Protocol-Version", "2025-06-18"}});
  absl::StatusOr<RawResponse> response =
      testing::Send(port_, HttpRequest{"POST", "/mcp", headers, R"({"jsonrpc":"2.0","id":1})"});
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 200) << response->body;
  EXPECT_EQ(response->Header("x-upstream-internal"), "not for clients");  // named: passes back
  EXPECT_FALSE(response->HasHeader("set-cookie"));                        // not named
  absl::MutexLock lock(&seen.mutex);
  ASSERT_NE(seen.head.headers.Get("x-trace"), nullptr);
  EXPECT_EQ(*seen.head.headers.Get("x-trace"), "trace-1");
  EXPECT_EQ(seen.head.headers.Get("x-other"), nullptr);
  EXPECT_EQ(*seen.head.headers.Get("mcp-protocol-version"), "2025-06-18");  // the usual still pass
}

// The build links jemalloc into the gateway unless a sanitizer brings its own allocator
// (CMakeLists.txt, GATEWAY_ALLOCATOR), statically: no library of its name is mapped, so the test
// asks the allocator itself. jemalloc reads MALLOC_CONF and, with stats_print, prints its
// statistics when the process exits; glibc's malloc ignores the variable.
TEST_F(ProxyE2eTest, TheGatewayRunsOnTheAllocatorItWasBuiltWith) {
  testing::ChildProcess gateway(GATEWAY_BINARY, {"--version"}, dir_.path(),
                                {"MALLOC_CONF=stats_print:true"});
  ASSERT_EQ(gateway.Wait(absl::Seconds(10)), 0) << gateway.Output();
  const std::string output = gateway.Output();
  ASSERT_THAT(output, HasSubstr("mcp-oauth-gateway"));
  EXPECT_EQ(absl::StrContains(output, "Begin jemalloc statistics"),
            absl::string_view(GATEWAY_ALLOCATOR) == "jemalloc")
      << "built for " << GATEWAY_ALLOCATOR << "\n"
      << output.substr(0, 400);
}

TEST_F(ProxyE2eTest, EventsReachTheClientOneByOneAsTheUpstreamSendsThem) {
  Seen seen;
  http::ResponseEncoder* stream = nullptr;
  ResourceServer upstream([&](http::ResponseEncoder& encoder) {
    return std::make_unique<EventStream>(encoder, seen, stream);
  });
  Start(upstream.port());
  RawClient client = OpenStream();
  // Event 1 arrives while event 2 does not exist yet: nothing is held back.
  EXPECT_THAT(client.ReadSome(absl::Seconds(5)), HasSubstr("data: event 1"));
  upstream.RunAndWait([&] { stream->EncodeData("data: event 2\n\n", false); });
  EXPECT_THAT(client.ReadSome(absl::Seconds(5)), HasSubstr("data: event 2"));
  upstream.RunAndWait([&] { stream->EncodeData("data: event 3\n\n", true); });
  EXPECT_THAT(client.ReadSome(absl::Seconds(5)), HasSubstr("data: event 3"));
}

TEST_F(ProxyE2eTest, AClientThatLeavesMidStreamCancelsTheUpstreamRequest) {
  Seen seen;
  http::ResponseEncoder* stream = nullptr;
  ResourceServer upstream([&](http::ResponseEncoder& encoder) {
    return std::make_unique<EventStream>(encoder, seen, stream);
  });
  Start(upstream.port());
  const int64_t baseline = OpenFileDescriptors(gateway_->pid());
  {
    RawClient client = OpenStream();
    EXPECT_THAT(client.ReadSome(absl::Seconds(5)), HasSubstr("event 1"));
  }  // the client hangs up
  ASSERT_TRUE(seen.ended.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(seen.end_reason.load(), http::StreamEnd::kClientGone);
  // The gateway let go of both sockets.
  for (int i = 0; i < 100 && OpenFileDescriptors(gateway_->pid()) > baseline; ++i) {
    absl::SleepFor(absl::Milliseconds(10));  // the gateway frees sockets after the event loop turn
  }
  EXPECT_LE(OpenFileDescriptors(gateway_->pid()), baseline);
}

TEST_F(ProxyE2eTest, AnUpstreamResetMidStreamEndsTheClientsStream) {
  Seen seen;
  http::ResponseEncoder* stream = nullptr;
  ResourceServer upstream([&](http::ResponseEncoder& encoder) {
    return std::make_unique<EventStream>(encoder, seen, stream);
  });
  Start(upstream.port());
  RawClient client = OpenStream();
  EXPECT_THAT(client.ReadSome(absl::Seconds(5)), HasSubstr("event 1"));
  upstream.RunAndWait([&] { stream->Reset(); });
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(5)));
  // And the gateway serves the next request.
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(ProxyE2eTest, UnreachableUpstreamIs502) {
  const uint16_t closed = *ReservePort(*Address::FromIp("127.0.0.1", 0));
  Start(closed);
  absl::StatusOr<RawResponse> response =
      testing::Send(port_, HttpRequest{"POST", "/mcp", Auth(), "{}"});
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 502);
  EXPECT_THAT(response->body, HasSubstr("bad_gateway"));
}

TEST_F(ProxyE2eTest, SlowUpstreamIs504) {
  Seen seen;
  ResourceServer upstream(
      [&](http::ResponseEncoder&) { return std::make_unique<SilentStream>(seen); });
  Start(upstream.port(), "{response_timeout: 300ms}");
  absl::StatusOr<RawResponse> response =
      testing::Send(port_, HttpRequest{"POST", "/mcp", Auth(), "{}"});
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 504);
  EXPECT_THAT(response->body, HasSubstr("upstream_timeout"));
  // The upstream request was given up, not left hanging.
  EXPECT_TRUE(seen.ended.WaitForNotificationWithTimeout(absl::Seconds(5)));
}

TEST_F(ProxyE2eTest, GarbageFromTheUpstreamIs502) {
  RawServer upstream("SMTP READY\r\n\r\n\x01\x02\x03");
  Start(upstream.port());
  absl::StatusOr<RawResponse> response =
      testing::Send(port_, HttpRequest{"POST", "/mcp", Auth(), "{}"});
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 502);
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(ProxyE2eTest, Upstream401BecomesTheGatewaysOwnChallenge) {
  ResourceServer upstream(testing::RespondWith(
      [](const http::RequestHead&, const std::string&, http::ResponseEncoder& encoder) {
        http::ResponseHead head;
        head.status = 401;
        head.headers.Add("WWW-Authenticate", "Bearer realm=\"GitHub\"");
        head.headers.Add("Content-Length", "0");
        encoder.EncodeHeaders(std::move(head), true);
      }));
  Start(upstream.port());
  absl::StatusOr<RawResponse> response =
      testing::Send(port_, HttpRequest{"POST", "/mcp", Auth(), "{}"});
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 401);
  EXPECT_THAT(response->Header("www-authenticate"), HasSubstr("error=\"invalid_token\""));
  EXPECT_THAT(response->Header("www-authenticate"),
              HasSubstr("/.well-known/oauth-protected-resource/mcp\""));
  EXPECT_THAT(response->Header("www-authenticate"), Not(HasSubstr("GitHub")));
}

TEST_F(ProxyE2eTest, InsufficientScopeIsPassedOnAndRefreshThenRequiresReauthorization) {
  ResourceServer upstream(testing::RespondWith(
      [](const http::RequestHead&, const std::string&, http::ResponseEncoder& encoder) {
        http::ResponseHead head;
        head.status = 403;
        head.headers.Add("WWW-Authenticate",
                         "Bearer error=\"insufficient_scope\", scope=\"repo admin:org\"");
        head.headers.Add("Content-Length", "0");
        encoder.EncodeHeaders(std::move(head), true);
      }));
  Start(upstream.port());
  absl::StatusOr<RawResponse> response =
      testing::Send(port_, HttpRequest{"POST", "/mcp", Auth(), "{}"});
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 403);
  EXPECT_THAT(response->Header("www-authenticate"),
              HasSubstr("error=\"insufficient_scope\", scope=\"repo admin:org\""));
  EXPECT_THAT(response->Header("www-authenticate"), HasSubstr("resource_metadata="));
  // A refresh cannot add scope: the client is sent to authorize again.
  RawResponse refresh = TokenRequest({{"grant_type", "refresh_token"},
                                      {"refresh_token", tokens_.refresh},
                                      {"client_id", client_.id}});
  EXPECT_EQ(refresh.status, 400);
  EXPECT_THAT(refresh.body, HasSubstr("invalid_grant"));
}

TEST_F(ProxyE2eTest, ASlowReaderPausesTheUpstreamInsteadOfGrowingTheGateway) {
  constexpr size_t kTotal = 64 << 20;
  testing::ProducerStream::Stats stats;
  ResourceServer upstream([&](http::ResponseEncoder& encoder) {
    return std::make_unique<testing::ProducerStream>(encoder, stats, kTotal, 64 << 10);
  });
  Start(upstream.port());
  const int64_t rss_before = ResidentKiB(gateway_->pid());
  absl::StatusOr<RawClient> client = RawClient::Connect(port_);
  ASSERT_TRUE(client.ok());
  client->SetReceiveBuffer(64 << 10);
  ASSERT_TRUE(client->Send(absl::StrCat("GET /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ",
                                        tokens_.access, "\r\n\r\n")));
  // The client reads nothing: the gateway stops reading the upstream, which is told to stop.
  ASSERT_TRUE(stats.paused.WaitForNotificationWithTimeout(absl::Seconds(20)));
  const int64_t rss_stalled = ResidentKiB(gateway_->pid());
  absl::StatusOr<RawResponse> response = client->ReadResponse(absl::Seconds(60));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body.size(), kTotal);
  // 64 MiB went through; the gateway held a few buffers' worth at most.
  EXPECT_LT(rss_stalled - rss_before, 16 * 1024) << rss_before << " KiB → " << rss_stalled;
}

TEST_F(ProxyE2eTest, AnotherUsersTokenCannotJoinASession) {
  Seen seen;
  ResourceServer upstream(Recording(seen));
  Start(upstream.port());  // alice
  absl::StatusOr<RawResponse> created =
      testing::Send(port_, HttpRequest{"POST", "/mcp", Auth(), "{}"});
  ASSERT_TRUE(created.ok());
  ASSERT_EQ(created->Header("mcp-session-id"), "session-1");
  username_ = "bob";
  password_ = "builder";
  Tokens bob = Login();
  {
    absl::MutexLock lock(&seen.mutex);
    seen.body = "untouched";
  }
  RawResponse stolen = Mcp(bob.access, "{}", "session-1");
  EXPECT_EQ(stolen.status, 404);
  {
    absl::MutexLock lock(&seen.mutex);
    EXPECT_EQ(seen.body, "untouched");  // the upstream never saw bob's request
  }
  EXPECT_EQ(Mcp(tokens_.access, "{}", "session-1").status, 200);  // alice's own session
}

TEST_F(ProxyE2eTest, MethodsOriginsAndPreflights) {
  Seen seen;
  ResourceServer upstream(Recording(seen));
  Start(upstream.port(), "{allowed_origins: [\"https://inspector.example\"]}");
  std::vector<std::pair<std::string, std::string>> headers = Auth();
  absl::StatusOr<RawResponse> put = testing::Send(port_, HttpRequest{"PUT", "/mcp", headers, "{}"});
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(put->status, 405);
  EXPECT_EQ(put->Header("allow"), "GET, POST, DELETE");
  headers.emplace_back("Origin", "https://evil.example");
  absl::StatusOr<RawResponse> foreign =
      testing::Send(port_, HttpRequest{"POST", "/mcp", headers, "{}"});
  ASSERT_TRUE(foreign.ok());
  EXPECT_EQ(foreign->status, 403);
  absl::StatusOr<RawResponse> preflight = testing::Send(
      port_, HttpRequest{"OPTIONS", "/mcp", {{"Origin", "https://inspector.example"}}, ""});
  ASSERT_TRUE(preflight.ok());
  EXPECT_EQ(preflight->status, 204);
  EXPECT_EQ(preflight->Header("access-control-allow-origin"), "https://inspector.example");
  absl::StatusOr<RawResponse> allowed =
      testing::Send(port_, HttpRequest{"POST",
                                       "/mcp",
                                       {{"Authorization", "Bearer " + tokens_.access},
                                        {"Origin", "https://inspector.example"}},
                                       "{}"});
  ASSERT_TRUE(allowed.ok());
  EXPECT_EQ(allowed->status, 200);
  EXPECT_EQ(allowed->Header("access-control-allow-origin"), "https://inspector.example");
}

TEST_F(ProxyE2eTest, RevokingAGrantClosesItsOpenStreams) {
  Seen seen;
  http::ResponseEncoder* stream = nullptr;
  ResourceServer upstream([&](http::ResponseEncoder& encoder) {
    return std::make_unique<EventStream>(encoder, seen, stream);
  });
  Start(upstream.port(), "{revocation_check: 200ms}");
  RawClient client = OpenStream();
  EXPECT_THAT(client.ReadSome(absl::Seconds(5)), HasSubstr("event 1"));
  EXPECT_EQ(PostForm("/revoke", {{"token", tokens_.refresh}, {"client_id", client_.id}}).status,
            200);
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(5)));
  ASSERT_TRUE(seen.ended.WaitForNotificationWithTimeout(absl::Seconds(5)));
}

// Counts the streams that reached the upstream and tells the test when all of them have.
class CountingEventStream : public http::ServerStream {
 public:
  CountingEventStream(http::ResponseEncoder& encoder, std::atomic<int>& open)
      : encoder_(encoder), open_(open) {}
  void OnHeaders(http::RequestHead&&, bool) override {
    http::ResponseHead response;
    response.headers.Add("Content-Type", "text/event-stream");
    encoder_.EncodeHeaders(std::move(response), false);
    encoder_.EncodeData(": open\n\n", false);
    ++open_;
  }
  void OnData(absl::string_view, bool) override {}
  void OnWatermark(bool) override {}
  void OnEnd(http::StreamEnd) override { --open_; }

 private:
  http::ResponseEncoder& encoder_;
  std::atomic<int>& open_;
};

// Issue 7's bar is 10,000 idle streams. Each holds two descriptors in the gateway (client and
// upstream) and two in this test (client and in-process upstream), so a process's hard limit
// bounds the count: 20,000 on the machine this was written on, without CAP_SYS_RESOURCE to
// raise it, which allows (20,000 - 400) / 2 = 9,800. The count run is printed.
TEST_F(ProxyE2eTest, HoldsTenThousandIdleEventStreamsAndKeepsServing) {
  constexpr int kWanted = 10000;
  rlimit limit;
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;  // the gateway, a child, inherits this too
  setrlimit(RLIMIT_NOFILE, &limit);
  const int streams = static_cast<int>(std::min<rlim_t>(
      kWanted, limit.rlim_cur == RLIM_INFINITY ? kWanted : (limit.rlim_cur - 400) / 2));
  if (streams < 1000) {
    GTEST_SKIP() << "needs at least 2,400 file descriptors, the limit is " << limit.rlim_cur;
  }
  std::atomic<int> open{0};
  ResourceServer upstream([&](http::ResponseEncoder& encoder) {
    return std::make_unique<CountingEventStream>(encoder, open);
  });
  StartGithubLikeUpstream(absl::StrCat("http://127.0.0.1:", upstream.port(), "/mcp"));
  StartGateway(ChainWith("{}") + "limits: {max_connections: 20000}\n");
  tokens_ = Login(&client_);
  const int64_t rss_before = ResidentKiB(gateway_->pid());
  std::vector<RawClient> clients;
  clients.reserve(streams);
  const absl::Time start = absl::Now();
  for (int i = 0; i < streams; ++i) {
    clients.push_back(OpenStream());
    ASSERT_THAT(clients.back().ReadSome(absl::Seconds(10)), HasSubstr(": open")) << i;
  }
  const absl::Duration opening = absl::Now() - start;
  EXPECT_EQ(open.load(), streams);
  const int64_t rss_open = ResidentKiB(gateway_->pid());
  const double per_stream_kib = static_cast<double>(rss_open - rss_before) / streams;
  RecordProperty("streams", streams);
  RecordProperty("gateway_rss_kib_per_open_stream", absl::StrCat(per_stream_kib));
  std::cout << "gateway RSS: " << rss_before << " KiB before, " << rss_open << " KiB with "
            << streams << " streams open: " << per_stream_kib << " KiB per stream; opened in "
            << absl::FormatDuration(opening) << " (fd limit " << limit.rlim_cur << ")\n";
  EXPECT_LT(per_stream_kib, 64.0);
  // Meanwhile, everyone else is served: health, a refresh through the whole OAuth path, and
  // one stream more.
  EXPECT_EQ(Get("/healthz").status, 200);
  tokens_ = ParseTokens(TokenRequest({{"grant_type", "refresh_token"},
                                      {"refresh_token", tokens_.refresh},
                                      {"client_id", client_.id}}));
  clients.push_back(OpenStream());
  EXPECT_THAT(clients.back().ReadSome(absl::Seconds(10)), HasSubstr(": open"));
  clients.clear();  // every client leaves; every upstream stream must follow
  for (int i = 0; i < 1000 && open.load() > 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));  // the upstream counts on its own thread
  }
  EXPECT_EQ(open.load(), 0);
}

// limits.max_connections: past it, a new connection gets a 503 at once and is closed; the
// connections already open keep working, and once they close new ones are taken again.
TEST_F(ProxyE2eTest, PastMaxConnectionsANewConnectionGets503AndTheOthersAreUnaffected) {
  std::atomic<int> open{0};
  ResourceServer upstream([&](http::ResponseEncoder& encoder) {
    return std::make_unique<CountingEventStream>(encoder, open);
  });
  StartGithubLikeUpstream(absl::StrCat("http://127.0.0.1:", upstream.port(), "/mcp"));
  // per worker; 2 workers
  StartGateway(ChainWith("{}") + "limits: {max_connections: 3}\nadmin: {port: 0}\n");
  tokens_ = Login(&client_);
  // The login's connections are closed and gone (a fixed wait was a guess on a slow machine):
  // the only connection left open is the scrape's own.
  auto open_connections = [this] {
    absl::StatusOr<testing::PrometheusSamples> samples = testing::ParsePrometheusText(ScrapeText());
    return samples.ok() ? (*samples)["gateway_active_connections"] : -1.0;
  };
  for (int i = 0; i < 500 && open_connections() != 1; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(open_connections(), 1);
  // 20 at once: the kernel spreads them over both workers (fewer than 3 on one: p < 0.1%).
  std::vector<RawClient> held;
  int refused = 0;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<RawClient> client = absl::UnknownError("not connected");
    absl::StatusOr<RawResponse> head = RequestStream(client);
    ASSERT_TRUE(head.ok()) << i << ": " << head.status();
    if (head->status == 200) {
      EXPECT_THAT(client->ReadSome(absl::Seconds(5)), HasSubstr(": open"));
      held.push_back(std::move(*client));
      continue;
    }
    EXPECT_EQ(head->status, 503);
    EXPECT_EQ(head->Header("retry-after"), "1");
    EXPECT_THAT(client->ReadSome(absl::Seconds(5)),
                HasSubstr(R"("error":"temporarily_unavailable")"));
    EXPECT_TRUE(client->WaitForClose(absl::Seconds(5)));
    ++refused;
  }
  EXPECT_EQ(held.size(), 6u);
  EXPECT_EQ(refused, 14);
  EXPECT_EQ(open.load(), 6);
  EXPECT_TRUE(gateway_->WaitForOutput("at limits.max_connections (3)"));
  held.clear();
  for (int i = 0; i < 200 && open.load() > 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(open.load(), 0);
  EXPECT_EQ(Get("/healthz").status, 200);
}

// gateway_active_streams counts an open event stream, and goes back when it ends; an upstream
// that cuts it is counted as a reset.
TEST_F(ProxyE2eTest, MetricsCountAnOpenStreamUntilItEnds) {
  Seen seen;
  http::ResponseEncoder* stream = nullptr;
  ResourceServer upstream([&](http::ResponseEncoder& encoder) {
    return std::make_unique<EventStream>(encoder, seen, stream);
  });
  StartGithubLikeUpstream(absl::StrCat("http://127.0.0.1:", upstream.port(), "/mcp"));
  StartGateway(ChainWith("{}") + "admin: {port: 0}\n");
  tokens_ = Login(&client_);
  auto scrape = [this] {
    absl::StatusOr<testing::PrometheusSamples> samples = testing::ParsePrometheusText(ScrapeText());
    EXPECT_TRUE(samples.ok()) << samples.status();
    return samples.ok() ? *samples : testing::PrometheusSamples();
  };
  EXPECT_EQ(scrape()["gateway_active_streams"], 0);
  RawClient client = OpenStream();
  EXPECT_THAT(client.ReadSome(absl::Seconds(5)), HasSubstr("event 1"));
  EXPECT_EQ(scrape()["gateway_active_streams"], 1);
  upstream.RunAndWait([&] { stream->Reset(); });
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(5)));
  testing::PrometheusSamples after = scrape();
  for (int i = 0; i < 100 && after["gateway_active_streams"] != 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));  // the request ends after the close is seen
    after = scrape();
  }
  EXPECT_EQ(after["gateway_active_streams"], 0);
  EXPECT_EQ(after[R"(gateway_upstream_errors_total{kind="reset"})"], 1);
}

}  // namespace
}  // namespace gateway::e2e

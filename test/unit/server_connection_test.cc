// The listener side of the codec over real loopback sockets: a TestServer running the gateway's
// ServerConnection, driven by a raw client that sends exactly the bytes each case needs.

#include "source/common/http/server_connection.h"

#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/support/producer_stream.h"
#include "test/support/raw_http.h"
#include "test/support/test_server.h"

namespace gateway::http {
namespace {

using ::testing::HasSubstr;
using testing::RawClient;
using testing::RawResponse;
using testing::TestServer;

// Answers with "<method> <target> <body>".
StreamFactory Echo() {
  return testing::RespondWith(
      [](const RequestHead& head, const std::string& body, ResponseEncoder& encoder) {
        testing::SendResponse(encoder, 200, absl::StrCat(head.method, " ", head.target, " ", body));
      });
}

RawClient Connect(const TestServer& server) {
  absl::StatusOr<RawClient> client = RawClient::Connect(server.port());
  EXPECT_TRUE(client.ok()) << client.status();
  return std::move(*client);
}

// What a stream that never answers saw, for the test thread to read after `ended`.
struct Observed {
  absl::Notification headers;
  absl::Notification ended;
  std::atomic<StreamEnd> reason{StreamEnd::kComplete};
};

class SilentStream : public ServerStream {
 public:
  explicit SilentStream(Observed& observed) : observed_(observed) {}
  void OnHeaders(RequestHead&&, bool) override { observed_.headers.Notify(); }
  void OnData(absl::string_view, bool) override {}
  void OnWatermark(bool) override {}
  void OnEnd(StreamEnd reason) override {
    observed_.reason = reason;
    observed_.ended.Notify();
  }

 private:
  Observed& observed_;
};

StreamFactory Silent(Observed& observed) {
  return [&observed](ResponseEncoder&) { return std::make_unique<SilentStream>(observed); };
}

TEST(ServerConnectionTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  TestServer server(Echo());
  RawClient client = Connect(server);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.Send(absl::StrCat("GET /r", i, " HTTP/1.1\r\nHost: x\r\n\r\n")));
    absl::StatusOr<RawResponse> response = client.ReadResponse();
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->body, absl::StrCat("GET /r", i, " "));
    EXPECT_FALSE(response->HasHeader("connection"));
  }
  EXPECT_EQ(server.accepted(), 1);
}

TEST(ServerConnectionTest, PipelinedRequestsAreAnsweredInOrder) {
  TestServer server(Echo());
  RawClient client = Connect(server);
  ASSERT_TRUE(
      client.Send("GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyzGET /c "
                  "HTTP/1.1\r\n\r\n"));
  for (const char* expected : {"GET /a ", "POST /b xyz", "GET /c "}) {
    absl::StatusOr<RawResponse> response = client.ReadResponse();
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->body, expected);
  }
}

TEST(ServerConnectionTest, ChunkedBodyArrivingOneByteAtATime) {
  TestServer server(Echo());
  RawClient client = Connect(server);
  const std::string request =
      "POST /mcp HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n";
  for (char c : request) {
    ASSERT_TRUE(client.Send(std::string(1, c)));
  }
  absl::StatusOr<RawResponse> response = client.ReadResponse();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body, "POST /mcp abcdefg");
}

TEST(ServerConnectionTest, StreamedResponseIsChunked) {
  TestServer server(
      testing::RespondWith([](const RequestHead&, const std::string&, ResponseEncoder& out) {
        ResponseHead head;
        head.headers.Add("Content-Type", "text/event-stream");
        out.EncodeHeaders(std::move(head), false);
        out.EncodeData("data: one\n\n", false);
        out.EncodeData("data: two\n\n", true);
      }));
  RawClient client = Connect(server);
  ASSERT_TRUE(client.Send("GET /mcp HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n"));
  absl::StatusOr<RawResponse> response = client.ReadResponse();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_TRUE(response->chunked);
  EXPECT_EQ(response->body, "data: one\n\ndata: two\n\n");
  // The connection stays usable after a chunked response.
  ASSERT_TRUE(client.Send("GET /mcp HTTP/1.1\r\n\r\n"));
  EXPECT_TRUE(client.ReadResponse().ok());
}

TEST(ServerConnectionTest, Http10StreamedResponseEndsWithTheConnection) {
  TestServer server(
      testing::RespondWith([](const RequestHead&, const std::string&, ResponseEncoder& out) {
        out.EncodeHeaders(ResponseHead(), false);
        out.EncodeData("old client", true);
      }));
  RawClient client = Connect(server);
  ASSERT_TRUE(client.Send("GET / HTTP/1.0\r\n\r\n"));
  absl::StatusOr<RawResponse> response = client.ReadResponse();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_FALSE(response->chunked);
  EXPECT_EQ(response->Header("connection"), "close");
  EXPECT_EQ(response->body, "old client");
}

TEST(ServerConnectionTest, HeadResponseCarriesLengthButNoBody) {
  TestServer server(Echo());
  RawClient client = Connect(server);
  ASSERT_TRUE(client.Send("HEAD /x HTTP/1.1\r\n\r\nGET /y HTTP/1.1\r\n\r\n"));
  absl::StatusOr<RawResponse> head = client.ReadResponse(absl::Seconds(5), /*head_request=*/true);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->Header("content-length"), "8");
  absl::StatusOr<RawResponse> next = client.ReadResponse();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->body, "GET /y ");  // proves no body bytes followed the HEAD response
}

TEST(ServerConnectionTest, AnswersExpectContinue) {
  TestServer server(Echo());
  RawClient client = Connect(server);
  ASSERT_TRUE(
      client.Send("POST /big HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
  EXPECT_EQ(client.ReadSome(absl::Seconds(5)), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(client.Send("data"));
  absl::StatusOr<RawResponse> response = client.ReadResponse();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body, "POST /big data");
}

// Answers 401 as soon as the head is in, without waiting for the body.
class EarlyAnswer : public ServerStream {
 public:
  explicit EarlyAnswer(ResponseEncoder& encoder) : encoder_(encoder) {}
  void OnHeaders(RequestHead&&, bool) override {
    testing::SendResponse(encoder_, 401, R"({"error":"invalid_token"})", "application/json");
  }
  void OnData(absl::string_view, bool) override {}
  void OnWatermark(bool) override {}
  void OnEnd(StreamEnd) override {}

 private:
  ResponseEncoder& encoder_;
};

TEST(ServerConnectionTest, AnswerBeforeTheBodyEndsKeepsTheConnectionUsable) {
  TestServer server(
      [](ResponseEncoder& encoder) { return std::make_unique<EarlyAnswer>(encoder); });
  RawClient client = Connect(server);
  ASSERT_TRUE(client.Send("POST /mcp HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234"));
  absl::StatusOr<RawResponse> early = client.ReadResponse();
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_EQ(early->status, 401);
  EXPECT_FALSE(early->HasHeader("connection"));
  // The rest of the body is read and dropped; the next request is parsed where it starts.
  ASSERT_TRUE(client.Send("56789GET /next HTTP/1.1\r\n\r\n"));
  absl::StatusOr<RawResponse> next = client.ReadResponse();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->status, 401);
  EXPECT_EQ(server.accepted(), 1);
}

void ExpectErrorAndClose(RawClient& client, int status) {
  absl::StatusOr<RawResponse> response = client.ReadResponse();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, status);
  EXPECT_EQ(response->Header("connection"), "close");
  EXPECT_EQ(response->Header("content-type"), "application/json");
  EXPECT_THAT(response->body, HasSubstr("\"error\":"));
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(5)));
}

TEST(ServerConnectionTest, OversizedHeaderGets431) {
  ConnectionLimits limits;
  limits.parser.max_header_bytes = 1024;
  TestServer server(Echo(), limits);
  RawClient client = Connect(server);
  ASSERT_TRUE(
      client.Send(absl::StrCat("GET / HTTP/1.1\r\nX-Big: ", std::string(4096, 'a'), "\r\n\r\n")));
  ExpectErrorAndClose(client, 431);
}

TEST(ServerConnectionTest, LongRequestTargetGets414) {
  ConnectionLimits limits;
  limits.parser.max_uri_bytes = 256;
  TestServer server(Echo(), limits);
  RawClient client = Connect(server);
  ASSERT_TRUE(client.Send(absl::StrCat("GET /", std::string(1000, 'a'), " HTTP/1.1\r\n\r\n")));
  ExpectErrorAndClose(client, 414);
}

TEST(ServerConnectionTest, DeclaredBodyOverLimitGets413BeforeItIsSent) {
  ConnectionLimits limits;
  limits.max_request_body_bytes = 1000;
  Observed observed;
  TestServer server(Silent(observed), limits);
  RawClient client = Connect(server);
  ASSERT_TRUE(client.Send("POST /register HTTP/1.1\r\nContent-Length: 1001\r\n\r\n"));
  ExpectErrorAndClose(client, 413);
  EXPECT_FALSE(observed.headers.HasBeenNotified());  // no stream saw the request
}

TEST(ServerConnectionTest, ChunkedBodyOverLimitGets413) {
  ConnectionLimits limits;
  limits.max_request_body_bytes = 10;
  TestServer server(Echo(), limits);
  RawClient client = Connect(server);
  ASSERT_TRUE(
      client.Send("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "8\r\n01234567\r\n8\r\n89abcdef\r\n0\r\n\r\n"));
  ExpectErrorAndClose(client, 413);
}

TEST(ServerConnectionTest, ContentLengthWithTransferEncodingGets400AndClose) {
  TestServer server(Echo());
  RawClient client = Connect(server);
  ASSERT_TRUE(
      client.Send("POST / HTTP/1.1\r\nContent-Length: 5\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n"));
  ExpectErrorAndClose(client, 400);
}

TEST(ServerConnectionTest, AmbiguousFramingAfterAKeptAliveRequestGets400AndClose) {
  TestServer server(Echo());
  RawClient client = Connect(server);
  ASSERT_TRUE(client.Send("GET /first HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(client.ReadResponse().ok());
  ASSERT_TRUE(
      client.Send("POST / HTTP/1.1\r\nContent-Length: 4\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
  ExpectErrorAndClose(client, 400);
}

TEST(ServerConnectionTest, DuplicateContentLengthGets400AndClose) {
  TestServer server(Echo());
  RawClient client = Connect(server);
  ASSERT_TRUE(client.Send("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"));
  ExpectErrorAndClose(client, 400);
}

TEST(ServerConnectionTest, NoticesAClientThatLeavesBeforeTheReplyStarts) {
  Observed observed;
  TestServer server(Silent(observed));
  {
    RawClient client = Connect(server);
    ASSERT_TRUE(client.Send("GET /mcp HTTP/1.1\r\n\r\n"));
    ASSERT_TRUE(observed.headers.WaitForNotificationWithTimeout(absl::Seconds(5)));
  }  // the client closes its socket here
  ASSERT_TRUE(observed.ended.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(observed.reason.load(), StreamEnd::kClientGone);
}

// Starts an event stream and then stays silent.
class EventStream : public SilentStream {
 public:
  EventStream(ResponseEncoder& encoder, Observed& observed)
      : SilentStream(observed), encoder_(encoder) {}
  void OnHeaders(RequestHead&& head, bool end_stream) override {
    ResponseHead response;
    response.headers.Add("Content-Type", "text/event-stream");
    encoder_.EncodeHeaders(std::move(response), false);
    encoder_.EncodeData("data: first\n\n", false);
    SilentStream::OnHeaders(std::move(head), end_stream);
  }

 private:
  ResponseEncoder& encoder_;
};

TEST(ServerConnectionTest, NoticesAClientThatLeavesDuringAStreamedReply) {
  Observed observed;
  TestServer server(
      [&](ResponseEncoder& out) { return std::make_unique<EventStream>(out, observed); });
  {
    RawClient client = Connect(server);
    ASSERT_TRUE(client.Send("GET /mcp HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n"));
    absl::StatusOr<RawResponse> head = client.ReadHead();
    ASSERT_TRUE(head.ok()) << head.status();
    EXPECT_EQ(head->Header("content-type"), "text/event-stream");
  }
  ASSERT_TRUE(observed.ended.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(observed.reason.load(), StreamEnd::kClientGone);
}

TEST(ServerConnectionTest, RequestsPipelinedBehindAnOpenStreamLeaveTheLoopAsleep) {
  Observed observed;
  ConnectionLimits limits;
  limits.buffer_bytes = 16 << 10;
  TestServer server(
      [&](ResponseEncoder& out) { return std::make_unique<EventStream>(out, observed); }, limits);
  RawClient client = Connect(server);
  ASSERT_TRUE(client.Send("GET /mcp HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n"));
  ASSERT_TRUE(client.ReadHead().ok());
  // Requests pipelined behind the stream wait unparsed until it ends: more than the input holds.
  std::string pipelined;
  while (pipelined.size() < (64 << 10)) {
    pipelined += "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
  }
  ASSERT_TRUE(client.Send(pipelined));
  // The server's loop sleeps meanwhile. (libevent runs the read callback at every turn while
  // the input stays at its watermark: reading is turned off instead, see ReadHold.) Over 500 ms,
  // a spinning loop would use most of the time; a sleeping one, next to none.
  const absl::Duration cpu_before = testing::ProcessCpuTime();
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_LT(testing::ProcessCpuTime() - cpu_before, absl::Milliseconds(100));
  EXPECT_FALSE(observed.ended.HasBeenNotified());
}

TEST(ServerConnectionTest, SlowReaderKeepsTheWritersMemoryBounded) {
  constexpr size_t kTotal = 64 << 20;
  constexpr size_t kChunk = 16 << 10;
  ConnectionLimits limits;
  limits.buffer_bytes = 256 << 10;
  testing::ProducerStream::Stats stats;
  TestServer server(
      [&](ResponseEncoder& encoder) {
        return std::make_unique<testing::ProducerStream>(encoder, stats, kTotal, kChunk);
      },
      limits);
  RawClient client = Connect(server);
  client.SetReceiveBuffer(64 << 10);
  ASSERT_TRUE(client.Send("GET /download HTTP/1.1\r\n\r\n"));
  // The client reads nothing until the producer has been told to stop: the socket buffers fill,
  // then the connection's output passes the watermark.
  ASSERT_TRUE(stats.paused.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::StatusOr<RawResponse> response = client.ReadResponse(absl::Seconds(60));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body.size(), kTotal);
  ASSERT_TRUE(stats.finished.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_GE(stats.pauses.load(), 1);
  // Never more than the watermark plus the one chunk that crossed it: 64 MiB went through a
  // bounded buffer.
  EXPECT_LE(stats.max_buffered.load(), limits.buffer_bytes + kChunk);
}

TEST(ServerConnectionTest, HeaderTimeoutAnswers408EvenToATricklingClient) {
  ConnectionLimits limits;
  limits.header_timeout = absl::Milliseconds(200);
  TestServer server(Echo(), limits);
  RawClient client = Connect(server);
  ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\n"));
  const absl::Time start = absl::Now();
  // One header byte at a time: bytes keep arriving, but the head never completes.
  std::string received;
  for (int i = 0; i < 100 && received.empty(); ++i) {
    client.Send("X");
    received = client.ReadSome(absl::Milliseconds(20));
  }
  EXPECT_THAT(received, HasSubstr("HTTP/1.1 408"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(5)));
}

TEST(ServerConnectionTest, IdleKeepAliveConnectionIsClosed) {
  ConnectionLimits limits;
  limits.idle_timeout = absl::Milliseconds(100);
  TestServer server(Echo(), limits);
  RawClient client = Connect(server);
  ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(client.ReadResponse().ok());
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(5)));
}

TEST(ServerConnectionTest, StreamIdleTimeoutAnswers504WhenNothingAnswers) {
  ConnectionLimits limits;
  limits.stream_idle_timeout = absl::Milliseconds(100);
  Observed observed;
  TestServer server(Silent(observed), limits);
  RawClient client = Connect(server);
  ASSERT_TRUE(client.Send("GET /mcp HTTP/1.1\r\n\r\n"));
  ExpectErrorAndClose(client, 504);
  ASSERT_TRUE(observed.ended.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(observed.reason.load(), StreamEnd::kProtocolError);
}

TEST(ServerConnectionTest, HeaderValueWithNewlineBecomesA500NotAnInjection) {
  TestServer server(
      testing::RespondWith([](const RequestHead&, const std::string&, ResponseEncoder& out) {
        ResponseHead head;
        head.headers.Add("Location", "https://a\r\nSet-Cookie: evil=1");
        out.EncodeHeaders(std::move(head), true);
      }));
  RawClient client = Connect(server);
  ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\n\r\n"));
  absl::StatusOr<RawResponse> response = client.ReadResponse();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 500);
  EXPECT_FALSE(response->HasHeader("set-cookie"));
}

TEST(ServerConnectionTest, ResponseShorterThanItsLengthClosesTheConnection) {
  TestServer server(
      testing::RespondWith([](const RequestHead&, const std::string&, ResponseEncoder& out) {
        ResponseHead head;
        head.headers.Add("Content-Length", "10");
        out.EncodeHeaders(std::move(head), false);
        out.EncodeData("short", true);
      }));
  RawClient client = Connect(server);
  ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_FALSE(client.ReadResponse(absl::Seconds(5)).ok());  // 5 of 10 bytes, then the close
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(5)));
}

}  // namespace
}  // namespace gateway::http

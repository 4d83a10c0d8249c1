#pragma once

// Upstream MCP servers that end-to-end tests run in process, to see exactly what the gateway
// forwards and to make it face every kind of upstream trouble:
//  * ResourceServer: the gateway's own codec on 127.0.0.1, port 0, with streams the test makes;
//    it counts the MCP requests that reach it and keeps their Authorization values;
//  * Recording, EventStream, SilentStream: what such a server answers (a JSON result, an SSE
//    stream the test drives, nothing at all);
//  * RawServer: a TCP server that answers with bytes the test chooses (not HTTP, cut short, one
//    byte at a time), for what the gateway's codec would never send.
// Everything runs on the servers' own threads; tests wait on notifications with deadlines.

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "source/common/net.h"
#include "test/support/test_server.h"

namespace gateway::e2e {

// The whole default chain, with `forward_config` for upstream_forward.
inline std::string ChainWith(absl::string_view forward_config) {
  return absl::StrCat(
      "filters:\n"
      "  - {name: health, match: {path: /healthz}}\n"
      "  - {name: metadata, match: {prefix: /.well-known/}}\n"
      "  - {name: dcr, match: {path: /register}}\n"
      "  - {name: authorize, match: {path: /authorize}}\n"
      "  - {name: login}\n"
      "  - {name: upstream_callback, match: {path: /upstream/callback}}\n"
      "  - {name: token_exchange, match: {path: /token}}\n"
      "  - {name: revoke, match: {path: /revoke}}\n"
      "  - {name: bearer_split, match: {prefix: /mcp}}\n"
      "  - name: upstream_forward\n"
      "    match: {prefix: /mcp}\n"
      "    config: ",
      forward_config, "\n");
}

// What a ResourceServer has received on /mcp.
class Received {
 public:
  void Add(const http::RequestHead& head) {
    absl::MutexLock lock(&mutex_);
    const std::string* authorization = head.headers.Get("authorization");
    targets_.push_back(head.target);
    authorizations_.push_back(authorization != nullptr ? *authorization : "");
  }
  int count() const {
    absl::MutexLock lock(&mutex_);
    return static_cast<int>(targets_.size());
  }
  std::vector<std::string> targets() const {
    absl::MutexLock lock(&mutex_);
    return targets_;
  }
  std::vector<std::string> authorizations() const {
    absl::MutexLock lock(&mutex_);
    return authorizations_;
  }

 private:
  mutable absl::Mutex mutex_;
  std::vector<std::string> targets_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::string> authorizations_ ABSL_GUARDED_BY(mutex_);
};

// Serves the streams of `factory` on /mcp and 404 elsewhere: the gateway asks a resource server
// for its metadata first, and a test server must not answer that with an endless stream.
class McpOnlyStream : public http::ServerStream {
 public:
  McpOnlyStream(http::ResponseEncoder& encoder, const http::StreamFactory& factory,
                Received& received)
      : encoder_(encoder), factory_(factory), received_(received) {}
  void OnHeaders(http::RequestHead&& head, bool end_stream) override {
    if (!absl::StartsWith(head.path, "/mcp")) {
      testing::SendResponse(encoder_, 404, "");
      return;
    }
    received_.Add(head);
    inner_ = factory_(encoder_);
    inner_->OnHeaders(std::move(head), end_stream);
  }
  void OnData(absl::string_view data, bool end_stream) override {
    if (inner_ != nullptr) {
      inner_->OnData(data, end_stream);
    }
  }
  void OnWatermark(bool above) override {
    if (inner_ != nullptr) {
      inner_->OnWatermark(above);
    }
  }
  void OnEnd(http::StreamEnd reason) override {
    if (inner_ != nullptr) {
      inner_->OnEnd(reason);
    }
  }

 private:
  http::ResponseEncoder& encoder_;
  const http::StreamFactory& factory_;
  Received& received_;
  std::unique_ptr<http::ServerStream> inner_;
};

// A test upstream resource server: `factory` answers /mcp.
class ResourceServer : public testing::TestServer {
 public:
  explicit ResourceServer(http::StreamFactory factory)
      : TestServer([this](http::ResponseEncoder& encoder) {
          return std::make_unique<McpOnlyStream>(encoder, factory_, received_);
        }),
        factory_(std::move(factory)) {}

  // The MCP requests that reached this server.
  const Received& received() const { return received_; }

 private:
  http::StreamFactory factory_;
  Received received_;
};

// What the upstream saw of the last request.
struct Seen {
  absl::Mutex mutex;
  http::RequestHead head ABSL_GUARDED_BY(mutex);
  std::string body ABSL_GUARDED_BY(mutex);
  absl::Notification arrived;  // a SilentStream's request head came
  absl::Notification ended;
  std::atomic<http::StreamEnd> end_reason{http::StreamEnd::kComplete};
};

// Records each request and answers a fixed JSON-RPC result, with headers that must and must not
// reach the client.
inline http::StreamFactory Recording(Seen& seen) {
  return testing::RespondWith([&seen](const http::RequestHead& head, const std::string& body,
                                      http::ResponseEncoder& encoder) {
    {
      absl::MutexLock lock(&seen.mutex);
      seen.head = head;
      seen.body = body;
    }
    http::ResponseHead response;
    response.headers.Add("Content-Type", "application/json");
    response.headers.Add("Mcp-Session-Id", "session-1");
    response.headers.Add("Set-Cookie", "upstream=secret");
    response.headers.Add("X-Upstream-Internal", "not for clients");
    const std::string json = R"({"jsonrpc":"2.0","id":1,"result":{"ok":true}})";
    response.headers.Add("Content-Length", absl::StrCat(json.size()));
    encoder.EncodeHeaders(std::move(response), false);
    encoder.EncodeData(json, true);
  });
}

// Answers nothing, ever; notes when the request goes away.
class SilentStream : public http::ServerStream {
 public:
  explicit SilentStream(Seen& seen) : seen_(seen) {}
  void OnHeaders(http::RequestHead&&, bool) override {
    if (!seen_.arrived.HasBeenNotified()) {
      seen_.arrived.Notify();
    }
  }
  void OnData(absl::string_view, bool) override {}
  void OnWatermark(bool) override {}
  void OnEnd(http::StreamEnd reason) override {
    seen_.end_reason = reason;
    seen_.ended.Notify();
  }

 protected:
  Seen& seen_;
};

// An SSE stream that sends its first event at once and the next ones when the test says so
// (through `handle`); it tells the test when it ends.
class EventStream : public SilentStream {
 public:
  EventStream(http::ResponseEncoder& encoder, Seen& seen, http::ResponseEncoder*& handle)
      : SilentStream(seen), encoder_(encoder) {
    handle = &encoder;
  }
  void OnHeaders(http::RequestHead&& head, bool) override {
    {
      absl::MutexLock lock(&seen_.mutex);
      seen_.head = std::move(head);
    }
    http::ResponseHead response;
    response.headers.Add("Content-Type", "text/event-stream");
    response.headers.Add("Cache-Control", "no-cache");
    encoder_.EncodeHeaders(std::move(response), false);
    encoder_.EncodeData("data: event 1\n\n", false);
  }

 private:
  http::ResponseEncoder& encoder_;
};

// A ResourceServer whose /mcp answers with an EventStream, and what the test needs to drive it.
struct EventUpstream {
  Seen seen;
  http::ResponseEncoder* stream = nullptr;  // the last stream's, for RunAndWait()
  ResourceServer server{[this](http::ResponseEncoder& encoder) {
    return std::make_unique<EventStream>(encoder, seen, stream);
  }};
};

// A TCP server that reads what a connection sends first and, for a request to /mcp, answers with
// `reply` (one byte every `pace` when that is not zero) and closes (with a reset when `reset`):
// bytes that are not HTTP, a response cut short, a head that takes its time. Other requests (the
// gateway's metadata probes) get a plain 404.
class RawServer {
 public:
  explicit RawServer(std::string reply, absl::Duration pace = absl::ZeroDuration(),
                     bool reset = false)
      : reply_(std::move(reply)), pace_(pace), reset_(reset) {
    fd_ = *ListenReusePort(*Address::FromIp("127.0.0.1", 0), 16);
    port_ = Address::OfSocket(fd_).port();
    thread_ = std::thread([this] { Serve(); });
  }
  ~RawServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }
  // Connections accepted so far.
  int connections() const { return connections_.load(); }

 private:
  void Serve() {
    while (!stop_) {
      int client = accept4(fd_, nullptr, nullptr, 0);
      if (client < 0) {
        if (errno != EAGAIN) {
          return;
        }
        usleep(1000);  // the listening socket is non-blocking; this thread only serves tests
        continue;
      }
      ++connections_;
      char buffer[4096];
      const ssize_t got = recv(client, buffer, sizeof(buffer), 0);
      const absl::string_view request(buffer, got > 0 ? static_cast<size_t>(got) : 0);
      const bool mcp = absl::StrContains(request.substr(0, request.find('\n')), " /mcp");
      const std::string& reply =
          mcp ? reply_ : "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      const size_t step = mcp && pace_ > absl::ZeroDuration() ? 1 : reply.size();
      for (size_t at = 0; at < reply.size() && !stop_; at += step) {
        if (send(client, reply.data() + at, std::min(step, reply.size() - at), MSG_NOSIGNAL) < 0) {
          break;
        }
        if (step == 1) {
          absl::SleepFor(pace_);  // a dribbling peer, on purpose
        }
      }
      if (reset_) {
        const linger abort{1, 0};  // close() then sends RST, not FIN
        setsockopt(client, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
      }
      close(client);
    }
  }

  const std::string reply_;
  const absl::Duration pace_;
  const bool reset_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

}  // namespace gateway::e2e

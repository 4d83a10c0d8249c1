#pragma once

// Test servers on 127.0.0.1, port 0, each on its own thread with its own Dispatcher:
//  * TestServer: the gateway's own ServerConnection, with streams made by the test, for codec
//    tests and as an upstream for HttpClient tests (plain or TLS);
//  * LoopRunner: runs a dispatcher on the test thread until the test says it is done.
// Tests wait on notifications with deadlines, never on sleeps.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "source/common/http/connection_set.h"
#include "source/common/http/server_connection.h"
#include "source/common/tls.h"
#include "source/dispatcher.h"

namespace gateway::testing {

class TestServer {
 public:
  // `factory` makes the stream of each request, on the server thread. With `tls_context` set,
  // the server speaks TLS.
  explicit TestServer(http::StreamFactory factory, http::ConnectionLimits limits = {},
                      SSL_CTX* tls_context = nullptr);
  ~TestServer();

  uint16_t port() const { return port_; }
  Dispatcher& dispatcher() { return dispatcher_; }
  // Runs `work` on the server thread and waits for it.
  void RunAndWait(std::function<void()> work);
  // Connections accepted so far.
  int accepted() const { return accepted_.load(); }

 private:
  void OnAccept(int fd, const Address& peer);

  SSL_CTX* tls_context_;
  Dispatcher dispatcher_;
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<http::ServerConnectionSet> connections_;
  uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

// A ServerStream that collects the whole request, then calls `respond` (on the server thread)
// with the head, the body and the encoder to answer through.
using Responder = std::function<void(const http::RequestHead& head, const std::string& body,
                                     http::ResponseEncoder& encoder)>;
http::StreamFactory RespondWith(Responder respond);

// Sends a whole response with a Content-Length.
void SendResponse(http::ResponseEncoder& encoder, int status, absl::string_view body,
                  absl::string_view content_type = "text/plain");

// Runs a dispatcher on the calling thread until Done() or the timeout.
class LoopRunner {
 public:
  explicit LoopRunner(Dispatcher& dispatcher) : dispatcher_(dispatcher) {}
  // Returns false when the timeout passed first.
  bool Run(absl::Duration timeout = absl::Seconds(10));
  void Done() { dispatcher_.Exit(); }

 private:
  Dispatcher& dispatcher_;
};

// `size` bytes of a-z repeated: data whose every position is checked when it comes back.
std::string Pattern(size_t size);

// The CPU time (user and system) this process has used so far: an event loop that spins instead
// of sleeping shows in it.
absl::Duration ProcessCpuTime();

}  // namespace gateway::testing

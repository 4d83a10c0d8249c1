#pragma once

// The upstream HTTP/1.1 client of one worker: keep-alive connection pools per origin, HTTPS
// through bufferevent_openssl (SNI and host-name verification), non-blocking name lookups, and
// requests and responses streamed both ways with flow control.
//
// One HttpClient per worker, used on that worker's dispatcher thread only; nothing in it is
// shared between workers. Callbacks run on that thread. A request handle may be destroyed at any
// time, also from inside its own callbacks: that cancels it, and no callback follows.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "source/common/http/message.h"
#include "source/common/http/parser.h"
#include "source/common/tls.h"
#include "source/common/url.h"
#include "source/dispatcher.h"

namespace gateway::http {

// Which addresses a request may connect to.
enum class AddressPolicy {
  kAny,         // destinations from the gateway's own configuration
  kPublicOnly,  // URLs that come from outside (client metadata documents): no loopback,
                // private or link-local address, whatever a name resolves to
};

struct ClientOptions {
  absl::Duration connect_timeout = absl::Seconds(5);  // name lookup + TCP + TLS handshake
  // No byte in either direction for this long during an exchange ends it with DeadlineExceeded.
  absl::Duration stream_idle_timeout = absl::Hours(1);
  // Pooled connections unused this long are closed. Below the 5 s keep-alive of Node servers,
  // so the gateway is not the one caught reusing a connection its upstream is closing.
  absl::Duration pool_idle_timeout = absl::Seconds(4);
  size_t max_idle_per_origin = 256;
  size_t buffer_bytes = 256 * 1024;  // per-direction watermark
  Parser::Limits parser;
  std::string ca_file;  // extra trust anchors (PEM) on top of the system store
};

// What an exchange reports. After OnError(), or OnResponseData() with end_stream, nothing follows.
class UpstreamCallbacks {
 public:
  virtual ~UpstreamCallbacks() = default;
  virtual void OnResponseHeaders(ResponseHead&& head, bool end_stream) = 0;
  virtual void OnResponseData(absl::string_view data, bool end_stream) = 0;
  // The exchange failed: Unavailable (lookup, connect, TLS, reset, malformed response) or
  // DeadlineExceeded (a timeout). The message is safe to log and names the origin.
  virtual void OnError(const absl::Status& status) = 0;
  // The request body not yet sent upstream passed the watermark (true) or drained (false).
  virtual void OnRequestWatermark(bool /*above*/) {}
};

// A request in flight. Destroying it cancels the exchange.
class UpstreamRequest {
 public:
  virtual ~UpstreamRequest() = default;
  // Sends a piece of the request body; `end_stream` ends the request.
  virtual void SendData(absl::string_view data, bool end_stream) = 0;
  // Stops (true) or resumes (false) reading the response.
  virtual void ReadDisable(bool disable) = 0;
};

// A whole response, for Fetch().
struct FetchResponse {
  ResponseHead head;
  std::string body;
};
using FetchCallback = std::function<void(absl::StatusOr<FetchResponse>)>;

class ClientConnection;

// What a ClientConnection tells the pool that owns it.
class ClientConnectionOwner {
 public:
  virtual ~ClientConnectionOwner() = default;
  // The exchange ended cleanly and the connection may carry another.
  virtual void OnConnectionIdle(ClientConnection& connection) = 0;
  // The connection closed; the owner destroys it through DeferredDelete.
  virtual void OnConnectionClosed(ClientConnection& connection) = 0;
};

class HttpClient : private ClientConnectionOwner {
 public:
  HttpClient(Dispatcher& dispatcher, const ClientOptions& options);
  ~HttpClient() override;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts an exchange with `origin`'s server (its path is not used: head.target is sent as is).
  // Host is set to origin's authority when `head` has none. With `end_stream` false the body
  // follows through SendData(). Connection framing headers in `head` are replaced. A response
  // whose head has not arrived within `response_timeout` of this call (connecting included)
  // fails the exchange with DeadlineExceeded; the connection's own timer keeps it, so the
  // caller needs none.
  std::unique_ptr<UpstreamRequest> Send(const Url& origin, RequestHead head, bool end_stream,
                                        UpstreamCallbacks& callbacks,
                                        AddressPolicy policy = AddressPolicy::kAny,
                                        absl::Duration response_timeout = absl::InfiniteDuration());

  // One whole request and response, the body capped at `max_body_bytes` (a longer one fails
  // with ResourceExhausted) and the whole exchange at `timeout` (DeadlineExceeded). For small
  // exchanges: token endpoints, discovery documents.
  std::unique_ptr<UpstreamRequest> Fetch(const Url& origin, RequestHead head, std::string body,
                                         FetchCallback done, size_t max_body_bytes = 1 << 20,
                                         absl::Duration timeout = absl::Seconds(15),
                                         AddressPolicy policy = AddressPolicy::kAny);

  // Replaces the options (SIGHUP): new connections use them, and open ones from their next
  // exchange or idle period on. `ca_file` must stay the same (the TLS context is kept).
  void SetOptions(const ClientOptions& options) { options_ = options; }

  // The loop this client's connections run on.
  Dispatcher& dispatcher() { return dispatcher_; }

  // Connections open now, busy and idle (for tests and metrics).
  size_t connection_count() const { return connections_.size(); }
  size_t idle_count() const;
  // Closes every connection; in-flight exchanges fail with Unavailable.
  void CloseAll();

 private:
  void OnConnectionIdle(ClientConnection& connection) override;
  void OnConnectionClosed(ClientConnection& connection) override;
  absl::StatusOr<SSL_CTX*> TlsContext();

  Dispatcher& dispatcher_;
  ClientOptions options_;
  tls::SslCtxPtr tls_context_;
  absl::flat_hash_map<ClientConnection*, std::unique_ptr<ClientConnection>> connections_;
  absl::flat_hash_map<std::string, std::vector<ClientConnection*>> idle_;
  // Send()'s lookup key, kept with the scheme, host, port and policy it was built for.
  std::string pool_key_;
  Url pool_key_origin_;
  AddressPolicy pool_key_policy_ = AddressPolicy::kAny;
};

}  // namespace gateway::http

#pragma once

// One upstream connection (TCP, or TLS through bufferevent_openssl) carrying one exchange at a
// time, for the HttpClient's pools. It looks the host up (evdns), tries each address in turn until
// one connects within the connect timeout, frames the request (length or chunked), parses the
// response with the shared Parser, and reports to the exchange's UpstreamCallbacks.
//
// Used on one worker's dispatcher thread. Owned by the HttpClient (its Owner), which it tells when
// it is idle again (may be pooled) or closed (to be destroyed, deferred), through
// ClientConnectionOwner.

#include <event2/buffer.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "source/common/http/client.h"
#include "source/common/http/direct_writer.h"
#include "source/common/http/parser.h"
#include "source/common/http/read_hold.h"
#include "source/common/url.h"
#include "source/dispatcher.h"

namespace gateway::http {

class ClientConnection;

// The handle returned by HttpClient::Send(): forwards to the connection while the exchange runs,
// and cancels it when destroyed.
class ClientRequest final : public UpstreamRequest {
 public:
  ~ClientRequest() override;
  void SendData(absl::string_view data, bool end_stream) override;
  void ReadDisable(bool disable) override;

  // Set by the connection when the exchange starts and cleared when it ends.
  void set_connection(ClientConnection* connection) { connection_ = connection; }

 private:
  ClientConnection* connection_ = nullptr;
};

class ClientConnection : public DeferredDeletable, private Parser::Callbacks {
 public:
  // `tls_context` is null for http; for https an error fails the first exchange.
  ClientConnection(Dispatcher& dispatcher, ClientConnectionOwner& owner, const Url& origin,
                   absl::StatusOr<SSL_CTX*> tls_context, const ClientOptions& options,
                   AddressPolicy policy);

  // Connections are pooled per origin and address policy: one checked against private
  // addresses never serves a request that was not, and the other way round.
  static std::string PoolKey(const Url& origin, AddressPolicy policy);
  // The same, written over `key`: a buffer the caller keeps, so that a lookup allocates nothing
  // once it has the room.
  static void WritePoolKey(const Url& origin, AddressPolicy policy, std::string& key);
  ~ClientConnection() override;

  // Starts the lookup and connection. Nothing is reported before this returns.
  void Connect();
  // Starts an exchange; the connection must be new or idle. The head is written at once (kept
  // until the connection is up). A response whose head has not arrived within
  // `response_timeout` fails the exchange with DeadlineExceeded.
  void Start(ClientRequest& handle, RequestHead head, bool end_stream, UpstreamCallbacks& callbacks,
             absl::Duration response_timeout);
  void SendData(absl::string_view data, bool end_stream);
  void ReadDisable(bool disable);
  // The handle was destroyed: drop the exchange; the connection closes unless it had ended.
  void Cancel();
  // Ends the exchange in progress with `status` (if any) and closes.
  void Fail(const absl::Status& status);
  // Closes; an exchange in progress is dropped without a callback.
  void Close();

  const std::string& pool_key() const { return pool_key_; }

 private:
  enum class State { kResolving, kConnecting, kConnected, kClosed };

  // Parser::Callbacks
  void OnMessageBegin() override;
  void OnResponseHead(ResponseHead&& head, const Parser::Framing& framing) override;
  void OnBody(absl::string_view data) override;
  void OnMessageComplete() override;

  static void OnReadTrampoline(bufferevent* bev, void* arg);
  static void OnWriteTrampoline(bufferevent* bev, void* arg);
  static void OnEventTrampoline(bufferevent* bev, short events, void* arg);
  void OnRead();
  void OnWrite();
  void OnEvent(short events);
  void OnTimer();
  // During an exchange on an open connection: the timer set for the earlier of `idle_left` (what
  // is left of the idle timeout) and the response deadline. `now` is Dispatcher::LoopTime().
  void ArmExchangeTimer(MonotonicTime now, absl::Duration idle_left);
  bool AwaitingResponse() const { return callbacks_ != nullptr && !response_started_; }
  void OnResolved(absl::StatusOr<std::vector<Address>> addresses);
  void TryNextAddress();
  void OnConnected();
  void ProcessInput();
  // Request bytes were queued: written this turn of the loop (plain sockets, once connected),
  // and the watermark checked.
  void Queued();
  void CheckWatermark();
  std::string DescribeSocketError();
  evbuffer* Output();
  void Detach();

  Dispatcher& dispatcher_;
  ClientConnectionOwner& owner_;
  const Url origin_;
  const std::string pool_key_;
  absl::StatusOr<SSL_CTX*> tls_context_;
  const ClientOptions& options_;
  const AddressPolicy policy_;
  Parser parser_;
  std::unique_ptr<Timer> timer_;
  std::unique_ptr<DnsQuery> dns_;
  BufferEventPtr bev_;
  std::unique_ptr<DirectWriter> writer_;  // once connected, plain sockets only
  ReadHold read_hold_;
  // Request bytes written before the connection is up.
  std::unique_ptr<evbuffer, decltype(&evbuffer_free)> pending_;

  State state_ = State::kResolving;
  std::vector<Address> addresses_;
  size_t next_address_ = 0;
  std::string last_error_;
  MonotonicTime last_activity_;  // Dispatcher::LoopTime() of the last read or write
  bool reused_ = false;

  // The exchange in progress, if any.
  ClientRequest* handle_ = nullptr;
  UpstreamCallbacks* callbacks_ = nullptr;
  std::string method_;
  bool request_chunked_ = false;
  bool request_complete_ = false;
  bool response_started_ = false;
  // Dispatcher::LoopTime() by which the response's head is due; MonotonicTime::max() for none.
  MonotonicTime response_deadline_ = MonotonicTime::max();
  bool response_keep_alive_ = true;
  bool interim_response_ = false;
  std::optional<ResponseHead> bodyless_head_;
  bool eof_seen_ = false;
  bool above_high_watermark_ = false;
  absl::Status start_failure_;
};

}  // namespace gateway::http

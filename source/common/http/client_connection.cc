#include "source/common/http/client_connection.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "source/common/http/encoder.h"
#include "source/common/log.h"

namespace gateway::http {

ClientRequest::~ClientRequest() {
  if (connection_ != nullptr) {
    connection_->Cancel();
  }
}

void ClientRequest::SendData(absl::string_view data, bool end_stream) {
  if (connection_ != nullptr) {
    connection_->SendData(data, end_stream);
  }
}

void ClientRequest::ReadDisable(bool disable) {
  if (connection_ != nullptr) {
    connection_->ReadDisable(disable);
  }
}

ClientConnection::ClientConnection(Dispatcher& dispatcher, ClientConnectionOwner& owner,
                                   const Url& origin, absl::StatusOr<SSL_CTX*> tls_context,
                                   const ClientOptions& options, AddressPolicy policy)
    : dispatcher_(dispatcher),
      owner_(owner),
      origin_(origin),
      pool_key_(PoolKey(origin, policy)),
      tls_context_(std::move(tls_context)),
      options_(options),
      policy_(policy),
      parser_(Parser::Mode::kResponse, options.parser, *this),
      pending_(evbuffer_new(), &evbuffer_free) {
  timer_ = dispatcher_.CreateTimer([this] { OnTimer(); });
}

ClientConnection::~ClientConnection() {
  if (bev_ != nullptr) {
    bufferevent_setcb(bev_.get(), nullptr, nullptr, nullptr, nullptr);
  }
}

void ClientConnection::Connect() {
  state_ = State::kResolving;
  // One deadline for lookup, TCP and TLS together: what the caller waits for is a usable
  // connection, however the time is split.
  timer_->Enable(options_.connect_timeout);
  dns_ = dispatcher_.Resolve(
      origin_.host, origin_.port,
      [this](absl::StatusOr<std::vector<Address>> addresses) { OnResolved(std::move(addresses)); });
}

void ClientConnection::OnResolved(absl::StatusOr<std::vector<Address>> addresses) {
  if (!start_failure_.ok()) {
    Fail(start_failure_);
    return;
  }
  if (!addresses.ok() || addresses->empty()) {
    Fail(absl::UnavailableError(
        absl::StrCat("cannot resolve ", origin_.host, ": ",
                     addresses.ok() ? "no addresses" : addresses.status().message())));
    return;
  }
  if (!tls_context_.ok()) {
    Fail(absl::UnavailableError(absl::StrCat("cannot set up TLS for ", origin_.Origin(), ": ",
                                             tls_context_.status().message())));
    return;
  }
  addresses_ = std::move(*addresses);
  next_address_ = 0;
  TryNextAddress();
}

std::string ClientConnection::PoolKey(const Url& origin, AddressPolicy policy) {
  std::string key;
  WritePoolKey(origin, policy, key);
  return key;
}

void ClientConnection::WritePoolKey(const Url& origin, AddressPolicy policy, std::string& key) {
  key.clear();
  origin.AppendPoolKey(key);
  if (policy == AddressPolicy::kPublicOnly) {
    key.append(" public-only");
  }
}

void ClientConnection::TryNextAddress() {
  while (next_address_ < addresses_.size()) {
    const Address& address = addresses_[next_address_++];
    if (policy_ == AddressPolicy::kPublicOnly && !IsPublicAddress(address)) {
      last_error_ = absl::StrCat(address.Ip(), " is not a public address");
      continue;
    }
    if (*tls_context_ != nullptr) {
      absl::StatusOr<tls::SslPtr> ssl =
          tls::NewClientSession(*tls_context_, origin_.host, origin_.port);
      if (!ssl.ok()) {
        Fail(absl::UnavailableError(ssl.status().message()));
        return;
      }
      bev_ = dispatcher_.CreateTlsBufferEvent(-1, ssl->release(), /*server=*/false);
      // An upstream that closes without close_notify still ends a close-delimited body.
      bufferevent_openssl_set_allow_dirty_shutdown(bev_.get(), 1);
    } else {
      bev_ = dispatcher_.CreateSocketBufferEvent(-1, Dispatcher::SocketReads::kOffered);
    }
    bufferevent_setcb(bev_.get(), &ClientConnection::OnReadTrampoline,
                      &ClientConnection::OnWriteTrampoline, &ClientConnection::OnEventTrampoline,
                      this);
    Dispatcher::SetReadLimit(bev_.get(), options_.buffer_bytes);
    bufferevent_setwatermark(bev_.get(), EV_WRITE, options_.buffer_bytes / 2, 0);
    if (bufferevent_socket_connect(bev_.get(), address.sockaddr_ptr(),
                                   static_cast<int>(address.length)) == 0) {
      if (*tls_context_ == nullptr) {
        // The connect assigned the read event anew.
        Dispatcher::ReadSocketDirectly(bev_.get(), Dispatcher::SocketReads::kOffered);
      }
      state_ = State::kConnecting;
      return;
    }
    last_error_ = absl::StrCat(address.ToString(), ": ", std::strerror(errno));
    bev_.reset();
  }
  Fail(absl::UnavailableError(
      absl::StrCat("cannot connect to ", origin_.Origin(), " (", last_error_, ")")));
}

void ClientConnection::OnConnected() {
  state_ = State::kConnected;
  SetNoDelay(bufferevent_getfd(bev_.get()));
  if (*tls_context_ == nullptr) {
    // Before the pending bytes move in: with the write event on, moving them would add it.
    writer_ = std::make_unique<DirectWriter>(dispatcher_, bev_.get(), [this] { OnWrite(); });
  }
  evbuffer_add_buffer(bufferevent_get_output(bev_.get()), pending_.get());
  bufferevent_enable(bev_.get(), writer_ != nullptr ? EV_READ : EV_READ | EV_WRITE);
  last_activity_ = dispatcher_.LoopTime();
  if (callbacks_ != nullptr) {
    ArmExchangeTimer(dispatcher_.LoopTime(), options_.stream_idle_timeout);
  } else {
    timer_->Enable(options_.pool_idle_timeout);
  }
  Queued();
}

void ClientConnection::ArmExchangeTimer(MonotonicTime now, absl::Duration idle_left) {
  absl::Duration wait = idle_left;
  if (AwaitingResponse() && response_deadline_ != MonotonicTime::max()) {
    wait = std::min(wait, absl::FromChrono(response_deadline_ - now));
  }
  timer_->Enable(wait);
}

std::string ClientConnection::DescribeSocketError() {
  if (bev_ != nullptr && *tls_context_ != nullptr) {
    SSL* ssl = bufferevent_openssl_get_ssl(bev_.get());
    const long verify = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (verify != X509_V_OK) {
      ERR_clear_error();
      return absl::StrCat("TLS certificate rejected: ", X509_verify_cert_error_string(verify));
    }
    const unsigned long tls_error = bufferevent_get_openssl_error(bev_.get());
    if (tls_error != 0) {
      char text[256];
      ERR_error_string_n(tls_error, text, sizeof(text));
      return absl::StrCat("TLS error: ", text);
    }
  }
  int error = 0;
  socklen_t length = sizeof(error);
  const int fd = bev_ != nullptr ? bufferevent_getfd(bev_.get()) : -1;
  if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error != 0) {
    return std::strerror(error);
  }
  error = EVUTIL_SOCKET_ERROR();
  return error != 0 ? std::strerror(error) : "connection closed";
}

evbuffer* ClientConnection::Output() {
  return state_ == State::kConnected ? bufferevent_get_output(bev_.get()) : pending_.get();
}

void ClientConnection::Start(ClientRequest& handle, RequestHead head, bool end_stream,
                             UpstreamCallbacks& callbacks, absl::Duration response_timeout) {
  handle_ = &handle;
  handle.set_connection(this);
  callbacks_ = &callbacks;
  method_ = head.method;
  request_complete_ = end_stream;
  response_started_ = false;
  const MonotonicTime now = dispatcher_.LoopTime();
  response_deadline_ =
      response_timeout == absl::InfiniteDuration()
          ? MonotonicTime::max()
          : now + absl::ToChronoNanoseconds(std::max(response_timeout, absl::ZeroDuration()));
  response_keep_alive_ = true;
  interim_response_ = false;
  bodyless_head_.reset();
  eof_seen_ = false;
  above_high_watermark_ = false;

  // Framing is the connection's (RFC 9112 sections 6 and 7); the caller sets everything else.
  // One pass drops its fields and notes whether Host and a length came.
  bool has_host = false;
  bool has_length = false;
  head.headers.RetainIf([&has_host, &has_length](absl::string_view name) {
    has_host = has_host || SameFieldName(name, "host");
    has_length = has_length || SameFieldName(name, "content-length");
    return !SameFieldName(name, "connection") && !SameFieldName(name, "keep-alive") &&
           !SameFieldName(name, "transfer-encoding");
  });
  if (!has_host) {
    head.headers.Add("Host", origin_.Authority());
  }
  request_chunked_ = false;
  if (!has_length) {
    if (!end_stream) {
      head.headers.AddVouched("Transfer-Encoding", "chunked");
      request_chunked_ = true;
    } else if (head.method == "POST" || head.method == "PUT" || head.method == "PATCH") {
      head.headers.AddVouched("Content-Length", "0");
    }
  }
  parser_.set_expect_head_response(head.method == "HEAD");
  if (absl::Status status = EncodeRequestHead(head, Output()); !status.ok()) {
    // Reported on a later turn of the loop, as every outcome is.
    start_failure_ = absl::InvalidArgumentError(
        absl::StrCat("refused to send the request upstream: ", status.message()));
    if (state_ == State::kConnected) {
      timer_->Enable(absl::ZeroDuration());
    }
    return;
  }
  if (state_ == State::kConnected) {
    reused_ = true;
    last_activity_ = dispatcher_.LoopTime();
    ArmExchangeTimer(now, options_.stream_idle_timeout);
    Queued();
  } else if (response_deadline_ != MonotonicTime::max() &&
             response_timeout < options_.connect_timeout) {
    timer_->Enable(response_timeout);  // due before the connection's own deadline
  }
}

void ClientConnection::SendData(absl::string_view data, bool end_stream) {
  if (callbacks_ == nullptr || request_complete_) {
    return;
  }
  evbuffer* out = Output();
  if (request_chunked_) {
    EncodeChunk(data, out);
    if (end_stream) {
      EncodeLastChunk(out);
    }
  } else if (!data.empty()) {  // the end of a body often comes alone: no add, no callbacks
    evbuffer_add(out, data.data(), data.size());
  }
  request_complete_ = end_stream;
  last_activity_ = dispatcher_.LoopTime();
  Queued();
}

void ClientConnection::Queued() {
  if (state_ == State::kConnected) {
    if (writer_ != nullptr) {
      writer_->Schedule();
    } else {
      Dispatcher::WriteTlsOutputSoon(bev_.get());
    }
  }
  CheckWatermark();
}

void ClientConnection::CheckWatermark() {
  if (callbacks_ != nullptr && !above_high_watermark_ &&
      evbuffer_get_length(Output()) > options_.buffer_bytes) {
    above_high_watermark_ = true;
    callbacks_->OnRequestWatermark(true);
  }
}

void ClientConnection::ReadDisable(bool disable) {
  if (disable) {
    parser_.Pause();
    return;
  }
  if (parser_.paused()) {
    parser_.Resume();
    read_hold_.Release(bev_.get());
    if (state_ == State::kConnected) {
      ProcessInput();
    }
  }
}

void ClientConnection::Cancel() {
  Detach();
  Close();
}

void ClientConnection::Detach() {
  if (handle_ != nullptr) {
    handle_->set_connection(nullptr);
  }
  handle_ = nullptr;
  callbacks_ = nullptr;
}

void ClientConnection::Fail(const absl::Status& status) {
  UpstreamCallbacks* callbacks = callbacks_;
  Detach();
  Close();
  if (callbacks != nullptr) {
    callbacks->OnError(status);
  }
}

void ClientConnection::Close() {
  if (state_ == State::kClosed) {
    return;
  }
  state_ = State::kClosed;
  timer_->Disable();
  if (writer_ != nullptr) {
    writer_->Stop();
  }
  dns_.reset();
  parser_.Pause();
  if (bev_ != nullptr) {
    // Freed with this object: code up the stack may still hold the bufferevent's buffers.
    bufferevent_disable(bev_.get(), EV_READ | EV_WRITE);
    bufferevent_setcb(bev_.get(), nullptr, nullptr, nullptr, nullptr);
  }
  owner_.OnConnectionClosed(*this);
}

void ClientConnection::OnReadTrampoline(bufferevent*, void* arg) {
  static_cast<ClientConnection*>(arg)->OnRead();
}
void ClientConnection::OnWriteTrampoline(bufferevent*, void* arg) {
  auto* connection = static_cast<ClientConnection*>(arg);
  if (connection->writer_ != nullptr) {
    connection->writer_->OnLibeventWrite();
  }
  connection->OnWrite();
}
void ClientConnection::OnEventTrampoline(bufferevent*, short events, void* arg) {
  static_cast<ClientConnection*>(arg)->OnEvent(events);
}

void ClientConnection::OnRead() {
  if (state_ != State::kConnected) {
    return;
  }
  if (callbacks_ == nullptr) {
    Close();  // an idle connection has nothing to say; bytes here mean it is unusable
    return;
  }
  last_activity_ = dispatcher_.LoopTime();
  if (read_hold_.HoldIfFull(bev_.get(), parser_.paused())) {
    return;  // the client reads slowly: the response waits in the full input
  }
  ProcessInput();
}

void ClientConnection::ProcessInput() {
  evbuffer* input = bufferevent_get_input(bev_.get());
  parser_.Dispatch(input);
  if (parser_.error() != Parser::Error::kNone) {
    Fail(absl::UnavailableError(
        absl::StrCat(origin_.Origin(), " sent a malformed response: ", parser_.error_detail())));
    return;
  }
  if (eof_seen_ && state_ == State::kConnected && callbacks_ != nullptr && !parser_.paused() &&
      evbuffer_get_length(input) == 0) {
    const bool started = response_started_;
    // A body delimited by the close ends here (and completes the exchange); anything else still
    // waiting for its response has lost it.
    if (!parser_.OnEof() || callbacks_ != nullptr) {
      Fail(absl::UnavailableError(absl::StrCat(
          origin_.Origin(), started ? " closed the connection in the middle of a response"
                                    : (reused_ ? " closed a kept-alive connection before answering"
                                               : " closed the connection before answering"))));
    }
  }
}

void ClientConnection::OnWrite() {
  last_activity_ = dispatcher_.LoopTime();
  if (above_high_watermark_ &&
      evbuffer_get_length(bufferevent_get_output(bev_.get())) <= options_.buffer_bytes / 2) {
    above_high_watermark_ = false;
    if (callbacks_ != nullptr) {
      callbacks_->OnRequestWatermark(false);
    }
  }
}

void ClientConnection::OnEvent(short events) {
  if ((events & BEV_EVENT_CONNECTED) != 0) {
    OnConnected();
    return;
  }
  if (state_ == State::kConnecting) {
    last_error_ = DescribeSocketError();
    bev_.reset();
    TryNextAddress();
    return;
  }
  if (state_ != State::kConnected) {
    return;
  }
  if ((events & BEV_EVENT_EOF) != 0 && callbacks_ != nullptr) {
    eof_seen_ = true;
    ProcessInput();  // a body that ends with the connection ends here
    return;
  }
  if (callbacks_ == nullptr) {
    Close();  // the upstream closed an idle connection
    return;
  }
  Fail(absl::UnavailableError(
      absl::StrCat("connection to ", origin_.Origin(), " failed: ", DescribeSocketError())));
}

void ClientConnection::OnTimer() {
  if (!start_failure_.ok() && callbacks_ != nullptr) {
    Fail(start_failure_);
    return;
  }
  const MonotonicTime now = dispatcher_.LoopTime();
  if (AwaitingResponse() && now >= response_deadline_) {
    Fail(absl::DeadlineExceededError(
        absl::StrCat(origin_.Origin(), " did not answer within the response timeout")));
    return;
  }
  switch (state_) {
    case State::kResolving:
    case State::kConnecting:
      Fail(absl::DeadlineExceededError(
          absl::StrCat("connecting to ", origin_.Origin(), " took longer than ",
                       absl::FormatDuration(options_.connect_timeout))));
      return;
    case State::kConnected: {
      if (callbacks_ == nullptr) {
        Close();  // idle in the pool for too long
        return;
      }
      const absl::Duration idle = absl::FromChrono(now - last_activity_);
      if (idle < options_.stream_idle_timeout) {
        ArmExchangeTimer(now, options_.stream_idle_timeout - idle);
        return;
      }
      Fail(absl::DeadlineExceededError(
          absl::StrCat(origin_.Origin(), " sent nothing for ",
                       absl::FormatDuration(options_.stream_idle_timeout))));
      return;
    }
    case State::kClosed:
      return;
  }
}

void ClientConnection::OnMessageBegin() {
  if (callbacks_ == nullptr) {
    Close();  // a response nobody asked for
  }
}

void ClientConnection::OnResponseHead(ResponseHead&& head, const Parser::Framing& framing) {
  if (callbacks_ == nullptr) {
    return;
  }
  if (head.status / 100 == 1) {
    interim_response_ = true;  // 100 Continue and friends: the final response follows
    return;
  }
  response_started_ = true;
  response_keep_alive_ = framing.keep_alive;
  if (!framing.has_body) {
    // Its end follows at once; report head and end together, after the connection is settled.
    bodyless_head_ = std::move(head);
    return;
  }
  callbacks_->OnResponseHeaders(std::move(head), /*end_stream=*/false);
}

void ClientConnection::OnBody(absl::string_view data) {
  if (callbacks_ != nullptr) {
    callbacks_->OnResponseData(data, /*end_stream=*/false);
  }
}

void ClientConnection::OnMessageComplete() {
  if (interim_response_) {
    interim_response_ = false;
    return;
  }
  UpstreamCallbacks* callbacks = callbacks_;
  if (callbacks == nullptr) {
    return;
  }
  std::optional<ResponseHead> head = std::move(bodyless_head_);
  bodyless_head_.reset();
  const bool reusable =
      response_keep_alive_ && request_complete_ && !eof_seen_ && state_ == State::kConnected;
  Detach();
  if (reusable) {
    timer_->Enable(options_.pool_idle_timeout);
    owner_.OnConnectionIdle(*this);
  } else {
    Close();
  }
  // Last: the callee may destroy its handle, start another exchange, or anything else.
  if (head.has_value()) {
    callbacks->OnResponseHeaders(std::move(*head), /*end_stream=*/true);
  } else {
    callbacks->OnResponseData(absl::string_view(), /*end_stream=*/true);
  }
}

}  // namespace gateway::http

#include "source/common/http/server_connection.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "source/common/http/encoder.h"
#include "source/common/http/reply.h"
#include "source/common/log.h"
#include "source/common/tls.h"

namespace gateway::http {
namespace {

// What a client that speaks plain HTTP to the TLS port reads (nginx answers it the same way).
const std::string& PlainHttpToTlsReply() {
  static constexpr absl::string_view kBody =
      R"({"error":"invalid_request","error_description":"this port speaks TLS: use https://"})";
  static const std::string* const reply =
      new std::string(absl::StrCat("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                                   "Connection: close\r\nContent-Length: ",
                                   kBody.size(), "\r\n\r\n", kBody));
  return *reply;
}

}  // namespace

const char* StreamEndName(StreamEnd reason) {
  switch (reason) {
    case StreamEnd::kComplete:
      return "complete";
    case StreamEnd::kClientGone:
      return "client_gone";
    case StreamEnd::kTimeout:
      return "timeout";
    case StreamEnd::kProtocolError:
      return "protocol_error";
    case StreamEnd::kReset:
      return "reset";
    case StreamEnd::kShutdown:
      return "shutdown";
  }
  return "unknown";
}

ServerConnection::ServerConnection(Dispatcher& dispatcher, BufferEventPtr bev, const Address& peer,
                                   const ConnectionLimits& limits, StreamFactory factory,
                                   ServerConnectionOwner& owner)
    : dispatcher_(dispatcher),
      bev_(std::move(bev)),
      peer_(peer),
      limits_(limits),
      factory_(std::move(factory)),
      owner_(owner),
      parser_(Parser::Mode::kRequest, limits.parser, *this) {
  timer_ = dispatcher_.CreateTimer([this] { OnTimer(); });
  bufferevent_setcb(bev_.get(), &ServerConnection::OnReadTrampoline,
                    &ServerConnection::OnWriteTrampoline, &ServerConnection::OnEventTrampoline,
                    this);
  // Input: reading the socket stops once this much waits unparsed (pipelined requests, or a
  // body the stream asked to pause), whether libevent or the dispatcher reads it. Output: the write
  // callback fires when what the client has not yet taken drains to half the bound, which is when a
  // paused producer may resume.
  Dispatcher::SetReadLimit(bev_.get(), limits_.buffer_bytes);
  bufferevent_setwatermark(bev_.get(), EV_WRITE, limits_.buffer_bytes / 2, 0);
  if (bufferevent_openssl_get_ssl(bev_.get()) == nullptr) {
    writer_ = std::make_unique<DirectWriter>(dispatcher_, bev_.get(), [this] { OnWrite(); });
    bufferevent_enable(bev_.get(), EV_READ);
  } else {
    bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
  }
  last_activity_ = dispatcher_.LoopTime();
  // The first request must start within the header timeout; later ones get the idle timeout.
  ArmTimer(limits_.header_timeout);
}

ServerConnection::~ServerConnection() {
  if (bev_ != nullptr) {
    bufferevent_setcb(bev_.get(), nullptr, nullptr, nullptr, nullptr);
  }
}

void ServerConnection::OnReadTrampoline(bufferevent*, void* arg) {
  static_cast<ServerConnection*>(arg)->OnRead();
}
void ServerConnection::OnWriteTrampoline(bufferevent*, void* arg) {
  auto* connection = static_cast<ServerConnection*>(arg);
  if (connection->writer_ != nullptr) {
    connection->writer_->OnLibeventWrite();
  }
  connection->OnWrite();
}
void ServerConnection::OnEventTrampoline(bufferevent*, short events, void* arg) {
  static_cast<ServerConnection*>(arg)->OnEvent(events);
}

void ServerConnection::OnRead() {
  if (phase_ == Phase::kClosing || phase_ == Phase::kClosed) {
    // Nothing more is parsed; drop what the client still sends so the socket keeps draining.
    evbuffer* input = bufferevent_get_input(bev_.get());
    evbuffer_drain(input, evbuffer_get_length(input));
    Dispatcher::TakeOffered(Dispatcher::OfferedInput(input).size());
    return;
  }
  last_activity_ = dispatcher_.LoopTime();
  if (read_hold_.HoldIfFull(bev_.get(), parser_.paused())) {
    return;  // a pipelined request, or a paused body, fills the input: nothing to parse yet
  }
  ParseInput();
}

void ServerConnection::ParseInput() {
  if (phase_ == Phase::kClosing || phase_ == Phase::kClosed) {
    return;
  }
  parser_.Dispatch(bufferevent_get_input(bev_.get()));
  switch (parser_.error()) {
    case Parser::Error::kNone:
      return;
    case Parser::Error::kHeaderTooLarge:
      FailRequest(431, "invalid_request", parser_.error_detail());
      return;
    case Parser::Error::kUriTooLong:
      FailRequest(414, "invalid_request", parser_.error_detail());
      return;
    case Parser::Error::kAmbiguousFraming:
      FailRequest(400, "invalid_request",
                  absl::StrCat("ambiguous message framing: ", parser_.error_detail()));
      return;
    case Parser::Error::kMalformed:
    case Parser::Error::kUnexpectedEof:
      FailRequest(400, "invalid_request",
                  absl::StrCat("malformed HTTP request: ", parser_.error_detail()));
      return;
  }
}

void ServerConnection::OnWrite() {
  const size_t buffered = BufferedBytes();
  if (phase_ == Phase::kClosing && buffered == 0) {
    Close(StreamEnd::kComplete);
    return;
  }
  last_activity_ = dispatcher_.LoopTime();
  if (above_high_watermark_ && buffered <= limits_.buffer_bytes / 2) {
    above_high_watermark_ = false;
    if (stream_ != nullptr) {
      stream_->OnWatermark(false);
    }
  }
}

void ServerConnection::OnEvent(short events) {
  if ((events & BEV_EVENT_ERROR) != 0) {
    OnTlsError();
    Close(StreamEnd::kClientGone);
    return;
  }
  if ((events & BEV_EVENT_EOF) != 0) {
    // The client closed its side. A request in progress has lost its reader: end it now so its
    // upstream work is cancelled. With nothing in progress, send what is still queued, then close.
    if (stream_ != nullptr || phase_ == Phase::kReadingHead) {
      Close(StreamEnd::kClientGone);
    } else if (phase_ != Phase::kClosed) {
      CloseAfterFlush();
    }
  }
}

void ServerConnection::OnTlsError() {
  SSL* ssl = bufferevent_openssl_get_ssl(bev_.get());
  if (ssl == nullptr) {
    return;
  }
  // libevent keeps the OpenSSL errors of this connection; the first says what went wrong.
  unsigned long first = 0;
  for (unsigned long error = bufferevent_get_openssl_error(bev_.get()); error != 0;
       error = bufferevent_get_openssl_error(bev_.get())) {
    first = first == 0 ? error : first;
  }
  ERR_clear_error();
  const bool handshake = SSL_is_init_finished(ssl) == 0;
  if (handshake && ERR_GET_REASON(first) == SSL_R_HTTP_REQUEST) {
    SendFinalReply(bufferevent_getfd(bev_.get()), PlainHttpToTlsReply());
  }
  if (log::Enabled(log::Level::kDebug)) {
    char text[256] = "connection closed";
    if (first != 0) {
      ERR_error_string_n(first, text, sizeof(text));
    }
    log::Debug(absl::StrCat(handshake ? "TLS handshake failed" : "TLS error", " with ",
                            peer_.ToString(), ": ", text));
  }
}

void ServerConnection::OnTimer() {
  const MonotonicTime now = dispatcher_.LoopTime();
  switch (phase_) {
    case Phase::kIdle:
      if (OutputProgressed()) {
        ArmTimer(limits_.idle_timeout);  // still sending the last response to a slow reader
      } else {
        Close(StreamEnd::kTimeout);
      }
      return;
    case Phase::kReadingHead:
      FailRequest(408, "invalid_request", "the request head did not arrive in time");
      return;
    case Phase::kActive: {
      // Discarding the rest of a body nobody reads gets the shorter idle timeout.
      const absl::Duration limit =
          stream_ != nullptr ? limits_.stream_idle_timeout : limits_.idle_timeout;
      const absl::Duration idle = absl::FromChrono(now - last_activity_);
      if (idle < limit) {
        ArmTimer(limit - idle);
        return;
      }
      if (response_started_) {
        Close(StreamEnd::kTimeout);
      } else if (!request_complete_) {
        FailRequest(408, "invalid_request", "the request body stopped arriving");
      } else {
        FailRequest(504, "upstream_timeout", "no response within the stream idle timeout");
      }
      return;
    }
    case Phase::kClosing:
      // Keep flushing to a client that still reads; give up on one that stopped.
      if (OutputProgressed()) {
        ArmTimer(limits_.idle_timeout);
      } else {
        Close(StreamEnd::kTimeout);
      }
      return;
    case Phase::kClosed:
      return;
  }
}

void ServerConnection::ArmTimer(absl::Duration timeout) {
  buffered_at_timer_ = BufferedBytes();
  timer_->Enable(timeout);
}

bool ServerConnection::OutputProgressed() {
  const size_t buffered = BufferedBytes();
  return buffered > 0 && buffered < buffered_at_timer_;
}

void ServerConnection::OnMessageBegin() {
  phase_ = Phase::kReadingHead;
  // A new request: nothing of the previous exchange carries over.
  request_keep_alive_ = true;
  request_has_body_ = false;
  request_complete_ = false;
  request_version_minor_ = 1;
  head_request_ = false;
  body_bytes_ = 0;
  read_disabled_by_stream_ = false;
  response_started_ = false;
  response_complete_ = false;
  response_chunked_ = false;
  response_has_length_ = false;
  response_remaining_ = 0;
  close_after_response_ = false;
  // Measured from the first byte and not extended by later bytes: a client that trickles its
  // head one byte at a time (slowloris) is cut off all the same.
  ArmTimer(limits_.header_timeout);
}

void ServerConnection::OnRequestHead(RequestHead&& head, const Parser::Framing& framing) {
  phase_ = Phase::kActive;
  request_keep_alive_ = framing.keep_alive;
  request_has_body_ = framing.has_body;
  request_version_minor_ = head.version_minor;
  head_request_ = head.method == "HEAD";
  last_activity_ = dispatcher_.LoopTime();
  ArmTimer(limits_.stream_idle_timeout);

  if (framing.content_length.value_or(0) > limits_.max_request_body_bytes) {
    FailRequest(
        413, "invalid_request",
        absl::StrCat("request body larger than ", limits_.max_request_body_bytes, " bytes"));
    return;
  }
  // RFC 9110 section 10.1.1: the gateway reads the body itself, so it answers the expectation
  // itself rather than passing it on.
  if (head.headers.Remove("expect") > 0 && request_has_body_ && head.version_minor >= 1) {
    WriteOut("HTTP/1.1 100 Continue\r\n\r\n");
  }
  stream_ = factory_(*this);
  stream_->OnHeaders(std::move(head), !request_has_body_);
}

void ServerConnection::OnBody(absl::string_view data) {
  if (phase_ != Phase::kActive) {
    return;
  }
  body_bytes_ += data.size();
  if (body_bytes_ > limits_.max_request_body_bytes) {
    FailRequest(
        413, "invalid_request",
        absl::StrCat("request body larger than ", limits_.max_request_body_bytes, " bytes"));
    return;
  }
  if (stream_ != nullptr) {
    stream_->OnData(data, /*end_stream=*/false);
  }
  // Without a stream the response went out before the body ended: the rest is read and dropped.
}

void ServerConnection::OnMessageComplete() {
  request_complete_ = true;
  if (phase_ != Phase::kActive) {
    return;
  }
  if (request_has_body_ && stream_ != nullptr) {
    stream_->OnData(absl::string_view(), /*end_stream=*/true);
    if (phase_ != Phase::kActive) {
      return;
    }
  }
  if (response_complete_) {
    FinishRequest();
  } else {
    UpdateParserPause();  // a pipelined request waits until this response is complete
  }
}

void ServerConnection::UpdateParserPause() {
  const bool hold = read_disabled_by_stream_ || phase_ == Phase::kClosing ||
                    phase_ == Phase::kClosed || (phase_ == Phase::kActive && request_complete_);
  if (hold) {
    if (!parser_.paused()) {
      parser_.Pause();
    }
    return;
  }
  if (parser_.paused()) {
    parser_.Resume();
    read_hold_.Release(bev_.get());
    ParseInput();
  }
}

void ServerConnection::EncodeHeaders(ResponseHead head, bool end_stream) {
  if (phase_ != Phase::kActive || response_started_) {
    return;
  }
  // Framing is the connection's business (RFC 9112 sections 6 and 9.6). One pass drops its
  // fields and notes whether a length came.
  bool has_length = false;
  head.headers.RetainIf([&has_length](absl::string_view name) {
    has_length = has_length || SameFieldName(name, "content-length");
    return !SameFieldName(name, "transfer-encoding") && !SameFieldName(name, "connection") &&
           !SameFieldName(name, "keep-alive");
  });
  head.version_minor = 1;
  const bool bodyless_status = head.status / 100 == 1 || head.status == 204 || head.status == 304;

  if (const std::string* length = has_length ? head.headers.Get("content-length") : nullptr) {
    uint64_t value = 0;
    if (!absl::SimpleAtoi(*length, &value)) {
      log::Error(absl::StrCat("a filter sent an invalid Content-Length for ", peer_.ToString()));
      FailRequest(500, "server_error", "the gateway built an invalid response");
      return;
    }
    response_has_length_ = true;
    response_remaining_ = value;
  } else if (end_stream) {
    if (!bodyless_status) {
      head.headers.AddVouched("Content-Length", "0");
    }
    response_has_length_ = true;
  } else if (!bodyless_status && !head_request_) {
    if (request_version_minor_ >= 1) {
      head.headers.AddVouched("Transfer-Encoding", "chunked");
      response_chunked_ = true;
    } else {
      close_after_response_ = true;  // an HTTP/1.0 body ends with the connection
    }
  }
  if (!request_keep_alive_ || draining_) {
    close_after_response_ = true;
  }
  if (close_after_response_) {
    head.headers.AddVouched("Connection", "close");
  } else if (request_version_minor_ == 0) {
    head.headers.AddVouched("Connection", "keep-alive");
  }

  evbuffer* output = bufferevent_get_output(bev_.get());
  if (absl::Status status = EncodeResponseHead(head, output); !status.ok()) {
    log::Error(
        absl::StrCat("refused a response header for ", peer_.ToString(), ": ", status.message()));
    FailRequest(500, "server_error", "the gateway built an invalid response");
    return;
  }
  response_started_ = true;
  last_activity_ = dispatcher_.LoopTime();
  Queued();
  if (end_stream) {
    OnResponseComplete();
  }
}

void ServerConnection::EncodeData(absl::string_view data, bool end_stream) {
  if (phase_ != Phase::kActive || !response_started_ || response_complete_) {
    return;
  }
  evbuffer* output = bufferevent_get_output(bev_.get());
  if (!head_request_ && !data.empty()) {
    if (response_has_length_) {
      if (data.size() > response_remaining_) {
        log::Error(absl::StrCat("response body for ", peer_.ToString(),
                                " is longer than its Content-Length; closing"));
        Close(StreamEnd::kReset);
        return;
      }
      response_remaining_ -= data.size();
      evbuffer_add(output, data.data(), data.size());
    } else if (response_chunked_) {
      EncodeChunk(data, output);
    } else {
      evbuffer_add(output, data.data(), data.size());
    }
  }
  last_activity_ = dispatcher_.LoopTime();
  Queued();
  if (end_stream) {
    if (response_chunked_) {
      EncodeLastChunk(output);
    }
    if (response_has_length_ && response_remaining_ != 0 && !head_request_) {
      // Shorter than announced: only closing tells the client the body was cut.
      close_after_response_ = true;
    }
    OnResponseComplete();
  }
}

void ServerConnection::OnResponseComplete() {
  response_complete_ = true;
  if (close_after_response_) {
    phase_ = Phase::kClosing;
    EndStream(StreamEnd::kComplete);
    CloseAfterFlush();
    return;
  }
  if (request_complete_) {
    FinishRequest();
    return;
  }
  if (request_has_body_) {
    // Answered before the body ended (a 401 to an upload, say). Closing now could reset the
    // connection under the client's feet before it reads the answer (RFC 9112 section 9.6), so
    // the rest of the body is read and dropped, bounded by the body limit and the stream idle
    // timeout, and OnMessageComplete() then finishes the request as usual.
    EndStream(StreamEnd::kComplete);
    read_disabled_by_stream_ = false;
    ArmTimer(limits_.idle_timeout);
    UpdateParserPause();
    return;
  }
  // Otherwise the request has no body and its end is being parsed right now;
  // OnMessageComplete() finishes it.
}

void ServerConnection::FinishRequest() {
  EndStream(StreamEnd::kComplete);
  phase_ = Phase::kIdle;
  read_disabled_by_stream_ = false;
  if (draining_) {
    CloseAfterFlush();
    return;
  }
  ArmTimer(limits_.idle_timeout);
  UpdateParserPause();  // parse the next pipelined request, if one waits
}

void ServerConnection::ReadDisable(bool disable) {
  read_disabled_by_stream_ = disable;
  UpdateParserPause();
}

size_t ServerConnection::BufferedBytes() const {
  return evbuffer_get_length(bufferevent_get_output(bev_.get()));
}

void ServerConnection::Queued() {
  ScheduleWrite();
  CheckHighWatermark();
}

void ServerConnection::ScheduleWrite() {
  if (writer_ != nullptr) {
    writer_->Schedule();
  } else if (bev_ != nullptr) {
    Dispatcher::WriteTlsOutputSoon(bev_.get());
  }
}

void ServerConnection::CheckHighWatermark() {
  if (!above_high_watermark_ && BufferedBytes() > limits_.buffer_bytes) {
    above_high_watermark_ = true;
    if (stream_ != nullptr) {
      stream_->OnWatermark(true);
    }
  }
}

void ServerConnection::WriteOut(absl::string_view data) {
  evbuffer_add(bufferevent_get_output(bev_.get()), data.data(), data.size());
  ScheduleWrite();
}

void ServerConnection::Reset() { Close(StreamEnd::kReset); }

void ServerConnection::EndStream(StreamEnd reason) {
  if (stream_ == nullptr) {
    return;
  }
  std::unique_ptr<ServerStream> stream = std::move(stream_);
  stream->OnEnd(reason);
  dispatcher_.DeferredDelete(std::move(stream));
}

void ServerConnection::FailRequest(int status, absl::string_view error,
                                   absl::string_view description) {
  if (phase_ == Phase::kClosing || phase_ == Phase::kClosed) {
    return;
  }
  if (response_started_) {
    Close(StreamEnd::kProtocolError);  // too late for an error reply: cut the connection
    return;
  }
  phase_ = Phase::kClosing;
  EndStream(StreamEnd::kProtocolError);
  LocalReply reply = ErrorReply(status, error, description);
  ResponseHead head;
  head.status = reply.status;
  head.headers = std::move(reply.headers);
  head.headers.Add("Content-Type", reply.content_type);
  head.headers.Add("Content-Length", absl::StrCat(reply.body.size()));
  head.headers.Add("Connection", "close");
  evbuffer* output = bufferevent_get_output(bev_.get());
  if (EncodeResponseHead(head, output).ok()) {
    evbuffer_add(output, reply.body.data(), reply.body.size());
  }
  CloseAfterFlush();
}

void ServerConnection::CloseAfterFlush() {
  if (phase_ == Phase::kClosed) {
    return;
  }
  phase_ = Phase::kClosing;
  EndStream(StreamEnd::kComplete);
  parser_.Pause();
  read_hold_.Release(bev_.get());  // what the client still sends is read and dropped
  ArmTimer(limits_.idle_timeout);
  if (BufferedBytes() == 0) {
    Close(StreamEnd::kComplete);
    return;
  }
  // The write callback now fires when the output is empty.
  bufferevent_setwatermark(bev_.get(), EV_WRITE, 0, 0);
  ScheduleWrite();
}

void ServerConnection::StartDrain() {
  draining_ = true;
  if (phase_ == Phase::kIdle) {
    CloseAfterFlush();
  }
}

void ServerConnection::Close(StreamEnd reason) {
  if (phase_ == Phase::kClosed) {
    return;
  }
  phase_ = Phase::kClosed;
  timer_->Disable();
  if (writer_ != nullptr) {
    writer_->Stop();
  }
  parser_.Pause();
  EndStream(reason);
  // A TLS connection that ends in order says so (close_notify, RFC 8446 section 6.1): a response
  // whose end is the connection's end is then known to be whole. Written only once everything
  // before it is out, never while OpenSSL retries a write.
  SSL* ssl = bufferevent_openssl_get_ssl(bev_.get());
  if (ssl != nullptr && reason != StreamEnd::kClientGone && SSL_is_init_finished(ssl) != 0 &&
      BufferedBytes() == 0) {
    SSL_shutdown(ssl);
    ERR_clear_error();
  }
  // The bufferevent (and the socket) is freed with this object, after the current callback has
  // unwound: code up the stack may still hold its buffers.
  bufferevent_disable(bev_.get(), EV_READ | EV_WRITE);
  bufferevent_setcb(bev_.get(), nullptr, nullptr, nullptr, nullptr);
  owner_.OnConnectionClosed(*this);
}

}  // namespace gateway::http

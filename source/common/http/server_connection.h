#pragma once

// One accepted client connection: HTTP/1.1 requests in, responses out, on a bufferevent (plain or
// TLS). It parses one request at a time (pipelined requests wait in the input buffer until the
// response before them is complete), makes a ServerStream for each through the StreamFactory, and
// gives the stream a ResponseEncoder to answer through.
//
// It owns the connection-level rules: keep-alive, response framing (Content-Length, chunked or
// close-delimited), size limits (431, 414, 413), strict framing (400 and close), the header-read,
// idle and stream-idle timeouts, and flow control both ways:
//   * the client's unread output passing `buffer_bytes` tells the stream to stop producing
//     (ServerStream::OnWatermark(true)) until it drains to half of that;
//   * a stream that cannot take more request body calls ReadDisable(true), which stops parsing;
//     the bufferevent then stops reading the socket once `buffer_bytes` of input wait.
// A client that hangs up is noticed at any time, also before a response starts, and the stream is
// ended with StreamEnd::kClientGone.
//
// Lives on one worker's dispatcher thread. Owned by its ServerConnectionOwner, which it tells when
// it has closed; the owner then destroys it through DeferredDelete.

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "source/common/http/direct_writer.h"
#include "source/common/http/message.h"
#include "source/common/http/parser.h"
#include "source/common/http/read_hold.h"
#include "source/common/net.h"
#include "source/dispatcher.h"

namespace gateway::http {

struct ConnectionLimits {
  Parser::Limits parser;
  uint64_t max_request_body_bytes = 1024 * 1024;  // → 413
  size_t buffer_bytes = 256 * 1024;               // per-direction high watermark
  absl::Duration header_timeout = absl::Seconds(10);
  absl::Duration idle_timeout = absl::Seconds(60);
  absl::Duration stream_idle_timeout = absl::Hours(1);
};

// Why a stream ended.
enum class StreamEnd {
  kComplete,       // the response was sent in full
  kClientGone,     // the client closed or reset the connection
  kTimeout,        // a timeout closed the connection
  kProtocolError,  // the client broke HTTP framing or a limit
  kReset,          // the stream itself called Reset()
  kShutdown,       // the server stopped before the stream finished
};
const char* StreamEndName(StreamEnd reason);

// The way back to the client, handed to the stream of the current request.
class ResponseEncoder {
 public:
  virtual ~ResponseEncoder() = default;
  // Sends the response head. Framing headers are the connection's: a Content-Length given in
  // `head` is kept (and the body must match it); otherwise the body is chunked (HTTP/1.1 clients)
  // or ends with the connection (HTTP/1.0). Transfer-Encoding, Connection and Keep-Alive in `head`
  // are replaced. A header with CR, LF or NUL turns the reply into a 500.
  virtual void EncodeHeaders(ResponseHead head, bool end_stream) = 0;
  // Sends a piece of the body; `end_stream` ends the response.
  virtual void EncodeData(absl::string_view data, bool end_stream) = 0;
  // Stops (true) or resumes (false) delivering the request body.
  virtual void ReadDisable(bool disable) = 0;
  // Bytes accepted for the client and not yet sent.
  virtual size_t BufferedBytes() const = 0;
  // Closes the connection at once; the stream is then ended with StreamEnd::kReset.
  virtual void Reset() = 0;
  virtual bool response_started() const = 0;
  virtual const Address& peer() const = 0;
};

// Handles one request. Owned by the connection and destroyed (deferred) after OnEnd().
class ServerStream : public DeferredDeletable {
 public:
  // The request head arrived; `end_stream` if the request has no body.
  virtual void OnHeaders(RequestHead&& head, bool end_stream) = 0;
  // A piece of the request body; `end_stream` on the last (which may be empty).
  virtual void OnData(absl::string_view data, bool end_stream) = 0;
  // The client's unsent output passed the high watermark (true) or drained below the low (false).
  virtual void OnWatermark(bool above) = 0;
  // Called exactly once, last: the response is complete or the stream was cut short. The encoder
  // must not be used after this returns.
  virtual void OnEnd(StreamEnd reason) = 0;
};

using StreamFactory = std::function<std::unique_ptr<ServerStream>(ResponseEncoder& encoder)>;

class ServerConnection;

class ServerConnectionOwner {
 public:
  virtual ~ServerConnectionOwner() = default;
  // The connection has closed; the owner destroys it through DeferredDelete.
  virtual void OnConnectionClosed(ServerConnection& connection) = 0;
};

class ServerConnection : public ResponseEncoder,
                         public DeferredDeletable,
                         private Parser::Callbacks {
 public:
  ServerConnection(Dispatcher& dispatcher, BufferEventPtr bev, const Address& peer,
                   const ConnectionLimits& limits, StreamFactory factory,
                   ServerConnectionOwner& owner);
  ~ServerConnection() override;

  // Graceful stop: an idle connection closes now; a busy one closes after its current response,
  // which carries "Connection: close".
  void StartDrain();
  // Closes now; a stream in progress ends with `reason`.
  void Close(StreamEnd reason);

  // ResponseEncoder
  void EncodeHeaders(ResponseHead head, bool end_stream) override;
  void EncodeData(absl::string_view data, bool end_stream) override;
  void ReadDisable(bool disable) override;
  size_t BufferedBytes() const override;
  void Reset() override;
  bool response_started() const override { return response_started_; }
  const Address& peer() const override { return peer_; }

 private:
  enum class Phase { kIdle, kReadingHead, kActive, kClosing, kClosed };

  // Parser::Callbacks
  void OnMessageBegin() override;
  void OnRequestHead(RequestHead&& head, const Parser::Framing& framing) override;
  void OnBody(absl::string_view data) override;
  void OnMessageComplete() override;

  static void OnReadTrampoline(bufferevent* bev, void* arg);
  static void OnWriteTrampoline(bufferevent* bev, void* arg);
  static void OnEventTrampoline(bufferevent* bev, short events, void* arg);
  void OnRead();
  void OnWrite();
  void OnEvent(short events);
  void OnTimer();
  // A TLS connection's error: logged at debug; plain HTTP sent to the TLS port gets a plain 400.
  void OnTlsError();

  void ParseInput();
  void UpdateParserPause();
  void OnResponseComplete();
  void FinishRequest();
  // Answers with a JSON error and closes (after the bytes are out), ending any stream.
  void FailRequest(int status, absl::string_view error, absl::string_view description);
  void EndStream(StreamEnd reason);
  void CloseAfterFlush();
  void WriteOut(absl::string_view data);
  // Output was queued: written this turn of the loop (plain sockets), and the watermark checked.
  void Queued();
  // Plain sockets: writes what is queued this turn of the loop (TLS: libevent writes it).
  void ScheduleWrite();
  void CheckHighWatermark();
  void ArmTimer(absl::Duration timeout);
  // In kIdle and kClosing: whether the client took some of its queued output since the last check.
  bool OutputProgressed();

  Dispatcher& dispatcher_;
  BufferEventPtr bev_;
  const Address peer_;
  const ConnectionLimits limits_;
  StreamFactory factory_;
  ServerConnectionOwner& owner_;
  Parser parser_;
  std::unique_ptr<Timer> timer_;
  std::unique_ptr<DirectWriter> writer_;  // plain sockets; TLS output is libevent's to write
  ReadHold read_hold_;
  absl::Duration timer_timeout_;
  MonotonicTime last_activity_;  // Dispatcher::LoopTime() of the last read or write

  Phase phase_ = Phase::kIdle;
  std::unique_ptr<ServerStream> stream_;
  bool draining_ = false;
  // Output still queued when the timer was last armed in kIdle or kClosing: a client that took
  // some of it since is still reading.
  size_t buffered_at_timer_ = 0;

  // The current request.
  bool request_keep_alive_ = true;
  bool request_has_body_ = false;
  bool request_complete_ = false;
  int request_version_minor_ = 1;
  bool head_request_ = false;
  uint64_t body_bytes_ = 0;
  bool read_disabled_by_stream_ = false;

  // The current response.
  bool response_started_ = false;
  bool response_complete_ = false;
  bool response_chunked_ = false;
  bool response_has_length_ = false;
  uint64_t response_remaining_ = 0;
  bool close_after_response_ = false;
  bool above_high_watermark_ = false;
};

}  // namespace gateway::http

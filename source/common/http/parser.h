#pragma once

// HTTP/1.1 message framing for both directions: requests on the listener, responses on upstream
// connections. llhttp (strict mode) does the byte-level work; this class collects the head,
// enforces the size limits and the strict-framing rules, and hands the body on as it arrives, never
// buffered.
//
// Owned by one connection and used on its dispatcher's thread only.

#include <llhttp.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "source/common/http/message.h"

struct evbuffer;

namespace gateway::http {

class Parser {
 public:
  enum class Mode { kRequest, kResponse };

  struct Limits {
    size_t max_header_bytes = 32 * 1024;  // request line + all header lines → 431
    size_t max_uri_bytes = 8 * 1024;      // request-target → 414
  };

  enum class Error {
    kNone,
    kMalformed,         // 400
    kHeaderTooLarge,    // 431
    kUriTooLong,        // 414
    kAmbiguousFraming,  // 400: Content-Length with Transfer-Encoding, conflicting lengths
    kUnexpectedEof,     // the peer closed in the middle of a message
  };

  // How the body of the message is delimited (RFC 9112 section 6).
  struct Framing {
    bool chunked = false;
    std::optional<uint64_t> content_length;
    // Whether the connection may carry another message after this one (RFC 9112 section 9.3).
    bool keep_alive = true;
    // A response body that ends when the connection closes.
    bool until_close = false;
    // Whether any body bytes follow the head.
    bool has_body = false;
  };

  class Callbacks {
   public:
    virtual ~Callbacks() = default;
    // The first byte of a new message arrived.
    virtual void OnMessageBegin() = 0;
    // The head is complete. Only the one matching the parser's mode is called. The callee may
    // Pause() the parser.
    virtual void OnRequestHead(RequestHead&& /*head*/, const Framing& /*framing*/) {}
    virtual void OnResponseHead(ResponseHead&& /*head*/, const Framing& /*framing*/) {}
    // A piece of the body, in order; `data` is valid during the call only.
    virtual void OnBody(absl::string_view data) = 0;
    // The message ended (after its last body byte, or after the head if it has no body).
    virtual void OnMessageComplete() = 0;
  };

  Parser(Mode mode, const Limits& limits, Callbacks& callbacks);
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // Parses what `input` holds and drains the bytes consumed, then the bytes a read offered in
  // place for it (Dispatcher::OfferedInput()). Stops early when paused (the rest stays in, or
  // joins, `input` for a later call) or on an error (error() tells; the parser is then done).
  void Dispatch(evbuffer* input);
  // The peer closed its side. Ends a body delimited by close; returns false (and sets
  // kUnexpectedEof) if a message was cut short.
  bool OnEof();

  // Stops delivering callbacks after the current one; bytes stay in the input buffer.
  void Pause();
  void Resume();
  bool paused() const { return paused_; }

  // Response mode: the next response answers a HEAD request, so it has no body whatever its
  // headers say (RFC 9110 section 9.3.2).
  void set_expect_head_response(bool head) { expect_head_response_ = head; }

  // True between a message's first byte and its end.
  bool in_message() const { return in_message_; }
  Error error() const { return error_; }
  const std::string& error_detail() const { return error_detail_; }

 private:
  static int OnMessageBeginTrampoline(llhttp_t* parser);
  static int OnUrlTrampoline(llhttp_t* parser, const char* at, size_t length);
  static int OnStatusTrampoline(llhttp_t* parser, const char* at, size_t length);
  static int OnHeaderFieldTrampoline(llhttp_t* parser, const char* at, size_t length);
  static int OnHeaderValueTrampoline(llhttp_t* parser, const char* at, size_t length);
  static int OnHeaderValueCompleteTrampoline(llhttp_t* parser);
  static int OnHeadersCompleteTrampoline(llhttp_t* parser);
  static int OnBodyTrampoline(llhttp_t* parser, const char* at, size_t length);
  static int OnMessageCompleteTrampoline(llhttp_t* parser);

  int OnMessageBegin();
  int OnHeaderBytes(size_t length);
  int OnUrl(const char* at, size_t length);
  // The field being parsed, added to the head's map at its first byte.
  HeaderMap::Entry& Field();
  int OnHeaderField(const char* at, size_t length);
  int OnHeaderValue(const char* at, size_t length);
  int OnHeaderValueComplete();
  int OnHeadersComplete();
  int OnBody(const char* at, size_t length);
  int OnMessageComplete();
  // What a callback that called ours returns to llhttp: -1 after a failure, HPE_PAUSED when the
  // callee paused (llhttp must not be paused from inside a callback), else 0.
  int Continue() const;
  int Fail(Error error, std::string detail);
  // Runs llhttp over `length` bytes; answers how many it consumed and records its stop.
  size_t Execute(const char* data, size_t length);

  const Mode mode_;
  const Limits limits_;
  Callbacks& callbacks_;
  llhttp_t parser_;
  llhttp_settings_t settings_;

  // The head being collected.
  RequestHead request_;
  ResponseHead response_;
  // The field being parsed, in the head's map; null between fields.
  HeaderMap::Entry* field_ = nullptr;
  size_t header_bytes_ = 0;

  bool in_message_ = false;
  bool paused_ = false;
  bool dispatching_ = false;
  // llhttp stopped because a callback paused it, and resumes at the step after that callback.
  bool stopped_in_callback_ = false;
  bool expect_head_response_ = false;
  Error error_ = Error::kNone;
  std::string error_detail_;
};

}  // namespace gateway::http

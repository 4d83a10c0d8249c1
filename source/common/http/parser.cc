#include "source/common/http/parser.h"

#include <event2/buffer.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace gateway::http {
namespace {

// Fields a message usually has (the MCP clients' requests carry 6 to 12).
constexpr size_t kUsualFieldCount = 16;

}  // namespace

Parser::Parser(Mode mode, const Limits& limits, Callbacks& callbacks)
    : mode_(mode), limits_(limits), callbacks_(callbacks) {
  http_parser_settings_init(&settings_);
  settings_.on_message_begin = &Parser::OnMessageBeginTrampoline;
  settings_.on_url = &Parser::OnUrlTrampoline;
  settings_.on_status = &Parser::OnStatusTrampoline;
  settings_.on_header_field = &Parser::OnHeaderFieldTrampoline;
  settings_.on_header_value = &Parser::OnHeaderValueTrampoline;
  settings_.on_headers_complete = &Parser::OnHeadersCompleteTrampoline;
  settings_.on_body = &Parser::OnBodyTrampoline;
  settings_.on_message_complete = &Parser::OnMessageCompleteTrampoline;
  Reset();
}

void Parser::Reset() {
  http_parser_init(&parser_, mode_ == Mode::kRequest ? HTTP_REQUEST : HTTP_RESPONSE);
  parser_.data = this;
  if (paused_) {
    http_parser_pause(&parser_, 1);
  }
}

void Parser::Dispatch(evbuffer* input) {
  if (dispatching_) {
    return;  // resumed from inside a callback: the loop below carries on
  }
  dispatching_ = true;
  while (error_ == Error::kNone && !paused_ && evbuffer_get_length(input) > 0) {
    evbuffer_iovec chunk;
    evbuffer_peek(input, -1, nullptr, &chunk, 1);
    const size_t consumed = http_parser_execute(
        &parser_, &settings_, static_cast<const char*>(chunk.iov_base), chunk.iov_len);
    evbuffer_drain(input, consumed);
    const http_errno status = HTTP_PARSER_ERRNO(&parser_);
    if (error_ != Error::kNone) {
      break;  // one of our callbacks refused the message
    }
    if (status != HPE_OK && status != HPE_PAUSED) {
      switch (status) {
        case HPE_UNEXPECTED_CONTENT_LENGTH:
        case HPE_INVALID_CONTENT_LENGTH:
        case HPE_INVALID_TRANSFER_ENCODING:
          Fail(Error::kAmbiguousFraming, http_errno_description(status));
          break;
        case HPE_HEADER_OVERFLOW:
          Fail(Error::kHeaderTooLarge, "header section too large");
          break;
        default:
          Fail(Error::kMalformed, http_errno_description(status));
          break;
      }
      break;
    }
    if (parser_.upgrade) {
      // The peer asked to switch protocols (RFC 9110 section 7.8). The gateway speaks HTTP/1.1
      // only and ignores the offer, so the next bytes are parsed as the next HTTP/1.1 message,
      // once this one has ended: http_parser flags the upgrade as soon as the head is parsed,
      // and a read that ends (or a pause) before the body does must not turn the body into
      // requests of its own.
      if (mode_ == Mode::kResponse || parser_.method == HTTP_CONNECT) {
        Fail(Error::kMalformed, "protocol upgrade and CONNECT are not supported");
        break;
      }
      if (!in_message_) {
        Reset();
        continue;
      }
    }
    if (consumed == 0 && status == HPE_OK) {
      break;
    }
  }
  dispatching_ = false;
}

bool Parser::OnEof() {
  if (error_ != Error::kNone) {
    return false;
  }
  if (paused_) {
    http_parser_pause(&parser_, 0);
  }
  http_parser_execute(&parser_, &settings_, nullptr, 0);
  if (error_ == Error::kNone && in_message_) {
    Fail(Error::kUnexpectedEof, "connection closed in the middle of a message");
  }
  return error_ == Error::kNone;
}

void Parser::Pause() {
  paused_ = true;
  if (error_ == Error::kNone) {
    http_parser_pause(&parser_, 1);
  }
}

void Parser::Resume() {
  paused_ = false;
  if (error_ == Error::kNone) {
    http_parser_pause(&parser_, 0);
  }
}

int Parser::Fail(Error error, std::string detail) {
  if (error_ == Error::kNone) {
    error_ = error;
    error_detail_ = std::move(detail);
  }
  return 1;  // a non-zero return makes http_parser stop with HPE_CB_*
}

int Parser::OnMessageBegin() {
  in_message_ = true;
  request_ = RequestHead();
  response_ = ResponseHead();
  // Room for a usual message's fields at once, not grown field by field.
  (mode_ == Mode::kRequest ? request_.headers : response_.headers).reserve(kUsualFieldCount);
  field_.clear();
  value_.clear();
  in_value_ = false;
  header_bytes_ = 0;
  callbacks_.OnMessageBegin();
  return 0;
}

int Parser::OnHeaderBytes(size_t length) {
  header_bytes_ += length;
  if (header_bytes_ > limits_.max_header_bytes) {
    return Fail(Error::kHeaderTooLarge,
                absl::StrCat("header section larger than ", limits_.max_header_bytes, " bytes"));
  }
  return 0;
}

int Parser::OnUrl(const char* at, size_t length) {
  request_.target.append(at, length);
  if (request_.target.size() > limits_.max_uri_bytes) {
    return Fail(Error::kUriTooLong,
                absl::StrCat("request-target longer than ", limits_.max_uri_bytes, " bytes"));
  }
  return OnHeaderBytes(length);
}

int Parser::OnHeaderField(const char* at, size_t length) {
  HeaderMap& headers = mode_ == Mode::kRequest ? request_.headers : response_.headers;
  if (in_value_) {
    headers.Add(field_, absl::StripTrailingAsciiWhitespace(value_));
    field_.clear();
    value_.clear();
    in_value_ = false;
  }
  field_.append(at, length);
  return OnHeaderBytes(length);
}

int Parser::OnHeaderValue(const char* at, size_t length) {
  in_value_ = true;
  value_.append(at, length);
  return OnHeaderBytes(length);
}

int Parser::OnHeadersComplete() {
  HeaderMap& headers = mode_ == Mode::kRequest ? request_.headers : response_.headers;
  if (in_value_ || !field_.empty()) {
    headers.Add(field_, absl::StripTrailingAsciiWhitespace(value_));
    field_.clear();
    value_.clear();
    in_value_ = false;
  }
  if (parser_.http_major != 1) {
    return Fail(Error::kMalformed, "only HTTP/1.0 and HTTP/1.1 are spoken here");
  }

  // Strict framing (RFC 9112 section 6.3): a message with both Content-Length and
  // Transfer-Encoding, several Content-Length fields, or a transfer coding other than a lone
  // "chunked" is how requests are smuggled past a proxy. http_parser refuses most of these
  // itself; checking the collected fields as well costs nothing and does not depend on its
  // version.
  const size_t content_lengths = headers.Count("content-length");
  const size_t transfer_encodings = headers.Count("transfer-encoding");
  if (content_lengths > 1) {
    return Fail(Error::kAmbiguousFraming, "more than one Content-Length");
  }
  if (transfer_encodings > 0) {
    if (content_lengths > 0) {
      return Fail(Error::kAmbiguousFraming, "both Content-Length and Transfer-Encoding");
    }
    if (transfer_encodings > 1 ||
        !absl::EqualsIgnoreCase(*headers.Get("transfer-encoding"), "chunked")) {
      return Fail(Error::kAmbiguousFraming, "a Transfer-Encoding other than chunked");
    }
  }

  Framing framing;
  framing.chunked = (parser_.flags & F_CHUNKED) != 0;
  if ((parser_.flags & F_CONTENTLENGTH) != 0) {
    framing.content_length = parser_.content_length;
  }
  int result = 0;
  if (mode_ == Mode::kRequest) {
    framing.keep_alive = http_should_keep_alive(&parser_) != 0;
    framing.has_body = framing.chunked || framing.content_length.value_or(0) > 0;
    request_.method = http_method_str(static_cast<http_method>(parser_.method));
    request_.version_minor = parser_.http_minor;
    SplitTarget(request_);
    callbacks_.OnRequestHead(std::move(request_), framing);
  } else {
    const int status = parser_.status_code;
    const bool bodyless =
        expect_head_response_ || status / 100 == 1 || status == 204 || status == 304;
    if (bodyless) {
      result = 1;  // tells http_parser there is no body to read
      framing.has_body = false;
    } else {
      framing.until_close = !framing.chunked && !framing.content_length.has_value();
      framing.has_body =
          framing.chunked || framing.until_close || framing.content_length.value_or(0) > 0;
    }
    framing.keep_alive = !framing.until_close && http_should_keep_alive(&parser_) != 0;
    response_.status = status;
    response_.version_minor = parser_.http_minor;
    callbacks_.OnResponseHead(std::move(response_), framing);
  }
  return error_ == Error::kNone ? result : 1;
}

int Parser::OnMessageComplete() {
  in_message_ = false;
  callbacks_.OnMessageComplete();
  return error_ == Error::kNone ? 0 : 1;
}

int Parser::OnMessageBeginTrampoline(http_parser* parser) {
  return static_cast<Parser*>(parser->data)->OnMessageBegin();
}
int Parser::OnUrlTrampoline(http_parser* parser, const char* at, size_t length) {
  return static_cast<Parser*>(parser->data)->OnUrl(at, length);
}
int Parser::OnStatusTrampoline(http_parser* parser, const char*, size_t length) {
  return static_cast<Parser*>(parser->data)->OnHeaderBytes(length);
}
int Parser::OnHeaderFieldTrampoline(http_parser* parser, const char* at, size_t length) {
  return static_cast<Parser*>(parser->data)->OnHeaderField(at, length);
}
int Parser::OnHeaderValueTrampoline(http_parser* parser, const char* at, size_t length) {
  return static_cast<Parser*>(parser->data)->OnHeaderValue(at, length);
}
int Parser::OnHeadersCompleteTrampoline(http_parser* parser) {
  return static_cast<Parser*>(parser->data)->OnHeadersComplete();
}
int Parser::OnBodyTrampoline(http_parser* parser, const char* at, size_t length) {
  auto* self = static_cast<Parser*>(parser->data);
  self->callbacks_.OnBody(absl::string_view(at, length));
  return self->error_ == Error::kNone ? 0 : 1;
}
int Parser::OnMessageCompleteTrampoline(http_parser* parser) {
  return static_cast<Parser*>(parser->data)->OnMessageComplete();
}

}  // namespace gateway::http

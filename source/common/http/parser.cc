#include "source/common/http/parser.h"

#include <event2/buffer.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "source/dispatcher.h"

namespace gateway::http {
namespace {

// Fields a message usually has (the MCP clients' requests carry 6 to 12).
constexpr size_t kUsualFieldCount = 16;

}  // namespace

Parser::Parser(Mode mode, const Limits& limits, Callbacks& callbacks)
    : mode_(mode), limits_(limits), callbacks_(callbacks) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = &Parser::OnMessageBeginTrampoline;
  settings_.on_url = &Parser::OnUrlTrampoline;
  settings_.on_status = &Parser::OnStatusTrampoline;
  settings_.on_header_field = &Parser::OnHeaderFieldTrampoline;
  settings_.on_header_value = &Parser::OnHeaderValueTrampoline;
  settings_.on_header_value_complete = &Parser::OnHeaderValueCompleteTrampoline;
  settings_.on_headers_complete = &Parser::OnHeadersCompleteTrampoline;
  settings_.on_body = &Parser::OnBodyTrampoline;
  settings_.on_message_complete = &Parser::OnMessageCompleteTrampoline;
  llhttp_init(&parser_, mode_ == Mode::kRequest ? HTTP_REQUEST : HTTP_RESPONSE, &settings_);
  parser_.data = this;
}

void Parser::Dispatch(evbuffer* input) {
  if (dispatching_) {
    return;  // resumed from inside a callback: the loop below carries on
  }
  dispatching_ = true;
  while (error_ == Error::kNone && !paused_) {
    const size_t buffered = evbuffer_get_length(input);
    if (buffered == 0) {
      // The bytes just read, when the read offers them where they are (they follow the input).
      const absl::string_view offered = Dispatcher::OfferedInput(input);
      if (!offered.empty()) {
        Dispatcher::TakeOffered(Execute(offered.data(), offered.size()));
        continue;
      }
      // A parser paused in a callback may have steps left that read no byte (the end of a
      // bodyless message after its head): they run now, not when the next byte comes.
      if (stopped_in_callback_) {
        Execute("", 0);
      }
      break;
    }
    evbuffer_iovec chunk;
    evbuffer_peek(input, -1, nullptr, &chunk, 1);
    evbuffer_drain(input, Execute(static_cast<const char*>(chunk.iov_base), chunk.iov_len));
  }
  // Paused or failed: offered bytes not parsed wait in the input like any others.
  Dispatcher::KeepOffered(input);
  dispatching_ = false;
}

size_t Parser::Execute(const char* data, size_t length) {
  stopped_in_callback_ = false;
  const llhttp_errno_t status = llhttp_execute(&parser_, data, length);
  if (status == HPE_OK) {
    return length;
  }
  // Stopped by a callback or at an error: the bytes from there on are not consumed.
  const char* stop = llhttp_get_error_pos(&parser_);
  const size_t consumed = stop != nullptr ? static_cast<size_t>(stop - data) : 0;
  if (error_ != Error::kNone) {
    return consumed;  // one of our callbacks refused the message
  }
  if (status == HPE_PAUSED) {
    stopped_in_callback_ = true;
    if (!paused_) {
      llhttp_resume(&parser_);
    }
    return consumed;
  }
  const char* reason = llhttp_get_error_reason(&parser_);
  std::string detail = reason != nullptr ? reason : llhttp_errno_name(status);
  switch (status) {
    case HPE_UNEXPECTED_CONTENT_LENGTH:
    case HPE_INVALID_CONTENT_LENGTH:
    case HPE_INVALID_TRANSFER_ENCODING:
      Fail(Error::kAmbiguousFraming, std::move(detail));
      break;
    default:
      // HPE_PAUSED_UPGRADE and HPE_PAUSED_H2_UPGRADE among them: the gateway speaks HTTP/1.1.
      Fail(Error::kMalformed, std::move(detail));
      break;
  }
  return consumed;
}

bool Parser::OnEof() {
  if (error_ != Error::kNone) {
    return false;
  }
  // llhttp_finish() does nothing on a paused parser, and cannot run the steps a pause left.
  llhttp_resume(&parser_);
  if (stopped_in_callback_) {
    Execute("", 0);
    llhttp_resume(&parser_);
  }
  if (error_ == Error::kNone) {
    const llhttp_errno_t status = llhttp_finish(&parser_);
    if (error_ == Error::kNone && (in_message_ || status == HPE_INVALID_EOF_STATE)) {
      Fail(Error::kUnexpectedEof, "connection closed in the middle of a message");
    }
  }
  return error_ == Error::kNone;
}

void Parser::Pause() { paused_ = true; }

void Parser::Resume() {
  paused_ = false;
  llhttp_resume(&parser_);  // no-op unless a callback paused llhttp
}

int Parser::Continue() const {
  if (error_ != Error::kNone) {
    return -1;
  }
  return paused_ ? HPE_PAUSED : 0;
}

int Parser::Fail(Error error, std::string detail) {
  if (error_ == Error::kNone) {
    error_ = error;
    error_detail_ = std::move(detail);
  }
  return -1;  // makes llhttp stop with an error
}

int Parser::OnMessageBegin() {
  in_message_ = true;
  // Room for a usual message's fields at once, not grown field by field.
  if (mode_ == Mode::kRequest) {
    request_ = RequestHead();
    request_.headers.reserve(kUsualFieldCount);
  } else {
    response_ = ResponseHead();
    response_.headers.reserve(kUsualFieldCount);
  }
  field_ = nullptr;
  header_bytes_ = 0;
  callbacks_.OnMessageBegin();
  return Continue();
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

HeaderMap::Entry& Parser::Field() {
  if (field_ == nullptr) {
    field_ = &(mode_ == Mode::kRequest ? request_.headers : response_.headers).AddEmpty();
  }
  return *field_;
}

// A field's name and value may come in several pieces (a head split across reads).
int Parser::OnHeaderField(const char* at, size_t length) {
  Field().first.append(at, length);
  return OnHeaderBytes(length);
}

int Parser::OnHeaderValue(const char* at, size_t length) {
  Field().second.append(at, length);
  return OnHeaderBytes(length);
}

int Parser::OnHeaderValueComplete() {
  HeaderMap::Entry& field = Field();
  field_ = nullptr;
  if (field.first.empty()) {
    // llhttp lets a line that starts with ':' through as a field with no name (found by the
    // fuzzer); HeaderMap::MarkChecked() needs every name a token.
    return Fail(Error::kMalformed, "a header field with no name");
  }
  // Trailing whitespace is not part of the value (RFC 9112 section 5); it is rare.
  if (!field.second.empty() &&
      absl::ascii_isspace(static_cast<unsigned char>(field.second.back()))) {
    field.second.resize(absl::StripTrailingAsciiWhitespace(field.second).size());
  }
  return 0;
}

int Parser::OnHeadersComplete() {
  HeaderMap& headers = mode_ == Mode::kRequest ? request_.headers : response_.headers;
  // llhttp's strict mode has refused any field name that is not a token and any value with CR,
  // LF or NUL: the encoder need not look at these fields again.
  headers.MarkChecked();
  if (parser_.http_major != 1) {
    return Fail(Error::kMalformed, "only HTTP/1.0 and HTTP/1.1 are spoken here");
  }

  // Strict framing (RFC 9112 section 6.3): a message with both Content-Length and
  // Transfer-Encoding, several Content-Length fields, or a transfer coding other than a lone
  // "chunked" is how requests are smuggled past a proxy. llhttp refuses most of these itself;
  // checking the collected fields as well costs nothing and does not depend on its version.
  size_t content_lengths = 0;
  size_t transfer_encodings = 0;
  for (const HeaderMap::Entry& field : headers) {  // one pass for both names
    content_lengths += SameFieldName(field.first, "content-length") ? 1 : 0;
    transfer_encodings += SameFieldName(field.first, "transfer-encoding") ? 1 : 0;
  }
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

  if (parser_.upgrade != 0) {
    // The peer asked to switch protocols (RFC 9110 section 7.8). The gateway speaks HTTP/1.1
    // only: a request's offer is ignored, so that its body stays its body and the next bytes are
    // the next HTTP/1.1 request; CONNECT and a 101 response cannot be ignored and are refused.
    if (mode_ == Mode::kResponse || parser_.method == HTTP_CONNECT) {
      return Fail(Error::kMalformed, "protocol upgrade and CONNECT are not supported");
    }
    parser_.upgrade = 0;
  }

  Framing framing;
  framing.chunked = (parser_.flags & F_CHUNKED) != 0;
  if ((parser_.flags & F_CONTENT_LENGTH) != 0) {
    framing.content_length = parser_.content_length;
  }
  if (mode_ == Mode::kRequest) {
    framing.keep_alive = llhttp_should_keep_alive(&parser_) != 0;
    framing.has_body = framing.chunked || framing.content_length.value_or(0) > 0;
    request_.method = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
    request_.version_minor = parser_.http_minor;
    SplitTarget(request_);
    callbacks_.OnRequestHead(std::move(request_), framing);
  } else {
    const int status = parser_.status_code;
    const bool bodyless =
        expect_head_response_ || status / 100 == 1 || status == 204 || status == 304;
    if (bodyless) {
      // What returning 1 asks of llhttp, set here because a callback that pauses cannot also
      // return 1.
      parser_.flags |= F_SKIPBODY;
      framing.has_body = false;
    } else {
      framing.until_close = !framing.chunked && !framing.content_length.has_value();
      framing.has_body =
          framing.chunked || framing.until_close || framing.content_length.value_or(0) > 0;
    }
    framing.keep_alive = !framing.until_close && llhttp_should_keep_alive(&parser_) != 0;
    response_.status = status;
    response_.version_minor = parser_.http_minor;
    callbacks_.OnResponseHead(std::move(response_), framing);
  }
  return Continue();
}

int Parser::OnBody(const char* at, size_t length) {
  callbacks_.OnBody(absl::string_view(at, length));
  return Continue();
}

int Parser::OnMessageComplete() {
  in_message_ = false;
  callbacks_.OnMessageComplete();
  return Continue();
}

int Parser::OnMessageBeginTrampoline(llhttp_t* parser) {
  return static_cast<Parser*>(parser->data)->OnMessageBegin();
}
int Parser::OnUrlTrampoline(llhttp_t* parser, const char* at, size_t length) {
  return static_cast<Parser*>(parser->data)->OnUrl(at, length);
}
int Parser::OnStatusTrampoline(llhttp_t* parser, const char*, size_t length) {
  return static_cast<Parser*>(parser->data)->OnHeaderBytes(length);
}
int Parser::OnHeaderFieldTrampoline(llhttp_t* parser, const char* at, size_t length) {
  return static_cast<Parser*>(parser->data)->OnHeaderField(at, length);
}
int Parser::OnHeaderValueTrampoline(llhttp_t* parser, const char* at, size_t length) {
  return static_cast<Parser*>(parser->data)->OnHeaderValue(at, length);
}
int Parser::OnHeaderValueCompleteTrampoline(llhttp_t* parser) {
  return static_cast<Parser*>(parser->data)->OnHeaderValueComplete();
}
int Parser::OnHeadersCompleteTrampoline(llhttp_t* parser) {
  return static_cast<Parser*>(parser->data)->OnHeadersComplete();
}
int Parser::OnBodyTrampoline(llhttp_t* parser, const char* at, size_t length) {
  return static_cast<Parser*>(parser->data)->OnBody(at, length);
}
int Parser::OnMessageCompleteTrampoline(llhttp_t* parser) {
  return static_cast<Parser*>(parser->data)->OnMessageComplete();
}

}  // namespace gateway::http

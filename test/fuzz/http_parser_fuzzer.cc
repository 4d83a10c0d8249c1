// The bytes of a connection, as http::Parser frames them: requests from any client on the
// listener, responses from upstreams ("HTTP/" at the start selects response mode). The input is
// parsed twice, at once and then one byte at a time with the parser paused after every head (as
// a connection pauses it while the chain works); both must see exactly the same messages, since a
// peer chooses how its bytes are split into reads.

#include <event2/buffer.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "source/common/http/headers.h"
#include "source/common/http/parser.h"
#include "test/fuzz/check.h"

namespace {

using gateway::fuzz::Check;
using gateway::http::Parser;

struct EvbufferDeleter {
  void operator()(evbuffer* buffer) const { evbuffer_free(buffer); }
};

// Writes down every callback, so that two parses can be compared.
class Recorder : public Parser::Callbacks {
 public:
  void OnMessageBegin() override { log_ += "begin;"; }
  void OnRequestHead(gateway::http::RequestHead&& head, const Parser::Framing& framing) override {
    absl::StrAppend(&log_, "request ", head.method, " ", head.target, " ", head.path, " ",
                    head.query, " 1.", head.version_minor, ";");
    Head(head.headers, framing);
  }
  void OnResponseHead(gateway::http::ResponseHead&& head, const Parser::Framing& framing) override {
    absl::StrAppend(&log_, "response ", head.status, " 1.", head.version_minor, ";");
    Head(head.headers, framing);
  }
  void OnBody(absl::string_view data) override {
    Check(!data.empty(), "a body piece is not empty");
    body_.append(data.data(), data.size());
  }
  void OnMessageComplete() override {
    absl::StrAppend(&log_, "body ", body_.size(), " ", body_, ";complete;");
    body_.clear();
  }

  std::string& log() { return log_; }
  Parser* parser = nullptr;
  bool pause_after_head = false;

 private:
  void Head(const gateway::http::HeaderMap& headers, const Parser::Framing& framing) {
    // The encoder does not check these fields again (HeaderMap::checked()).
    Check(headers.checked() == headers.size(), "the parser's fields are marked checked");
    for (const auto& [name, value] : headers) {
      Check(gateway::http::IsValidHeaderName(name) && gateway::http::IsValidHeaderValue(value),
            "a field the parser passes is one the encoder would pass");
      absl::StrAppend(&log_, name, ": ", value, ";");
    }
    Check(!(framing.chunked && framing.content_length.has_value()),
          "a message is chunked or has a length, not both");
    absl::StrAppend(&log_, "framing ", framing.chunked, framing.content_length.value_or(0),
                    framing.keep_alive, framing.until_close, framing.has_body, ";");
    if (pause_after_head) {
      parser->Pause();
    }
  }

  std::string log_;
  std::string body_;
};

// Parses `input` in pieces of `piece` bytes (all at once when 0); the record of what was seen.
std::string Parse(absl::string_view input, Parser::Mode mode, size_t piece) {
  Recorder recorder;
  Parser::Limits limits;
  limits.max_header_bytes = 2048;  // small, so that the fuzzer reaches the limits
  limits.max_uri_bytes = 512;
  Parser parser(mode, limits, recorder);
  recorder.parser = &parser;
  recorder.pause_after_head = piece != 0;
  std::unique_ptr<evbuffer, EvbufferDeleter> buffer(evbuffer_new());
  size_t offset = 0;
  do {
    const size_t length = piece == 0 ? input.size() : std::min(piece, input.size() - offset);
    evbuffer_add(buffer.get(), input.data() + offset, length);
    offset += length;
    parser.Dispatch(buffer.get());
    while (parser.paused() && parser.error() == Parser::Error::kNone) {
      parser.Resume();
      parser.Dispatch(buffer.get());
    }
  } while (offset < input.size() && parser.error() == Parser::Error::kNone);
  const bool clean_end = parser.OnEof();
  Check(clean_end == (parser.error() == Parser::Error::kNone), "OnEof tells whether all was well");
  // Which error is reported may differ: a head both too large and malformed is found too large
  // when its bytes come one by one (the size is counted as they arrive) and malformed when they
  // come at once. Both refuse the message.
  absl::StrAppend(&recorder.log(), parser.error() == Parser::Error::kNone ? "ok" : "refused");
  return std::move(recorder.log());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const Parser::Mode mode =
      absl::StartsWith(input, "HTTP/") ? Parser::Mode::kResponse : Parser::Mode::kRequest;
  const std::string at_once = Parse(input, mode, 0);
  const std::string byte_by_byte = Parse(input, mode, 1);
  if (at_once != byte_by_byte) {
    std::fprintf(stderr, "at once:      %s\nbyte by byte: %s\n", at_once.c_str(),
                 byte_by_byte.c_str());
  }
  Check(at_once == byte_by_byte, "the messages do not depend on how the bytes arrive");
  return 0;
}

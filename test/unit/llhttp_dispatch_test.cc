// The two copies of llhttp's state machine (baseline and SSE 4.2, CMakeLists.txt) must parse
// every input alike: the same callbacks with the same bytes, the same errors at the same places,
// however the input is split. A machine runs one of them; this test runs both.

#include "source/common/http/llhttp_dispatch.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace gateway::http {
namespace {

using Execute = int (*)(llhttp__internal_t*, const char*, const char*);

// Writes down every callback and its bytes.
std::string& Log(llhttp_t* parser) { return *static_cast<std::string*>(parser->data); }
int Span(llhttp_t* parser, const char* at, size_t length, const char* name) {
  absl::StrAppend(&Log(parser), name, "[", absl::string_view(at, length), "]");
  return 0;
}
int Event(llhttp_t* parser, const char* name) {
  absl::StrAppend(&Log(parser), name, ";");
  return 0;
}

llhttp_settings_t RecordingSettings() {
  llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  settings.on_message_begin = [](llhttp_t* p) { return Event(p, "begin"); };
  settings.on_url = [](llhttp_t* p, const char* at, size_t n) { return Span(p, at, n, "url"); };
  settings.on_status = [](llhttp_t* p, const char* at, size_t n) { return Span(p, at, n, "st"); };
  settings.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
    return Span(p, at, n, "f");
  };
  settings.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
    return Span(p, at, n, "v");
  };
  settings.on_header_value_complete = [](llhttp_t* p) { return Event(p, "vc"); };
  settings.on_headers_complete = [](llhttp_t* p) { return Event(p, "head"); };
  settings.on_body = [](llhttp_t* p, const char* at, size_t n) { return Span(p, at, n, "b"); };
  settings.on_message_complete = [](llhttp_t* p) { return Event(p, "complete"); };
  return settings;
}

// Parses `input` in pieces of `piece` bytes (0: at once) with one copy; what it saw.
std::string Parse(Execute execute, llhttp_type_t type, const std::string& input, size_t piece) {
  const llhttp_settings_t settings = RecordingSettings();
  llhttp_t parser;
  llhttp_init(&parser, type, &settings);
  std::string log;
  parser.data = &log;
  size_t offset = 0;
  do {
    const size_t length = piece == 0 ? input.size() : std::min(piece, input.size() - offset);
    const char* data = input.data() + offset;
    const int error = execute(&parser, data, data + length);
    offset += length;
    if (error != HPE_OK) {
      absl::StrAppend(&log, "error ", error, " at ", llhttp_get_error_pos(&parser) - input.data());
      return log;
    }
  } while (offset < input.size());
  return absl::StrCat(log, "ok");
}

TEST(LlhttpDispatchTest, BothCopiesParseAlike) {
  if (!LlhttpUsesSse42()) {
    GTEST_SKIP() << "this CPU cannot run the SSE 4.2 copy";
  }
  const std::vector<std::pair<llhttp_type_t, std::string>> inputs = {
      {HTTP_REQUEST,
       "POST /mcp HTTP/1.1\r\nHost: localhost:8002\r\nContent-Type: application/json\r\n"
       "Accept: application/json, text/event-stream\r\nAuthorization: Bearer "
       "Z3dfYWNjZXNzX3Rva2VuXzEyMzQ1Njc4OTA6dXBzdHJlYW1fYWNjZXNzX3Rva2VuX2FiY2RlZmdoaWprbG1u\r\n"
       "Mcp-Session-Id: 4f0c2b8e-8f1d-4a7e-9c3b-2d6e5f7a8b9c\r\nContent-Length: 2\r\n\r\n{}"},
      {HTTP_REQUEST, "GET /a HTTP/1.1\r\nX-Long: " + std::string(300, 'v') + "\tend \r\n\r\n"},
      {HTTP_REQUEST, "GET /a HTTP/1.1\r\nX-Bad: " + std::string(40, 'v') + "\x01tail\r\n\r\n"},
      {HTTP_REQUEST, "GET /a HTTP/1.1\r\nX-Bad: " + std::string(40, 'v') + "\nnext: x\r\n\r\n"},
      {HTTP_REQUEST, "GET /a HTTP/1.1\r\nX-Text: caf\xc3\xa9 " + std::string(20, 'x') + "\r\n\r\n"},
      {HTTP_REQUEST,
       "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
       "GET /b HTTP/1.1\r\n\r\n"},
      {HTTP_RESPONSE,
       "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
       "Mcp-Session-Id: 4f0c2b8e-8f1d-4a7e-9c3b-2d6e5f7a8b9c\r\nContent-Length: 5\r\n\r\nhello"},
  };
  for (const auto& [type, input] : inputs) {
    for (size_t piece : {size_t{0}, size_t{1}, size_t{7}, size_t{64}}) {
      SCOPED_TRACE(absl::StrCat(input.substr(0, 40), " in pieces of ", piece));
      const std::string baseline = Parse(&llhttp__internal_execute_baseline, type, input, piece);
      EXPECT_EQ(baseline, Parse(&llhttp__internal_execute_sse42, type, input, piece));
      EXPECT_FALSE(baseline.empty());
    }
  }
}

}  // namespace
}  // namespace gateway::http

#include "source/common/http/encoder.h"

#include <event2/buffer.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gateway::http {
namespace {

absl::Status CheckHeaders(const HeaderMap& headers) {
  for (const auto& [name, value] : headers) {
    if (!IsValidHeaderName(name)) {
      return absl::InvalidArgumentError(absl::StrCat("invalid header name \"", name, "\""));
    }
    if (!IsValidHeaderValue(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("header ", name, " has a value with CR, LF or NUL"));
    }
  }
  return absl::OkStatus();
}

void AppendHeaders(const HeaderMap& headers, std::string& out) {
  for (const auto& [name, value] : headers) {
    absl::StrAppend(&out, name, ": ", value, "\r\n");
  }
  out += "\r\n";
}

}  // namespace

absl::Status EncodeResponseHead(const ResponseHead& head, evbuffer* out) {
  if (absl::Status status = CheckHeaders(head.headers); !status.ok()) {
    return status;
  }
  if (head.status < 100 || head.status > 999) {
    return absl::InvalidArgumentError(absl::StrCat("invalid status ", head.status));
  }
  std::string text;
  text.reserve(256);
  absl::StrAppend(&text, "HTTP/1.", head.version_minor == 0 ? 0 : 1, " ", head.status, " ",
                  ReasonPhrase(head.status), "\r\n");
  AppendHeaders(head.headers, text);
  evbuffer_add(out, text.data(), text.size());
  return absl::OkStatus();
}

absl::Status EncodeRequestHead(const RequestHead& head, evbuffer* out) {
  if (absl::Status status = CheckHeaders(head.headers); !status.ok()) {
    return status;
  }
  if (head.method.empty() || !IsValidHeaderName(head.method)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid method \"", head.method, "\""));
  }
  if (head.target.empty() || head.target.find_first_of(" \r\n\t", 0) != std::string::npos ||
      head.target.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("invalid request-target");
  }
  std::string text;
  text.reserve(256);
  absl::StrAppend(&text, head.method, " ", head.target, " HTTP/1.1\r\n");
  AppendHeaders(head.headers, text);
  evbuffer_add(out, text.data(), text.size());
  return absl::OkStatus();
}

void EncodeChunk(absl::string_view data, evbuffer* out) {
  if (data.empty()) {
    return;  // an empty chunk would be read as the last one
  }
  char size_line[24];
  const int length = absl::SNPrintF(size_line, sizeof(size_line), "%zx\r\n", data.size());
  evbuffer_add(out, size_line, static_cast<size_t>(length));
  evbuffer_add(out, data.data(), data.size());
  evbuffer_add(out, "\r\n", 2);
}

void EncodeLastChunk(evbuffer* out) { evbuffer_add(out, "0\r\n\r\n", 5); }

}  // namespace gateway::http

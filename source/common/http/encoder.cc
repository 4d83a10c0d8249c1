#include "source/common/http/encoder.h"

#include <event2/buffer.h>

#include <cstring>
#include <initializer_list>
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

// Writes the first line's pieces, the headers and the blank line straight into `out`: one
// reservation of the exact size and one copy of each piece (no intermediate string).
absl::Status WriteHead(std::initializer_list<absl::string_view> first_line,
                       const HeaderMap& headers, evbuffer* out) {
  size_t size = 2;  // the blank line
  for (absl::string_view piece : first_line) {
    size += piece.size();
  }
  for (const auto& [name, value] : headers) {
    size += name.size() + value.size() + 4;  // ": " and CRLF
  }
  evbuffer_iovec space;
  if (evbuffer_reserve_space(out, static_cast<ev_ssize_t>(size), &space, 1) != 1 ||
      space.iov_len < size) {
    return absl::ResourceExhaustedError("no memory for a message head");
  }
  char* at = static_cast<char*>(space.iov_base);
  auto put = [&at](absl::string_view piece) {
    std::memcpy(at, piece.data(), piece.size());
    at += piece.size();
  };
  for (absl::string_view piece : first_line) {
    put(piece);
  }
  for (const auto& [name, value] : headers) {
    put(name);
    put(": ");
    put(value);
    put("\r\n");
  }
  put("\r\n");
  space.iov_len = size;
  evbuffer_commit_space(out, &space, 1);
  return absl::OkStatus();
}

}  // namespace

absl::Status EncodeResponseHead(const ResponseHead& head, evbuffer* out) {
  if (absl::Status status = CheckHeaders(head.headers); !status.ok()) {
    return status;
  }
  if (head.status < 100 || head.status > 999) {
    return absl::InvalidArgumentError(absl::StrCat("invalid status ", head.status));
  }
  const char code[3] = {static_cast<char>('0' + head.status / 100),
                        static_cast<char>('0' + head.status / 10 % 10),
                        static_cast<char>('0' + head.status % 10)};
  return WriteHead({head.version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ", absl::string_view(code, 3),
                    " ", ReasonPhrase(head.status), "\r\n"},
                   head.headers, out);
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
  return WriteHead({head.method, " ", head.target, " HTTP/1.1\r\n"}, head.headers, out);
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

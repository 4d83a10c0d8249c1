#include "source/common/http/encoder.h"

#include <event2/buffer.h>

#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <string>

#include "absl/strings/str_cat.h"

namespace gateway::http {
namespace {

// The fields the parser delivered and nothing changed since are checked already (HeaderMap's
// checked()).
absl::Status CheckHeaders(const HeaderMap& headers) {
  for (auto field = headers.begin() + static_cast<std::ptrdiff_t>(headers.checked());
       field != headers.end(); ++field) {
    const auto& [name, value] = *field;
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

// `size` contiguous bytes reserved at the end of `out` (commit them with evbuffer_commit_space),
// or nullptr if libevent has no memory for them.
char* Reserve(evbuffer* out, size_t size, evbuffer_iovec& space) {
  if (evbuffer_reserve_space(out, static_cast<ev_ssize_t>(size), &space, 1) != 1 ||
      space.iov_len < size) {
    return nullptr;
  }
  space.iov_len = size;
  return static_cast<char*>(space.iov_base);
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
  char* at = Reserve(out, size, space);
  if (at == nullptr) {
    return absl::ResourceExhaustedError("no memory for a message head");
  }
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
  evbuffer_commit_space(out, &space, 1);
  return absl::OkStatus();
}

// A chunk's size line (RFC 9112 section 7.1): the size in lower-case hex, then CRLF, into `out`
// (room for 18 characters); returns its length.
size_t ChunkSizeLine(size_t size, char* out) {
  char digits[16];
  size_t count = 0;
  do {
    digits[count++] = "0123456789abcdef"[size & 15];
    size >>= 4;
  } while (size != 0);
  for (size_t i = 0; i < count; ++i) {
    out[i] = digits[count - 1 - i];
  }
  out[count] = '\r';
  out[count + 1] = '\n';
  return count + 2;
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
  // One reservation and one commit for the whole chunk: each evbuffer_add runs the buffer's
  // callbacks, and an SSE event is usually a chunk of its own (snprintf's "%zx" and three adds
  // were a tenth of the gateway's CPU per event).
  char size_line[18];
  const size_t line_length = ChunkSizeLine(data.size(), size_line);
  evbuffer_iovec space;
  char* at = Reserve(out, line_length + data.size() + 2, space);
  if (at == nullptr) {
    evbuffer_add(out, size_line, line_length);  // piece by piece, as libevent can
    evbuffer_add(out, data.data(), data.size());
    evbuffer_add(out, "\r\n", 2);
    return;
  }
  std::memcpy(at, size_line, line_length);
  std::memcpy(at + line_length, data.data(), data.size());
  std::memcpy(at + line_length + data.size(), "\r\n", 2);
  evbuffer_commit_space(out, &space, 1);
}

void EncodeLastChunk(evbuffer* out) { evbuffer_add(out, "0\r\n\r\n", 5); }

}  // namespace gateway::http

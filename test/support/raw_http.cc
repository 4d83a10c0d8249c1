#include "test/support/raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace gateway::testing {

std::string RawResponse::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) {
      return value;
    }
  }
  return "";
}

bool RawResponse::HasHeader(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<RawClient> RawClient::Connect(uint16_t port, const char* ip, const char* source_ip) {
  const bool v6 = std::strchr(ip, ':') != nullptr;
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::InternalError(std::strerror(errno));
  }
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (v6) {
    auto* address = reinterpret_cast<sockaddr_in6*>(&storage);
    address->sin6_family = AF_INET6;
    address->sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &address->sin6_addr);
    length = sizeof(sockaddr_in6);
  } else {
    auto* address = reinterpret_cast<sockaddr_in*>(&storage);
    address->sin_family = AF_INET;
    address->sin_port = htons(port);
    inet_pton(AF_INET, ip, &address->sin_addr);
    length = sizeof(sockaddr_in);
  }
  if (source_ip != nullptr) {
    sockaddr_in source{};
    source.sin_family = AF_INET;
    inet_pton(AF_INET, source_ip, &source.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof(source)) != 0) {
      int error = errno;
      ::close(fd);
      return absl::UnavailableError(absl::StrCat("bind ", source_ip, ": ", std::strerror(error)));
    }
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    int error = errno;
    ::close(fd);
    return absl::UnavailableError(
        absl::StrCat("connect to port ", port, ": ", std::strerror(error)));
  }
  return RawClient(fd);
}

absl::StatusOr<RawClient> RawClient::ConnectTls(uint16_t port, const std::string& ca_file) {
  absl::StatusOr<RawClient> client = Connect(port);
  if (!client.ok()) {
    return client.status();
  }
  absl::StatusOr<tls::SslCtxPtr> context = tls::CreateClientContext(ca_file);
  if (!context.ok()) {
    return context.status();
  }
  absl::StatusOr<tls::SslPtr> ssl = tls::NewClientSession(context->get(), "localhost", port);
  if (!ssl.ok()) {
    return ssl.status();
  }
  client->ssl_ = std::move(*ssl);
  SSL_set_fd(client->ssl_.get(), client->fd_);
  // A read that finds only a TLS 1.3 session ticket returns, so Fill() keeps its deadline.
  SSL_clear_mode(client->ssl_.get(), SSL_MODE_AUTO_RETRY);
  if (SSL_connect(client->ssl_.get()) != 1) {
    return absl::UnavailableError(
        absl::StrCat("TLS handshake with port ", port, ": ", tls::LastError("failed")));
  }
  return client;
}

std::string RawClient::PeerFingerprint() const {
  return ssl_ != nullptr ? tls::CertificateFingerprint(SSL_get0_peer_certificate(ssl_.get())) : "";
}

std::string RawClient::AlpnProtocol() const {
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  if (ssl_ != nullptr) {
    SSL_get0_alpn_selected(ssl_.get(), &protocol, &length);
  }
  return protocol != nullptr ? std::string(reinterpret_cast<const char*>(protocol), length) : "";
}

RawClient::RawClient(RawClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      ssl_(std::move(other.ssl_)),
      buffer_(std::move(other.buffer_)),
      closed_(other.closed_) {}

RawClient& RawClient::operator=(RawClient&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    ssl_ = std::move(other.ssl_);
    buffer_ = std::move(other.buffer_);
    closed_ = other.closed_;
  }
  return *this;
}

RawClient::~RawClient() { Close(); }

void RawClient::Close() {
  ssl_.reset();
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void RawClient::ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

void RawClient::SetReceiveBuffer(int bytes) {
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

bool RawClient::Send(absl::string_view bytes) {
  while (!bytes.empty()) {
    if (ssl_ != nullptr) {
      const int written = SSL_write(ssl_.get(), bytes.data(), static_cast<int>(bytes.size()));
      if (written <= 0) {
        ERR_clear_error();
        return false;
      }
      bytes.remove_prefix(static_cast<size_t>(written));
      continue;
    }
    ssize_t written = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  return true;
}

bool RawClient::Fill(absl::Time deadline) {
  if (closed_) {
    return false;
  }
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return false;
    }
    // Bytes OpenSSL already decrypted are not in the socket for poll() to see.
    const bool pending = ssl_ != nullptr && SSL_pending(ssl_.get()) > 0;
    pollfd descriptor{fd_, POLLIN, 0};
    const int ready =
        pending ? 1 : ::poll(&descriptor, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready <= 0) {
      return false;
    }
    char chunk[16384];
    if (ssl_ != nullptr) {
      const int got = SSL_read(ssl_.get(), chunk, sizeof(chunk));
      if (got <= 0) {
        const int error = SSL_get_error(ssl_.get(), got);
        ERR_clear_error();
        if (error == SSL_ERROR_WANT_READ) {
          continue;  // a record not yet whole, or a TLS 1.3 session ticket
        }
        closed_ = true;
        return false;
      }
      buffer_.append(chunk, static_cast<size_t>(got));
      return true;
    }
    ssize_t got = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      closed_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<size_t>(got));
    return true;
  }
}

absl::StatusOr<std::string> RawClient::ReadLine(absl::Time deadline) {
  while (true) {
    const size_t end = buffer_.find("\r\n");
    if (end != std::string::npos) {
      std::string line = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      return line;
    }
    if (!Fill(deadline)) {
      return absl::DeadlineExceededError(closed_ ? "closed before a full line"
                                                 : "timed out waiting for a line");
    }
  }
}

absl::StatusOr<std::string> RawClient::ReadExactly(size_t count, absl::Time deadline) {
  while (buffer_.size() < count) {
    if (!Fill(deadline)) {
      return absl::DeadlineExceededError(
          absl::StrCat("closed or timed out after ", buffer_.size(), " of ", count, " bytes"));
    }
  }
  std::string out = buffer_.substr(0, count);
  buffer_.erase(0, count);
  return out;
}

absl::StatusOr<RawResponse> RawClient::ReadHead(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  RawResponse response;
  absl::StatusOr<std::string> status_line = ReadLine(deadline);
  if (!status_line.ok()) {
    return status_line.status();
  }
  std::vector<std::string> parts = absl::StrSplit(*status_line, absl::MaxSplits(' ', 2));
  if (parts.size() < 2 || !absl::StartsWith(parts[0], "HTTP/1.") ||
      !absl::SimpleAtoi(parts[1], &response.status)) {
    return absl::InvalidArgumentError(absl::StrCat("bad status line: ", *status_line));
  }
  while (true) {
    absl::StatusOr<std::string> line = ReadLine(deadline);
    if (!line.ok()) {
      return line.status();
    }
    if (line->empty()) {
      break;
    }
    const size_t colon = line->find(':');
    if (colon == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("bad header line: ", *line));
    }
    response.headers.emplace_back(line->substr(0, colon),
                                  std::string(absl::StripAsciiWhitespace(line->substr(colon + 1))));
  }
  response.chunked = absl::EqualsIgnoreCase(response.Header("transfer-encoding"), "chunked");
  return response;
}

absl::StatusOr<RawResponse> RawClient::ReadResponse(absl::Duration timeout, bool head_request) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<RawResponse> response = ReadHead(timeout);
  if (!response.ok()) {
    return response;
  }
  if (response->status / 100 == 1) {
    return ReadResponse(deadline - absl::Now(), head_request);  // skip interim responses
  }
  if (head_request || response->status == 204 || response->status == 304) {
    return response;
  }
  if (response->chunked) {
    while (true) {
      absl::StatusOr<std::string> size_line = ReadLine(deadline);
      if (!size_line.ok()) {
        return size_line.status();
      }
      size_t size = 0;
      if (!absl::SimpleHexAtoi(size_line->substr(0, size_line->find(';')), &size)) {
        return absl::InvalidArgumentError(absl::StrCat("bad chunk size: ", *size_line));
      }
      if (size == 0) {
        while (true) {  // trailers until the empty line
          absl::StatusOr<std::string> line = ReadLine(deadline);
          if (!line.ok()) {
            return line.status();
          }
          if (line->empty()) {
            return response;
          }
        }
      }
      absl::StatusOr<std::string> data = ReadExactly(size + 2, deadline);
      if (!data.ok()) {
        return data.status();
      }
      response->body.append(data->substr(0, size));
    }
  }
  const std::string length = response->Header("content-length");
  if (!length.empty()) {
    size_t size = 0;
    if (!absl::SimpleAtoi(length, &size)) {
      return absl::InvalidArgumentError(absl::StrCat("bad Content-Length: ", length));
    }
    absl::StatusOr<std::string> body = ReadExactly(size, deadline);
    if (!body.ok()) {
      return body.status();
    }
    response->body = std::move(*body);
    return response;
  }
  while (Fill(deadline)) {  // the body ends with the connection
  }
  if (!closed_) {
    return absl::DeadlineExceededError("close-delimited body did not end");
  }
  response->body = std::move(buffer_);
  buffer_.clear();
  return response;
}

std::string RawClient::ReadSome(absl::Duration timeout, size_t max) {
  if (buffer_.empty()) {
    Fill(absl::Now() + timeout);
  }
  std::string out = buffer_.substr(0, max);
  buffer_.erase(0, out.size());
  return out;
}

bool RawClient::WaitForClose(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!closed_) {
    buffer_.clear();
    if (!Fill(deadline) && !closed_) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<RawResponse> HttpGet(uint16_t port, absl::string_view path) {
  absl::StatusOr<RawClient> client = RawClient::Connect(port);
  if (!client.ok()) {
    return client.status();
  }
  if (!client->Send(absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))) {
    return absl::UnavailableError("send failed");
  }
  return client->ReadResponse();
}

}  // namespace gateway::testing

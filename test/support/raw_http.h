#pragma once

// A blocking TCP client for tests. It writes exactly the bytes it is given (so tests can send
// malformed or split requests) and reads responses with a small parser of its own, not the
// gateway's, so the codec is checked against an independent reading of the bytes. Every read has
// a deadline; nothing sleeps.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "source/common/tls.h"

namespace gateway::testing {

struct RawResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool chunked = false;

  // The first header named `name` (case-insensitive), or "" when absent.
  std::string Header(absl::string_view name) const;
  bool HasHeader(absl::string_view name) const;
};

class RawClient {
 public:
  // `source_ip` (IPv4): the local address to connect from, e.g. 127.0.0.2 to be another client
  // address on loopback.
  static absl::StatusOr<RawClient> Connect(uint16_t port, const char* ip = "127.0.0.1",
                                           const char* source_ip = nullptr);
  // The same over TLS (1.2 or later, ALPN http/1.1): the server's certificate must chain to
  // `ca_file` and be for "localhost" (which is also sent as SNI). The handshake is done on return.
  static absl::StatusOr<RawClient> ConnectTls(uint16_t port, const std::string& ca_file);
  RawClient(RawClient&& other) noexcept;
  RawClient& operator=(RawClient&& other) noexcept;
  ~RawClient();

  bool Send(absl::string_view bytes);
  // Reads one response. `head_request`: the response has no body whatever its headers say.
  absl::StatusOr<RawResponse> ReadResponse(absl::Duration timeout = absl::Seconds(5),
                                           bool head_request = false);
  // Reads the head only (for streamed responses); then ReadBodyChunk() reads what follows.
  absl::StatusOr<RawResponse> ReadHead(absl::Duration timeout = absl::Seconds(5));
  // Reads up to `max` raw bytes, waiting at most `timeout` for the first one. "" on timeout or
  // close.
  std::string ReadSome(absl::Duration timeout, size_t max = 65536);
  // True if the peer closes the connection within `timeout` (bytes before the close are dropped).
  bool WaitForClose(absl::Duration timeout);
  // Sets a small receive buffer (before reading), for flow-control tests.
  void SetReceiveBuffer(int bytes);
  void ShutdownWrite();
  void Close();
  int fd() const { return fd_; }
  // TLS only: the server certificate's fingerprint (tls::CertificateFingerprint) and the
  // protocol ALPN chose ("" for none).
  std::string PeerFingerprint() const;
  std::string AlpnProtocol() const;

 private:
  explicit RawClient(int fd) : fd_(fd) {}
  // Reads more bytes into buffer_; false on timeout, error or close.
  bool Fill(absl::Time deadline);
  absl::StatusOr<std::string> ReadLine(absl::Time deadline);
  absl::StatusOr<std::string> ReadExactly(size_t count, absl::Time deadline);

  int fd_ = -1;
  tls::SslPtr ssl_;  // set for TLS connections
  std::string buffer_;
  bool closed_ = false;
};

// GET `path` on a fresh connection and read the response.
absl::StatusOr<RawResponse> HttpGet(uint16_t port, absl::string_view path);

}  // namespace gateway::testing

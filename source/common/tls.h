#pragma once

// OpenSSL contexts and sessions for the upstream client and the TLS listener. Contexts are made
// on the main thread; a context is then read-only and may be shared by every worker (OpenSSL
// locks what it changes inside, such as the session cache).

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gateway::tls {

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

// A client context: TLS 1.2 or later, peers verified against the system trust store plus
// `ca_file` when given, ALPN "http/1.1". It remembers the newest session each server gave it
// (up to kRememberedServers servers) and offers it again on the next connection to that server
// (NewClientSession): a reconnection resumes instead of redoing the whole handshake.
absl::StatusOr<SslCtxPtr> CreateClientContext(const std::string& ca_file);
inline constexpr size_t kRememberedServers = 256;

// A server context with the certificate chain and key from PEM files (the key must match the
// certificate): TLS 1.2 or later with OpenSSL's default ciphers, ALPN "http/1.1", no
// renegotiation. Errors name the file and what is wrong with it.
absl::StatusOr<SslCtxPtr> CreateServerContext(const std::string& certificate_file,
                                              const std::string& key_file);

// The listener's context, shared by the workers: a worker holds the one it accepts with, every
// session holds its own reference (SSL_new), so swapping it on SIGHUP leaves open connections be.
using SharedSslCtx = std::shared_ptr<SSL_CTX>;
SharedSslCtx Share(SslCtxPtr ctx);

// "SHA256:AB:CD:..." of the context's certificate (public; for logs), or "" without one.
std::string CertificateFingerprint(SSL_CTX* ctx);
// The same for an X509 certificate (a client's view of a server).
std::string CertificateFingerprint(X509* certificate);

// A client session for `host` on `port`: SNI (for names, not addresses) and verification that
// the certificate is for `host` (RFC 6125; IP addresses against IP SANs). Offers the session
// `ctx` remembers for that server, if any (a server that refuses it gets a full handshake).
absl::StatusOr<SslPtr> NewClientSession(SSL_CTX* ctx, const std::string& host, uint16_t port);

// The text of OpenSSL's most recent error on this thread (and clears the queue), or `fallback`.
std::string LastError(absl::string_view fallback);

}  // namespace gateway::tls

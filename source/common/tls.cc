#include "source/common/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace gateway::tls {
namespace {

// The newest session each server gave a client context, by "host:port": TLS 1.2 sessions come
// with the handshake, TLS 1.3 tickets after it (OpenSSL's new-session callback sees both). One
// session serves every new connection to its server until a newer one replaces it. Bounded: past
// kRememberedServers servers (client metadata documents are fetched from anywhere), one is
// forgotten for each new one. Locked: a context may be shared by threads.
class ClientSessions {
 public:
  ~ClientSessions() {
    for (auto& [server, session] : sessions_) {
      SSL_SESSION_free(session);
    }
  }

  // Takes over the reference to `session`.
  void Put(const std::string& server, SSL_SESSION* session) {
    absl::MutexLock lock(&mutex_);
    auto found = sessions_.find(server);
    if (found != sessions_.end()) {
      SSL_SESSION_free(found->second);
      found->second = session;
      return;
    }
    if (sessions_.size() >= kRememberedServers) {
      SSL_SESSION_free(sessions_.begin()->second);
      sessions_.erase(sessions_.begin());
    }
    sessions_.emplace(server, session);
  }

  // Offers `server`'s session to `ssl`, if there is one.
  void Offer(const std::string& server, SSL* ssl) {
    absl::MutexLock lock(&mutex_);
    auto found = sessions_.find(server);
    if (found != sessions_.end() && SSL_SESSION_is_resumable(found->second) == 1) {
      SSL_set_session(ssl, found->second);  // takes its own reference
    }
  }

 private:
  absl::Mutex mutex_;
  absl::flat_hash_map<std::string, SSL_SESSION*> sessions_ ABSL_GUARDED_BY(mutex_);
};

// Where a client context keeps its ClientSessions, and a client connection the key of its server
// (both freed with their owner).
void FreeSessions(void*, void* sessions, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<ClientSessions*>(sessions);
}
void FreeServerKey(void*, void* key, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<std::string*>(key);
}
int SessionsIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, &FreeSessions);
  return index;
}
int ServerKeyIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &FreeServerKey);
  return index;
}

// OpenSSL's new-session callback: remembers a copy of the session for the connection's server.
// A copy: OpenSSL marks a connection's own session not resumable when the connection is freed
// without a close_notify (pooled upstream connections are simply closed; HTTP framing, not TLS
// shutdown, tells a whole response from a cut one). Returns 0: OpenSSL keeps its reference.
int OnNewClientSession(SSL* ssl, SSL_SESSION* session) {
  auto* sessions =
      static_cast<ClientSessions*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), SessionsIndex()));
  const auto* server = static_cast<const std::string*>(SSL_get_ex_data(ssl, ServerKeyIndex()));
  if (sessions != nullptr && server != nullptr) {
    if (SSL_SESSION* copy = SSL_SESSION_dup(session)) {
      sessions->Put(*server, copy);
    }
  }
  return 0;
}

bool IsIpAddress(const std::string& host) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// RFC 7301: the listener speaks HTTP/1.1 only. A client that offers other protocols and not this
// one gets no ALPN answer (rather than a fatal alert) and may still try HTTP/1.1.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
               unsigned int in_length, void*) {
  static constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, kHttp11, sizeof(kHttp11), in, in_length) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

std::string LastError(absl::string_view fallback) {
  unsigned long code = ERR_get_error();
  if (code == 0) {
    return std::string(fallback);
  }
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  ERR_clear_error();
  return text;
}

absl::StatusOr<SslCtxPtr> CreateClientContext(const std::string& ca_file) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) {
    return absl::InternalError(LastError("cannot create a TLS context"));
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
    return absl::InternalError(LastError("cannot load the system trust store"));
  }
  if (!ca_file.empty() && SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load CA file ", ca_file, ": ", LastError("unreadable")));
  }
  static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof(kAlpn));
  // Sessions are kept by server in ClientSessions (OpenSSL's own cache is for servers).
  if (SSL_CTX_set_ex_data(ctx.get(), SessionsIndex(), new ClientSessions()) != 1) {
    return absl::InternalError(LastError("cannot attach the session cache"));
  }
  SSL_CTX_set_session_cache_mode(ctx.get(),
                                 SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx.get(), &OnNewClientSession);
  return ctx;
}

absl::StatusOr<SslCtxPtr> CreateServerContext(const std::string& certificate_file,
                                              const std::string& key_file) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr) {
    return absl::InternalError(LastError("cannot create a TLS context"));
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // No renegotiation (a client could make the server redo handshakes at will, and TLS 1.3 has
  // none). A client that closes without close_notify ends its side like a clean close: requests
  // carry their own framing, so a cut-off one is still seen as incomplete by the parser.
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                     SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Idle keep-alive connections give their record buffers back (about 17 KiB each way); an idle
  // TLS connection then costs the gateway about 16 KiB (measured with 1000 of them).
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_alpn_select_cb(ctx.get(), &SelectAlpn, nullptr);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), certificate_file.c_str()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load certificate ", certificate_file, ": ", LastError("unreadable")));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("cannot load key ", key_file, ": ",
                                                   LastError("it does not match the certificate")));
  }
  return ctx;
}

SharedSslCtx Share(SslCtxPtr ctx) { return SharedSslCtx(ctx.release(), SslCtxDeleter()); }

std::string CertificateFingerprint(X509* certificate) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (certificate == nullptr || X509_digest(certificate, EVP_sha256(), digest, &length) != 1) {
    return "";
  }
  std::string text = "SHA256";
  for (unsigned int i = 0; i < length; ++i) {
    absl::StrAppend(&text, ":", absl::Hex(digest[i], absl::kZeroPad2));
  }
  return absl::AsciiStrToUpper(text);
}

std::string CertificateFingerprint(SSL_CTX* ctx) {
  return CertificateFingerprint(SSL_CTX_get0_certificate(ctx));
}

absl::StatusOr<SslPtr> NewClientSession(SSL_CTX* ctx, const std::string& host, uint16_t port) {
  SslPtr ssl(SSL_new(ctx));
  if (ssl == nullptr) {
    return absl::InternalError(LastError("cannot create a TLS session"));
  }
  if (auto* sessions = static_cast<ClientSessions*>(SSL_CTX_get_ex_data(ctx, SessionsIndex()))) {
    auto server = std::make_unique<std::string>(absl::StrCat(host, ":", port));
    sessions->Offer(*server, ssl.get());
    if (SSL_set_ex_data(ssl.get(), ServerKeyIndex(), server.get()) == 1) {
      server.release();  // freed with the SSL
    }
  }
  if (IsIpAddress(host)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), host.c_str()) != 1) {
      return absl::InternalError(LastError("cannot set the expected IP address"));
    }
  } else {
    // RFC 6066 section 3: SNI carries host names only, never literal addresses.
    if (SSL_set_tlsext_host_name(ssl.get(), host.c_str()) != 1 ||
        SSL_set1_host(ssl.get(), host.c_str()) != 1) {
      return absl::InternalError(LastError("cannot set the expected host name"));
    }
  }
  return ssl;
}

}  // namespace gateway::tls

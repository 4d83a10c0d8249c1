#pragma once

// The gateway as an OAuth client of the upstream (DESIGN.md, screen 2): where the upstream's
// endpoints are (configured, or discovered: RFC 9728 from the resource, then RFC 8414, then
// OpenID discovery), which client id the gateway uses there (configured, or registered through
// RFC 7591 on first use and remembered in the store), and the token calls (code exchange,
// refresh, revocation) with responses in JSON or form encoding, GitHub's "200 with an error"
// included.
//
// UpstreamOAuth is process-wide and thread-safe: what one worker discovers serves all. Its calls
// run on the calling worker's thread with that worker's HttpClient and Store, and answer there.
// Each returns an Operation; destroying it cancels the call and its callback never runs.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "source/common/config/config.h"
#include "source/common/http/client.h"
#include "source/common/store/store.h"
#include "source/common/url.h"

namespace gateway::oauth {

// Where and as whom the gateway talks to the upstream authorization server.
struct UpstreamSetup {
  std::string authorize_endpoint;
  std::string token_endpoint;
  std::string revocation_endpoint;  // empty when the upstream has none
  std::string client_id;
  std::string client_secret;  // empty for a public client
  // How the gateway authenticates at the token endpoint: "client_secret_post",
  // "client_secret_basic" or "none".
  std::string auth_method;
  // The upstream resource (RFC 8707), sent on authorize and token requests when the upstream
  // published protected-resource metadata; empty otherwise.
  std::string resource;
  std::string scopes;  // space-separated; empty to omit
};

// Tokens the upstream issued.
struct UpstreamTokens {
  std::string access_token;
  std::string refresh_token;                 // empty when none was issued
  std::optional<absl::Duration> expires_in;  // unset when the upstream gave no expiry
  std::string scope;
};

// An upstream call in flight; destroying it cancels the call.
class Operation {
 public:
  virtual ~Operation() = default;
};

template <typename T>
using UpstreamCallback = std::function<void(absl::StatusOr<T>)>;

// An Operation around an HTTP request in flight (destroying it cancels the request).
std::unique_ptr<Operation> RequestOperation(std::unique_ptr<http::UpstreamRequest> request);
// An Operation for a call that already answered.
std::unique_ptr<Operation> DoneOperation();

// Well-known URLs (the path goes after the well-known suffix, never before it: RFC 9728 section
// 3.1, RFC 8414 section 3.1; a terminating "/" of the path is dropped first).
std::string ProtectedResourceMetadataUrl(const Url& resource);
std::string AuthorizationServerMetadataUrl(const Url& issuer);
std::string OpenIdConfigurationUrl(const Url& issuer);  // inserted, as RFC 8414 section 5 allows
std::string OpenIdConfigurationAppendedUrl(const Url& issuer);  // OpenID Connect Discovery 1.0

// Parses a token endpoint response, JSON or form-encoded, whatever its status: an `error` field
// means failure even with HTTP 200 (GitHub). The status carries the upstream's error code as its
// message prefix ("invalid_grant: ..."), never a token.
absl::StatusOr<UpstreamTokens> ParseTokenResponse(const http::FetchResponse& response);

class UpstreamOAuth {
 public:
  explicit UpstreamOAuth(const Config& config);

  // The setup, discovering and registering on first use (and caching it for every worker). Once
  // known, `done` runs before this returns; a caller that starts another call from `done` keeps
  // that call's Operation apart from this one's.
  std::unique_ptr<Operation> Prepare(http::HttpClient& client, store::Store& store,
                                     UpstreamCallback<std::shared_ptr<const UpstreamSetup>> done);

  // RFC 6749 section 4.1.3 with PKCE (RFC 7636).
  std::unique_ptr<Operation> ExchangeCode(http::HttpClient& client, const UpstreamSetup& setup,
                                          const std::string& code, const std::string& code_verifier,
                                          const std::string& redirect_uri,
                                          UpstreamCallback<UpstreamTokens> done);
  // RFC 6749 section 6.
  std::unique_ptr<Operation> Refresh(http::HttpClient& client, const UpstreamSetup& setup,
                                     const std::string& refresh_token,
                                     UpstreamCallback<UpstreamTokens> done);
  // RFC 7009; nothing to do (an OK answer) when the upstream has no revocation endpoint.
  std::unique_ptr<Operation> Revoke(http::HttpClient& client, const UpstreamSetup& setup,
                                    const std::string& token, const std::string& type_hint,
                                    UpstreamCallback<bool> done);

  // The callback URL the gateway registers upstream: <public_url>/upstream/callback.
  const std::string& redirect_uri() const { return redirect_uri_; }

 private:
  const Config& config_;
  const std::string redirect_uri_;
  absl::Mutex mutex_;
  std::shared_ptr<const UpstreamSetup> setup_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace gateway::oauth

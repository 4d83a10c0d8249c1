#pragma once

// The gateway as an OAuth client of the upstream (DESIGN.md, screen 2): where the upstream's
// endpoints are (configured, or discovered as the MCP authorization spec says: an
// unauthenticated request to the MCP server, whose 401 challenge may name its RFC 9728 metadata
// and the scope it wants; else the RFC 9728 well-known URLs; then RFC 8414, then OpenID
// discovery; for servers of the 2025-03-26 spec without protected-resource metadata, the
// authorization server at the server's origin, or its default endpoints), which client id the
// gateway uses there (configured, or registered through RFC 7591 on first use and remembered in
// the store), which scopes it asks for, and the token calls (code exchange, refresh, revocation)
// with responses in JSON or form encoding, GitHub's "200 with an error" included.
//
// Every URL is fetched under the SSRF rule of UpstreamAddressPolicy(). Failures come as:
// Unavailable (network, timeout, 5xx, nothing found: trying again later may work),
// PermissionDenied (the upstream refused the grant: invalid_grant), FailedPrecondition (the
// upstream refuses the gateway itself, or its metadata cannot be trusted: its configuration
// must change).
//
// UpstreamOAuth is process-wide and thread-safe: what one worker discovers serves all. Its calls
// run on the calling worker's thread with that worker's HttpClient and Store, and answer there.
// Each returns an Operation; destroying it cancels the call and its callback never runs.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "source/common/config/config.h"
#include "source/common/http/client.h"
#include "source/common/store/store.h"
#include "source/common/url.h"

namespace gateway {
class Metrics;
}

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
  // What the gateway asks for when a client asks nothing more (space-separated; empty to omit):
  // upstream.scopes, else the scope of the upstream's 401 challenge, else the protected
  // resource's scopes_supported.
  std::string scopes;
  // Every scope the upstream named in its metadata or challenge: a client may ask for these
  // through the gateway (UpstreamOAuth::ScopeFor).
  std::vector<std::string> known_scopes;
  // The authorization server's issuer identifier exactly as its RFC 8414 metadata names it
  // (empty when the endpoints come from the configuration or the 2025-03-26 defaults), and
  // whether that metadata promises an `iss` in every authorization response (RFC 9207).
  std::string issuer;
  bool iss_parameter_supported = false;
};

// RFC 9207 section 2.4, against mix-up attacks: whether an authorization response whose query
// has (`has_iss`) or lacks an `iss` of `iss` may come from the server of `setup`. An `iss` is
// compared by simple string comparison whenever the issuer is known; a response without one is
// refused when the server promised it.
bool AuthorizationResponseIssuerAccepted(const UpstreamSetup& setup, bool has_iss,
                                         const std::string& iss);

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
// message prefix ("invalid_grant: ..."), never a token:
//  - PermissionDenied: invalid_grant (GitHub: bad_verification_code, bad_refresh_token), the
//    code or refresh token is no good: the authorization is gone;
//  - Unavailable: HTTP 5xx, 408 or 429, an error server_error or temporarily_unavailable, an
//    unreadable body, or no token: the upstream may answer better later;
//  - FailedPrecondition: any other error (invalid_client, unauthorized_client, invalid_scope,
//    unsupported_grant_type, invalid_request, or a 4xx without an error): the upstream refuses
//    the gateway's request itself.
absl::StatusOr<UpstreamTokens> ParseTokenResponse(const http::FetchResponse& response);

// Whether a failed upstream call may succeed when tried again later (Unavailable,
// DeadlineExceeded), as opposed to a refusal.
bool IsTransient(const absl::Status& status);

// What a client is told (RFC 6749 section 4.1.2.1) when the gateway cannot take it to the
// upstream because Prepare() failed with `status`: temporarily_unavailable when trying again may
// help, else server_error. The details stay in the gateway's log.
struct ClientError {
  std::string error;
  std::string description;
};
ClientError PrepareFailureForClient(const absl::Status& status);

// RFC 9728 section 3.3: whether the `resource` of protected-resource metadata names `expected`,
// compared as URLs (scheme and host case, default port) and a trailing "/" aside.
bool SameResource(absl::string_view resource, absl::string_view expected);

// SSRF (DESIGN.md, security rules): the gateway connects wherever its configuration points
// (upstream.rs, upstream.as, the configured endpoints) and to any URL on a host named there; a URL
// on another host, learned from the upstream (a challenge's resource_metadata, the authorization
// servers of its metadata, the endpoints those publish), only at public addresses. A sidecar
// upstream on localhost works; a public upstream cannot send the gateway to 169.254.169.254 or
// into the operator's network (to trust another host, name it in upstream.as or the endpoints).
http::AddressPolicy UpstreamAddressPolicy(const UpstreamConfig& config, const Url& url);

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
  // RFC 6749 section 6. Fails with PermissionDenied when the upstream answered invalid_grant
  // (the authorization is gone: the client must authorize again), Unavailable when the upstream
  // could not be reached, timed out, answered 5xx, 408 or 429, or said server_error or
  // temporarily_unavailable (try again later), FailedPrecondition for any other refusal
  // (invalid_client, unauthorized_client, invalid_scope, ...: the gateway's own standing
  // upstream is the problem).
  std::unique_ptr<Operation> Refresh(http::HttpClient& client, const UpstreamSetup& setup,
                                     const std::string& refresh_token,
                                     UpstreamCallback<UpstreamTokens> done);
  // RFC 7009; nothing to do (an OK answer) when the upstream has no revocation endpoint.
  std::unique_ptr<Operation> Revoke(http::HttpClient& client, const UpstreamSetup& setup,
                                    const std::string& token, const std::string& type_hint,
                                    UpstreamCallback<bool> done);

  // Step-up (MCP authorization, "Scope challenge handling"): the upstream answered a forwarded
  // request with 403 insufficient_scope and this scope. The gateway passes the challenge on to
  // its client, which authorizes again asking for that scope; ScopeFor() then asks the upstream
  // for it too. Any thread.
  void NoteChallengeScope(absl::string_view scope);

  // The scope to ask of the upstream for a client that asked the gateway for `requested`: the
  // setup's scopes, plus each requested scope the upstream itself named (its metadata, its
  // challenges). Other requested scopes are the gateway's own and stay with it. Any thread.
  std::string ScopeFor(const UpstreamSetup& setup, absl::string_view requested) const;

  // The callback URL the gateway registers upstream: <public_url>/upstream/callback.
  const std::string& redirect_uri() const { return redirect_uri_; }

  // Token and revocation calls are timed and their failures counted there. Before any call.
  void CountInto(Metrics* metrics) { metrics_ = metrics; }

 private:
  const Config& config_;
  Metrics* metrics_ = nullptr;
  const std::string redirect_uri_;
  mutable absl::Mutex mutex_;
  std::shared_ptr<const UpstreamSetup> setup_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::string> challenge_scopes_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace gateway::oauth

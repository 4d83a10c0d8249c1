#pragma once

// What the gateway remembers, record by record. Plain values: the store copies them in and out.
// Secrets never appear here in the clear: tokens, codes and client secrets are kept as
// crypto::SecretHash(); upstream tokens are kept as the upstream gave them (a persistent backend
// encrypts them at rest with the gateway key).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace gateway::store {

// A client registered through RFC 7591 dynamic registration.
struct Client {
  std::string client_id;
  std::string secret_hash;  // empty for public clients (token_endpoint_auth_method "none")
  std::string auth_method;  // "none", "client_secret_post" or "client_secret_basic"
  std::vector<std::string> redirect_uris;
  std::string client_name;
  std::string metadata_json;  // the registered metadata, echoed on registration
  absl::Time created_at;
  absl::Time last_used_at;  // registrations unused for long are swept
};

// An authorization in progress, from /authorize to the gateway code. Keyed by a server-made id,
// never by the client's `state`.
struct Flow {
  std::string flow_id;
  std::string client_id;
  std::string client_name;  // shown on the login and consent screens
  std::string redirect_uri;
  std::string state;  // the client's, echoed back; never a key
  std::string code_challenge;
  std::string scope;
  std::string resource;
  std::string csrf_token;  // binds the login and consent forms to this flow
  std::string user;        // set once the user has logged in
  // Set when the gateway redirects upstream: the single-use state and the PKCE verifier of the
  // upstream leg.
  std::string upstream_state;
  std::string upstream_code_verifier;
  absl::Time expires_at;
};

// A gateway authorization code: single use, short-lived, bound to client and redirect URI.
struct Code {
  std::string code_hash;
  std::string client_id;
  std::string redirect_uri;
  std::string code_challenge;
  std::string scope;
  std::string resource;
  std::string user;
  std::string grant_id;  // the grant holding the upstream tokens this code leads to
  absl::Time expires_at;
};

// One authorization of one client by one user, with the upstream tokens it obtained.
struct Grant {
  std::string grant_id;
  std::string user;
  std::string client_id;
  std::string scope;
  std::string resource;
  std::string upstream_access_token;
  std::string upstream_refresh_token;             // empty when the upstream issues none
  std::optional<absl::Time> upstream_expires_at;  // unset when the upstream gave no expiry
  std::string upstream_scope;
  // Set when the upstream answered insufficient_scope: refreshing cannot fix that, the client
  // must authorize again (DESIGN.md, "What real clients and upstreams do").
  bool needs_reauthorization = false;
  absl::Time created_at;
  absl::Time expires_at;  // the end of the refresh token lifetime: the grant is swept after
};

enum class TokenKind { kAccess, kRefresh };

// A gateway token half. Keyed by its hash. Everything the per-request check needs is here, so
// one lookup answers it.
struct TokenRecord {
  std::string token_hash;
  TokenKind kind = TokenKind::kAccess;
  std::string grant_id;
  std::string user;
  std::string client_id;
  std::string resource;
  std::string scope;
  // Plain format only: the hash of the upstream part issued with this half, so that a pair
  // cannot be reassembled from two tokens. Empty for sealed tokens (the seal binds them).
  std::string upstream_part_hash;
  absl::Time expires_at;
  // Refresh tokens: set once rotated; the successor's hash and when it was made.
  std::string successor_hash;
  std::optional<absl::Time> rotated_at;
  // The token response the rotation answered, sealed with a key only this refresh token's holder
  // can derive: a repeat within the grace period (a lost response, or a concurrent refresh that
  // lost the race) gets the same tokens again instead of forking the family.
  std::string successor_response;
};

// A user's remembered approval of a client.
struct Consent {
  std::string user;
  std::string client_id;
  std::string scope;
  absl::Time approved_at;
};

}  // namespace gateway::store

#pragma once

// What a protected resource says in its `WWW-Authenticate: Bearer ...` challenge (RFC 6750
// section 3, RFC 9728 section 5.1): read by the gateway from the upstream MCP server, when it
// discovers the upstream (the 401 to an unauthenticated request) and when it forwards (a 403
// insufficient_scope). Pure functions, any thread.

#include <string>

#include "absl/strings/string_view.h"
#include "source/common/http/headers.h"

namespace gateway::oauth {

// The Bearer challenge's attributes the gateway uses; each empty when absent or unusable.
struct BearerChallengeParams {
  bool present = false;           // a Bearer challenge was found at all
  std::string error;              // "invalid_token", "insufficient_scope", ...
  std::string scope;              // only scope-token characters (RFC 6749 section 3.3)
  std::string resource_metadata;  // RFC 9728 section 5.1; not checked to be a URL here
};

// Parses one WWW-Authenticate field value, which may hold several challenges (RFC 9110 section
// 11.6.1: `Basic realm="x", Bearer scope="a b", error="insufficient_scope"`), quoted strings with
// escapes included. Only the Bearer challenge is read.
BearerChallengeParams ParseBearerChallenge(absl::string_view header);

// The Bearer challenge among every WWW-Authenticate field of `headers`.
BearerChallengeParams FindBearerChallenge(const http::HeaderMap& headers);

// RFC 6749 section 3.3: space-separated scope-tokens of %x21 / %x23-5B / %x5D-7E.
bool IsScopeString(absl::string_view scope);

}  // namespace gateway::oauth

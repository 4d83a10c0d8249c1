#pragma once

// Client authentication at the token and revocation endpoints (RFC 6749 section 2.3.1): HTTP
// Basic or the form body, never both; public clients send only their client_id.

#include <string>

#include "absl/status/statusor.h"
#include "source/common/http/headers.h"
#include "source/common/oauth/form.h"
#include "source/common/store/records.h"

namespace gateway::oauth {

struct ClientCredentials {
  std::string client_id;
  std::string client_secret;  // empty when none was presented
  bool basic = false;         // presented with HTTP Basic
};

// The credentials a request presents. InvalidArgument when they are malformed or presented
// twice; Unauthenticated when there is no client_id at all.
absl::StatusOr<ClientCredentials> ReadClientCredentials(const http::HeaderMap& headers,
                                                        const Form& form);

// Whether `presented` authenticates `client`: a confidential client must present its secret
// (compared by hash, in constant time); a public one must present none.
bool Authenticates(const store::Client& client, const ClientCredentials& presented);

}  // namespace gateway::oauth

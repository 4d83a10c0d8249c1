#pragma once

// `token_exchange`: the token endpoint, POST /token (RFC 6749 sections 3.2, 4.1.3 and 6).
//   authorization_code: the client authenticates as it registered; the code is single use (a
//     replay gets invalid_grant and revokes every token issued from it), bound to the client
//     and the redirect URI, short-lived; PKCE S256 is verified.
//   refresh_token: rotation (a replayed old refresh token gets invalid_grant and revokes the
//     grant); the upstream token is refreshed upstream when it is about to expire and the
//     upstream can refresh, a rotated upstream refresh token is stored before anything else; an
//     upstream without refresh tokens keeps its access token; an upstream failure is
//     invalid_grant, never a 500.
// Answers carry Cache-Control: no-store; errors use the exact RFC 6749 section 5.2 codes.

#include "source/filter.h"

namespace gateway::filters {

class TokenExchangeFactory : public FilterFactory {
 public:
  absl::StatusOr<FilterFactoryFn> CreateFilterFactory(const config::Node& config,
                                                      FactoryContext& context) const override;
};

}  // namespace gateway::filters

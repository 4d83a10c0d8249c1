#pragma once

// `login`: screen 1, the gateway's own login and per-client consent, then the redirect to the
// upstream's authorization (screen 2).
//   GET  /login?flow=ID     the login form (CSRF token bound to the flow; no framing, no cache)
//   POST /login/callback    checks the credentials (constant time, scrypt off the event loop),
//                           limits failures per user and per client address
//   POST /consent           the user's decision about this client, remembered per user+client
// After approval the flow gets a fresh single-use upstream state and PKCE verifier, and the
// browser goes to the upstream's authorize endpoint with the gateway's own client id,
// redirect_uri=<public_url>/upstream/callback, and the upstream scope (UpstreamOAuth::ScopeFor:
// the discovered or configured one, plus what the client asked for that the upstream named, as
// in a step-up). When the upstream cannot be used the client is sent back with
// temporarily_unavailable (try again later) or server_error.

#include "source/filter.h"

namespace gateway::filters {

class LoginFactory : public FilterFactory {
 public:
  absl::StatusOr<FilterFactoryFn> CreateFilterFactory(const config::Node& config,
                                                      FactoryContext& context) const override;
};

}  // namespace gateway::filters

#pragma once

// `bearer_split`: checks the client's token on every MCP request and hands the upstream half on.
// Reads `Authorization: Bearer <token>` (scheme in any case), base64url-decodes it, splits at
// the first ':', and looks the gateway half up (by hash: exists, unexpired, unrevoked, an access
// token, issued for this resource). The upstream half is unsealed (sealed format, which also
// proves the halves belong together) or compared by hash (plain format), and must be an RFC 6750
// b64token, so no CR or LF can ever reach an upstream header. Anything wrong: 401 with
// `WWW-Authenticate: Bearer error="invalid_token", resource_metadata="..."` (no error when there
// was no token at all), and nothing reaches the upstream. Tokens in the query string are
// refused. CORS preflights (OPTIONS, which carry no credentials) pass on to upstream_forward.

#include "source/filter.h"

namespace gateway::filters {

class BearerSplitFactory : public FilterFactory {
 public:
  absl::StatusOr<FilterFactoryFn> CreateFilterFactory(const config::Node& config,
                                                      FactoryContext& context) const override;
};

// The challenge the gateway sends with a 401 on the MCP path (RFC 6750 section 3, RFC 9728
// section 5.1). `error` empty: no error attribute (the request had no token).
std::string BearerChallenge(const Config& config, absl::string_view error,
                            absl::string_view description);

}  // namespace gateway::filters

#pragma once

// `authorize`: the authorization endpoint, GET or POST /authorize (RFC 6749 section 4.1.1, PKCE
// per RFC 7636, resource per RFC 8707). It checks the client and its redirect URI first: an
// unknown client or an unregistered redirect URI gets an error page, never a redirect. After
// that, errors go back to the redirect URI (invalid_request for missing or non-S256 PKCE,
// unsupported_response_type, invalid_scope, invalid_target for a foreign resource). A valid
// request starts a flow, keyed by a server-made id (never the client's state), and sends the
// browser to the login screen.

#include "source/filter.h"

namespace gateway::filters {

class AuthorizeFactory : public FilterFactory {
 public:
  absl::StatusOr<FilterFactoryFn> CreateFilterFactory(const config::Node& config,
                                                      FactoryContext& context) const override;
};

}  // namespace gateway::filters

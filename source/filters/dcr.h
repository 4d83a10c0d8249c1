#pragma once

// `dcr`: RFC 7591 dynamic client registration at POST /register. Validates the metadata (redirect
// URIs by source/common/oauth/redirect_uri.h, auth method, grant and response types), stores the
// client (its secret only as a hash), and answers 201 with client_id, a secret unless the
// method is "none", and the registered metadata echoed (clients break when redirect_uris is not
// echoed). Bad input: 400 invalid_client_metadata / invalid_redirect_uri, never a 500; a full
// store: 429. CORS-enabled.

#include "source/filter.h"

namespace gateway::filters {

class DcrFactory : public FilterFactory {
 public:
  absl::StatusOr<FilterFactoryFn> CreateFilterFactory(const config::Node& config,
                                                      FactoryContext& context) const override;
};

}  // namespace gateway::filters

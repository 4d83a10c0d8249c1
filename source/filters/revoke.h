#pragma once

// `revoke`: token revocation, POST /revoke (RFC 7009). The client authenticates as at the token
// endpoint; a token it holds (access or refresh) revokes its whole grant, and the upstream
// tokens are revoked upstream too when the upstream has a revocation endpoint. As RFC 7009
// section 2.2 asks, an invalid or unknown token still gets 200.

#include "source/filter.h"

namespace gateway::filters {

class RevokeFactory : public FilterFactory {
 public:
  absl::StatusOr<FilterFactoryFn> CreateFilterFactory(const config::Node& config,
                                                      FactoryContext& context) const override;
};

}  // namespace gateway::filters

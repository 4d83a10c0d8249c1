#pragma once

// `upstream_callback`: where the upstream sends the browser back, GET /upstream/callback. The
// state must name a flow that went upstream and has not come back yet (single use): otherwise
// 400 and no upstream call. An upstream error goes back to the client's redirect URI with the
// client's state. Otherwise the gateway exchanges the upstream code (with its PKCE verifier),
// keeps the upstream tokens in a new grant, and sends the client a single-use gateway code (with
// `iss`, RFC 9207).

#include "source/filter.h"

namespace gateway::filters {

class UpstreamCallbackFactory : public FilterFactory {
 public:
  absl::StatusOr<FilterFactoryFn> CreateFilterFactory(const config::Node& config,
                                                      FactoryContext& context) const override;
};

}  // namespace gateway::filters

#pragma once

// `delay`: holds each matching request for a fixed time, then lets it go on down the chain
// (Envoy's fault-injection delay). For testing how clients and upstreams cope with a slow
// gateway, and the reference for a filter that takes the asynchronous path: it returns
// kStopIteration, keeps a handle to its pending work (a timer), resumes with ContinueChain(), and
// cancels the timer in OnDestroy() so that a request that ended early is never resumed.
//
//   - name: delay
//     match: {prefix: /mcp}
//     config: {duration: 250ms}

#include "source/filter.h"

namespace gateway::filters {

class DelayFactory : public FilterFactory {
 public:
  absl::StatusOr<FilterFactoryFn> CreateFilterFactory(const config::Node& config,
                                                      FactoryContext& context) const override;
};

}  // namespace gateway::filters

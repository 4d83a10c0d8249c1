#pragma once

// `health`: answers GET /healthz with 200 {"status":"ok"}, or 503 {"status":"draining"} once
// shutdown has begun, so that a load balancer or Kubernetes readiness probe stops sending traffic
// while requests in flight finish. No config.

#include "source/filter.h"

namespace gateway::filters {

class HealthFactory : public FilterFactory {
 public:
  absl::StatusOr<FilterFactoryFn> CreateFilterFactory(const config::Node& config,
                                                      FactoryContext& context) const override;
};

}  // namespace gateway::filters

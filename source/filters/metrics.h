#pragma once

// `metrics`: answers GET /metrics with the gateway's Prometheus metrics (text format 0.0.4), for
// a scraper. Outside the auth chain, so it is served where only operators reach it: on the admin
// listener (`admin.port`), which runs `health` and `metrics` alone. Naming it in the public
// `filters:` chain is possible (behind an ip_allowlist, say), never the default. No config.

#include <memory>

#include "source/filter.h"
#include "source/filter_chain.h"
#include "source/filter_registry.h"

namespace gateway::filters {

class MetricsFactory : public FilterFactory {
 public:
  absl::StatusOr<FilterFactoryFn> CreateFilterFactory(const config::Node& config,
                                                      FactoryContext& context) const override;
};

// The admin listener's chain: `health` at GET /healthz, `metrics` at GET /metrics.
absl::StatusOr<std::shared_ptr<const FilterChain>> BuildAdminChain(const FilterRegistry& registry,
                                                                   FactoryContext& context);

}  // namespace gateway::filters

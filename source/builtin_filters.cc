#include <memory>

#include "source/filter_registry.h"
#include "source/filters/authorize.h"
#include "source/filters/bearer_split.h"
#include "source/filters/dcr.h"
#include "source/filters/delay.h"
#include "source/filters/direct_response.h"
#include "source/filters/health.h"
#include "source/filters/login.h"
#include "source/filters/metadata.h"
#include "source/filters/metrics.h"
#include "source/filters/revoke.h"
#include "source/filters/token_exchange.h"
#include "source/filters/upstream_callback.h"
#include "source/filters/upstream_forward.h"

namespace gateway {

void RegisterBuiltinFilters(FilterRegistry& registry) {
  registry.Register("authorize", std::make_unique<filters::AuthorizeFactory>());
  registry.Register("bearer_split", std::make_unique<filters::BearerSplitFactory>());
  registry.Register("dcr", std::make_unique<filters::DcrFactory>());
  registry.Register("delay", std::make_unique<filters::DelayFactory>());
  registry.Register("direct_response", std::make_unique<filters::DirectResponseFactory>());
  registry.Register("health", std::make_unique<filters::HealthFactory>());
  registry.Register("login", std::make_unique<filters::LoginFactory>());
  registry.Register("metadata", std::make_unique<filters::MetadataFactory>());
  registry.Register("metrics", std::make_unique<filters::MetricsFactory>());
  registry.Register("revoke", std::make_unique<filters::RevokeFactory>());
  registry.Register("token_exchange", std::make_unique<filters::TokenExchangeFactory>());
  registry.Register("upstream_callback", std::make_unique<filters::UpstreamCallbackFactory>());
  registry.Register("upstream_forward", std::make_unique<filters::UpstreamForwardFactory>());
}

}  // namespace gateway

#include <memory>

#include "source/filter_registry.h"
#include "source/filters/delay.h"
#include "source/filters/direct_response.h"
#include "source/filters/health.h"

namespace gateway {

void RegisterBuiltinFilters(FilterRegistry& registry) {
  registry.Register("delay", std::make_unique<filters::DelayFactory>());
  registry.Register("direct_response", std::make_unique<filters::DirectResponseFactory>());
  registry.Register("health", std::make_unique<filters::HealthFactory>());
}

}  // namespace gateway

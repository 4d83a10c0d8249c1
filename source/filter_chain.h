#pragma once

// The configured chain: for each `filters:` entry, its name, its match and the function that
// makes its filter. Built once at start-up on the main thread (every factory validates its config
// then) and shared, immutable, by all workers.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "source/common/config/config.h"
#include "source/filter.h"
#include "source/filter_registry.h"

namespace gateway {

class FilterChain {
 public:
  struct Entry {
    std::string name;
    RouteMatch match;
    FilterFactoryFn create;
  };

  explicit FilterChain(std::vector<Entry> entries) : entries_(std::move(entries)) {}

  // Looks up every entry's factory and lets it parse its config. An unknown name or a bad
  // config is an error that names file, line and column.
  static absl::StatusOr<std::shared_ptr<const FilterChain>> Build(const Config& config,
                                                                  const FilterRegistry& registry,
                                                                  FactoryContext& context);

  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

}  // namespace gateway

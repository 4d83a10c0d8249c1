#include "source/filter_chain.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gateway {

absl::StatusOr<std::shared_ptr<const FilterChain>> FilterChain::Build(
    const Config& config, const FilterRegistry& registry, FactoryContext& context) {
  if (absl::Status status = registry.status(); !status.ok()) {
    return status;
  }
  std::vector<Entry> entries;
  entries.reserve(config.filters.size());
  for (const FilterEntry& filter : config.filters) {
    const FilterFactory* factory = registry.Find(filter.name);
    if (factory == nullptr) {
      config::MapReader entry(filter.where);
      return entry.Child("name").Error(
          absl::StrCat("unknown filter \"", filter.name,
                       "\" (registered: ", absl::StrJoin(registry.Names(), ", "), ")"));
    }
    absl::StatusOr<FilterFactoryFn> create = factory->CreateFilterFactory(filter.config, context);
    if (!create.ok()) {
      return create.status();
    }
    entries.push_back(Entry{filter.name, filter.match, std::move(*create)});
  }
  return std::make_shared<const FilterChain>(std::move(entries));
}

}  // namespace gateway

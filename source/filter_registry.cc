#include "source/filter_registry.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace gateway {

void FilterRegistry::Register(std::string name, std::unique_ptr<FilterFactory> factory) {
  if (factories_.find(name) != factories_.end()) {
    if (status_.ok()) {
      status_ = absl::AlreadyExistsError(
          absl::StrCat("two filters are registered under the name \"", name, "\""));
    }
    return;
  }
  factories_.emplace(std::move(name), std::move(factory));
}

const FilterFactory* FilterRegistry::Find(absl::string_view name) const {
  auto found = factories_.find(name);
  return found == factories_.end() ? nullptr : found->second.get();
}

std::vector<std::string> FilterRegistry::Names() const {
  std::vector<std::string> names;
  names.reserve(factories_.size());
  for (const auto& [name, factory] : factories_) {
    names.push_back(name);
  }
  return names;
}

}  // namespace gateway

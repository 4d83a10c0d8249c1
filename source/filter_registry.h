#pragma once

// Filter factories by name: the names gateway.yaml's chain entries use. An ordinary object built
// in main(), with the built-in filters and the user's extensions registered explicitly; no static
// registration. Filled before start-up and read-only afterwards.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "source/filter.h"

namespace gateway {

class FilterRegistry {
 public:
  // Registers `factory` as `name`. Registering a name twice is a programming error that status()
  // reports; the first registration stays.
  void Register(std::string name, std::unique_ptr<FilterFactory> factory);
  // nullptr when no factory has that name.
  const FilterFactory* Find(absl::string_view name) const;
  // Every registered name, sorted.
  std::vector<std::string> Names() const;
  // OK unless a name was registered twice.
  absl::Status status() const { return status_; }

 private:
  std::map<std::string, std::unique_ptr<FilterFactory>, std::less<>> factories_;
  absl::Status status_;
};

// The filters in source/filters/.
void RegisterBuiltinFilters(FilterRegistry& registry);
// The filters in the extensions folder (generated from its listing at build time).
void RegisterExtensionFilters(FilterRegistry& registry);

}  // namespace gateway

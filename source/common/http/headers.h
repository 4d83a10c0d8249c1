#pragma once

// An ordered list of HTTP header fields with case-insensitive lookup (RFC 9110 section 5.1).
// Order and duplicates are kept as received. A small vector beats a hash map at the dozen
// headers a request carries.

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"

namespace gateway::http {

class HeaderMap {
 public:
  using Entry = std::pair<std::string, std::string>;

  void Add(absl::string_view name, absl::string_view value) {
    entries_.emplace_back(std::string(name), std::string(value));
  }
  // Replaces every field named `name` with one field.
  void Set(absl::string_view name, absl::string_view value);
  // Removes every field named `name`; returns how many there were.
  size_t Remove(absl::string_view name);
  // The first field named `name`, or nullptr.
  const std::string* Get(absl::string_view name) const;
  size_t Count(absl::string_view name) const;
  // Keeps the fields whose name `keep(name)` accepts, in order, and drops the others.
  template <typename Keep>
  void RetainIf(Keep keep) {
    std::erase_if(entries_, [&keep](const Entry& entry) { return !keep(entry.first); });
  }
  bool Has(absl::string_view name) const { return Get(name) != nullptr; }
  // Whether the comma-separated field `name` lists `token` (case-insensitive), as in
  // "Connection: keep-alive, Upgrade".
  bool HasToken(absl::string_view name, absl::string_view token) const;

  std::vector<Entry>::const_iterator begin() const { return entries_.begin(); }
  std::vector<Entry>::const_iterator end() const { return entries_.end(); }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void clear() { entries_.clear(); }
  void reserve(size_t n) { entries_.reserve(n); }

 private:
  std::vector<Entry> entries_;
};

// Whether two field names are the same name (RFC 9110 section 5.1: case-insensitive). The lengths
// are compared first, inline: most of the names a lookup passes differ in length.
inline bool SameFieldName(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(a[i])) !=
        absl::ascii_tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// RFC 9110 section 5.6.2: whether `name` is a token. Header names that are not are refused.
bool IsValidHeaderName(absl::string_view name);
// RFC 9110 section 5.5: a field value never carries CR, LF or NUL. This is the check that keeps
// response splitting and header injection out of everything the gateway sends.
bool IsValidHeaderValue(absl::string_view value);

}  // namespace gateway::http

#pragma once

// application/x-www-form-urlencoded (the WHATWG URL standard's rules, which OAuth uses for query
// strings and token requests alike): parsing with strict rules for OAuth parameters, and
// building query strings and form bodies.

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gateway::oauth {

// Percent-decodes `text` ('+' becomes a space). False on a bad escape.
bool FormDecode(absl::string_view text, std::string* out);
// Percent-encodes everything but unreserved characters (RFC 3986 section 2.3).
std::string FormEncode(absl::string_view text);

// Parsed parameters. OAuth forbids repeating a parameter (RFC 6749 section 3.1), so a repeat is
// an error rather than a list.
class Form {
 public:
  // Parses "a=1&b=2". InvalidArgument for a bad escape or a repeated name (naming it).
  static absl::StatusOr<Form> Parse(absl::string_view text);

  // The value of `name`, or "" when absent.
  const std::string& Get(absl::string_view name) const;
  bool Has(absl::string_view name) const { return values_.contains(name); }

 private:
  absl::flat_hash_map<std::string, std::string> values_;
};

// "a=1&b=x%20y" from ordered pairs; empty values are kept.
std::string EncodeForm(const std::vector<std::pair<std::string, std::string>>& params);
// `url` with `params` appended to its query ('?' or '&' as needed).
std::string AppendQuery(absl::string_view url,
                        const std::vector<std::pair<std::string, std::string>>& params);

}  // namespace gateway::oauth

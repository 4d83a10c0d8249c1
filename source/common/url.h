#pragma once

// Absolute http(s) URLs as the gateway's configuration names them (the upstream resource server,
// the upstream authorization server, the public URL).

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gateway {

struct Url {
  std::string scheme;  // "http" or "https", lower case
  std::string host;    // "example.com", "127.0.0.1", "::1" (no brackets)
  uint16_t port = 0;   // explicit or the scheme's default
  std::string path;    // "/mcp/"; "/" when the URL has none
  std::string query;   // without '?'; empty when absent

  bool tls() const { return scheme == "https"; }
  // The Host header value: the host (bracketed if IPv6) and the port unless it is the default.
  std::string Authority() const;
  // scheme://authority
  std::string Origin() const;
  // path plus "?query" when there is one.
  std::string Target() const;
  std::string ToString() const { return Origin() + Target(); }
  // "scheme://host:port", the key of a connection pool; AppendPoolKey() adds it to `out`.
  std::string PoolKey() const;
  void AppendPoolKey(std::string& out) const;
};

// Parses an absolute http or https URL. Userinfo and fragments are refused: neither belongs in a
// URL the gateway connects to.
absl::StatusOr<Url> ParseUrl(absl::string_view text);

}  // namespace gateway

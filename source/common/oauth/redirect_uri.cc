#include "source/common/oauth/redirect_uri.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gateway::oauth {
namespace {

struct Parts {
  std::string scheme;     // lower case
  std::string authority;  // as written, after "//"; empty if none
  std::string host;       // lower case, brackets removed
  std::string port;       // digits or empty
  std::string rest;       // path, query
  bool has_authority = false;
};

// A deliberately small RFC 3986 split, enough to compare and classify redirect URIs.
bool Split(absl::string_view uri, Parts& out) {
  const size_t colon = uri.find(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return false;
  }
  out.scheme = absl::AsciiStrToLower(uri.substr(0, colon));
  if (!absl::ascii_isalpha(static_cast<unsigned char>(out.scheme[0]))) {
    return false;
  }
  for (char c : out.scheme) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return false;
    }
  }
  absl::string_view rest = uri.substr(colon + 1);
  if (absl::StartsWith(rest, "//")) {
    out.has_authority = true;
    rest.remove_prefix(2);
    const size_t end = rest.find_first_of("/?#");
    out.authority = std::string(rest.substr(0, end));
    rest = end == absl::string_view::npos ? absl::string_view() : rest.substr(end);
    absl::string_view host_port = out.authority;
    if (!host_port.empty() && host_port.front() == '[') {
      const size_t close = host_port.find(']');
      if (close == absl::string_view::npos) {
        return false;
      }
      out.host = absl::AsciiStrToLower(host_port.substr(1, close - 1));
      host_port.remove_prefix(close + 1);
      if (!host_port.empty()) {
        if (host_port.front() != ':') {
          return false;
        }
        out.port = std::string(host_port.substr(1));
      }
    } else {
      const size_t port_colon = host_port.rfind(':');
      out.host = absl::AsciiStrToLower(host_port.substr(0, port_colon));
      if (port_colon != absl::string_view::npos) {
        out.port = std::string(host_port.substr(port_colon + 1));
      }
    }
    for (char c : out.port) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
        return false;
      }
    }
  }
  out.rest = std::string(rest);
  return true;
}

}  // namespace

bool IsLoopbackHost(absl::string_view host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost";
}

absl::Status ValidateRedirectUri(absl::string_view uri) {
  Parts parts;
  if (uri.empty() || uri.size() > 2048 || !Split(uri, parts)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", uri, "\" is not an absolute URI"));
  }
  for (unsigned char c : uri) {
    if (c <= 0x20 || c >= 0x7f) {
      return absl::InvalidArgumentError("a redirect URI must not contain spaces or controls");
    }
  }
  if (uri.find('#') != absl::string_view::npos) {
    return absl::InvalidArgumentError("a redirect URI must not have a fragment");
  }
  for (const char* refused : {"javascript", "data", "file", "vbscript", "blob", "about"}) {
    if (parts.scheme == refused) {
      return absl::InvalidArgumentError(
          absl::StrCat("the ", parts.scheme, ": scheme is not allowed for redirects"));
    }
  }
  if (parts.has_authority && parts.authority.find('@') != std::string::npos) {
    return absl::InvalidArgumentError("a redirect URI must not carry user info");
  }
  if (parts.scheme == "https") {
    if (parts.host.empty()) {
      return absl::InvalidArgumentError("an https redirect URI needs a host");
    }
    return absl::OkStatus();
  }
  if (parts.scheme == "http") {
    if (!IsLoopbackHost(parts.host)) {
      return absl::InvalidArgumentError(
          "plain http redirect URIs are allowed only to loopback (127.0.0.1, [::1], localhost)");
    }
    return absl::OkStatus();
  }
  // A private-use scheme of a native app (RFC 8252 section 7.1).
  return absl::OkStatus();
}

bool RedirectUriMatches(absl::string_view registered, absl::string_view presented) {
  if (registered == presented) {
    return true;
  }
  Parts a;
  Parts b;
  if (!Split(registered, a) || !Split(presented, b)) {
    return false;
  }
  // RFC 8252 section 7.3: any port on a loopback redirect; everything else must be identical.
  return a.scheme == "http" && b.scheme == "http" && IsLoopbackHost(a.host) && a.host == b.host &&
         a.rest == b.rest && absl::StartsWith(presented, "http://") &&
         absl::StartsWith(registered, "http://") && b.authority.find('@') == std::string::npos;
}

const std::string* FindRedirectUri(const std::vector<std::string>& registered,
                                   absl::string_view presented) {
  for (const std::string& uri : registered) {
    if (RedirectUriMatches(uri, presented)) {
      return &uri;
    }
  }
  return nullptr;
}

std::string RedirectUriHost(absl::string_view uri) {
  Parts parts;
  if (!Split(uri, parts)) {
    return std::string(uri);
  }
  if (parts.has_authority && !parts.host.empty()) {
    return parts.host;
  }
  return parts.scheme + ":";
}

}  // namespace gateway::oauth

#include "source/common/url.h"

#include <event2/http.h>

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace gateway {
namespace {

struct UriDeleter {
  void operator()(evhttp_uri* uri) const { evhttp_uri_free(uri); }
};

}  // namespace

std::string Url::Authority() const {
  const bool default_port = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  const std::string bracketed = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return default_port ? bracketed : absl::StrCat(bracketed, ":", port);
}

std::string Url::Origin() const { return absl::StrCat(scheme, "://", Authority()); }

std::string Url::Target() const { return query.empty() ? path : absl::StrCat(path, "?", query); }

std::string Url::PoolKey() const {
  std::string key;
  AppendPoolKey(key);
  return key;
}

void Url::AppendPoolKey(std::string& out) const {
  absl::StrAppend(&out, scheme, "://", host, ":", port);
}

absl::StatusOr<Url> ParseUrl(absl::string_view text) {
  const std::string input(text);
  std::unique_ptr<evhttp_uri, UriDeleter> uri(evhttp_uri_parse_with_flags(input.c_str(), 0));
  if (uri == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a valid URL"));
  }
  Url url;
  const char* scheme = evhttp_uri_get_scheme(uri.get());
  url.scheme = absl::AsciiStrToLower(scheme == nullptr ? "" : scheme);
  if (url.scheme != "http" && url.scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not an http:// or https:// URL"));
  }
  const char* host = evhttp_uri_get_host(uri.get());
  if (host == nullptr || *host == '\0') {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" has no host"));
  }
  url.host = absl::AsciiStrToLower(host);
  if (url.host.size() > 2 && url.host.front() == '[' && url.host.back() == ']') {
    url.host = url.host.substr(1, url.host.size() - 2);
  }
  if (evhttp_uri_get_userinfo(uri.get()) != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" carries user info"));
  }
  if (evhttp_uri_get_fragment(uri.get()) != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" has a fragment"));
  }
  const int port = evhttp_uri_get_port(uri.get());
  if (port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" has an invalid port"));
  }
  url.port = port > 0 ? static_cast<uint16_t>(port) : (url.tls() ? 443 : 80);
  const char* path = evhttp_uri_get_path(uri.get());
  url.path = (path == nullptr || *path == '\0') ? "/" : path;
  const char* query = evhttp_uri_get_query(uri.get());
  url.query = query == nullptr ? "" : query;
  return url;
}

}  // namespace gateway

#pragma once

// A headless "browser" and OAuth client for end-to-end tests: plain HTTP requests on fresh
// loopback connections, redirects followed by hand, HTML forms read and submitted. Nothing runs
// JavaScript, so every page the gateway and the test upstreams show must work without it.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "test/support/raw_http.h"

namespace gateway::testing {

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Where a request goes: 127.0.0.1:`port`, over TLS when `ca_file` is set (the server's
// certificate must chain to it; RawClient::ConnectTls).
struct Endpoint {
  Endpoint(uint16_t port, std::string ca_file = "") : port(port), ca_file(std::move(ca_file)) {}
  uint16_t port;
  std::string ca_file;
};

// Sends one request on a new connection to `endpoint` and reads the response.
absl::StatusOr<RawResponse> Send(const Endpoint& endpoint, const HttpRequest& request);
// A GET of an absolute http://127.0.0.1:PORT/... URL (a Location header); https:// URLs go over
// TLS, trusting `ca_file`.
absl::StatusOr<RawResponse> GetUrl(const std::string& url, const std::string& ca_file = "");
// A POST of a form to `endpoint`.
absl::StatusOr<RawResponse> PostForm(const Endpoint& endpoint, const std::string& target,
                                     const std::vector<std::pair<std::string, std::string>>& form,
                                     std::vector<std::pair<std::string, std::string>> headers = {});

// The first <form> of an HTML page: where it posts and its inputs (name → value).
struct HtmlForm {
  std::string action;
  std::map<std::string, std::string> inputs;
};
absl::StatusOr<HtmlForm> FirstForm(absl::string_view html);

// The query parameters of a URL (decoded).
std::map<std::string, std::string> QueryOf(absl::string_view url);

// A PKCE verifier and its S256 challenge.
struct Pkce {
  std::string verifier;
  std::string challenge;
};
Pkce MakePkce();

}  // namespace gateway::testing

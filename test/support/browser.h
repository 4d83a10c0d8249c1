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

// Sends one request on a new connection to 127.0.0.1:`port` and reads the response.
absl::StatusOr<RawResponse> Send(uint16_t port, const HttpRequest& request);
// A GET of an absolute http://127.0.0.1:PORT/... URL (a Location header).
absl::StatusOr<RawResponse> GetUrl(const std::string& url);
// A POST of a form to `port`.
absl::StatusOr<RawResponse> PostForm(uint16_t port, const std::string& target,
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

// Redirect URIs, as a client registers them (oauth::ValidateRedirectUri) and presents them at
// /authorize (oauth::RedirectUriMatches, exact but for the loopback port of RFC 8252 section
// 7.3), and the URL parser the gateway uses for every URL it connects to or compares
// (gateway::ParseUrl: discovered endpoints, metadata document URLs, resources).
//
// Input: "<registered>\n<presented>"; without a newline the input is both.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_split.h"
#include "source/common/oauth/client_metadata.h"
#include "source/common/oauth/redirect_uri.h"
#include "source/common/url.h"
#include "test/fuzz/check.h"

namespace {

using gateway::fuzz::Check;

void CheckUrl(absl::string_view text) {
  absl::StatusOr<gateway::Url> url = gateway::ParseUrl(text);
  if (!url.ok()) {
    return;
  }
  Check(url->scheme == "http" || url->scheme == "https", "a URL is http or https");
  Check(!url->host.empty() && url->port != 0, "a URL has a host and a port");
  Check(!url->path.empty() && url->path.front() == '/', "a URL's path starts with '/'");
  // The canonical form the gateway publishes and compares (SameResource, the issuer) must read
  // back as the same URL.
  absl::StatusOr<gateway::Url> again = gateway::ParseUrl(url->ToString());
  Check(again.ok() && again->ToString() == url->ToString(),
        "a URL's canonical form parses to itself");
  gateway::oauth::IsClientMetadataUrl(text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  std::pair<absl::string_view, absl::string_view> uris =
      absl::StrSplit(input, absl::MaxSplits('\n', 1));
  if (input.find('\n') == absl::string_view::npos) {
    uris.second = input;
  }
  const absl::string_view registered = uris.first;
  const absl::string_view presented = uris.second;

  const bool registrable = gateway::oauth::ValidateRedirectUri(registered).ok();
  Check(gateway::oauth::RedirectUriMatches(registered, registered), "a URI matches itself");
  const bool matches = gateway::oauth::RedirectUriMatches(registered, presented);
  const std::vector<std::string> list = {std::string(registered)};
  Check((gateway::oauth::FindRedirectUri(list, presented) != nullptr) == matches,
        "FindRedirectUri agrees with RedirectUriMatches");
  if (registrable && matches) {
    // Where the code goes must be where the client registered: the same host (only a loopback
    // port may differ), and a URI that could itself have been registered.
    Check(gateway::oauth::ValidateRedirectUri(presented).ok(),
          "a URI matching a registered one is itself valid");
    Check(gateway::oauth::RedirectUriHost(presented) == gateway::oauth::RedirectUriHost(registered),
          "a URI matching a registered one has its host");
  }
  gateway::oauth::IsLoopbackHost(registered);

  CheckUrl(registered);
  if (presented != registered) {
    CheckUrl(presented);
  }
  return 0;
}

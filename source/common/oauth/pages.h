#pragma once

// The HTML the gateway shows people: the login form (screen 1), the consent form, and error
// pages. Every value is HTML-escaped; every page carries headers that forbid framing and caching
// and allow no script (DESIGN.md, security rules).

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "source/common/http/reply.h"

namespace gateway::oauth {

// Escapes & < > " ' for text and attribute values.
std::string HtmlEscape(absl::string_view text);

struct LoginPage {
  std::string flow_id;
  std::string csrf_token;
  std::string client_name;  // as registered; escaped on output
  std::string username;     // refilled after a failed attempt
  std::string error;        // shown above the form when set
};
http::LocalReply RenderLogin(const LoginPage& page, int status = 200);

struct ConsentPage {
  std::string flow_id;
  std::string csrf_token;
  std::string user;
  std::string client_name;
  std::string redirect_host;    // where the client will receive the result
  std::string upstream_host;    // where the user goes next
  std::string upstream_scopes;  // what is asked of the upstream
  bool offer_remember = true;
};
http::LocalReply RenderConsent(const ConsentPage& page);

// A page that ends the flow here (no redirect): unknown client, unregistered redirect URI,
// expired link.
http::LocalReply RenderError(int status, absl::string_view title, absl::string_view message);

// A 302 to `location` with the headers every authorization response carries.
http::LocalReply Redirect(const std::string& location);

// The authorization response (RFC 6749 section 4.1.2 and 4.1.2.1) sent to the client's
// redirect URI: `params` (code, or error and error_description), then the client's `state` when
// it sent one, then `iss` (RFC 9207).
http::LocalReply RedirectToClient(const std::string& redirect_uri,
                                  std::vector<std::pair<std::string, std::string>> params,
                                  const std::string& state, const std::string& issuer);

}  // namespace gateway::oauth

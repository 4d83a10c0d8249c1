#pragma once

// Redirect URIs: which may be registered (RFC 7591, RFC 8252, OAuth 2.1 section 7.5) and which
// presented URI matches a registered one (exact string match, with the loopback exception).

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace gateway::oauth {

// Accepts https URLs, http only to loopback hosts (127.0.0.1, [::1], localhost), and private-use
// schemes of native apps ("cursor://...", "com.example.app:/cb"). Refuses fragments, user info,
// relative URIs, and the schemes that execute or read locally (javascript:, data:, file:,
// vbscript:, blob:, about:). The message says why, for `invalid_redirect_uri`.
absl::Status ValidateRedirectUri(absl::string_view uri);

// Whether `presented` matches `registered`: the same string, or, for http loopback URIs, the
// same but for the port (RFC 8252 section 7.3: native apps get a port at run time).
bool RedirectUriMatches(absl::string_view registered, absl::string_view presented);

// The registered URI that `presented` matches, or nullptr.
const std::string* FindRedirectUri(const std::vector<std::string>& registered,
                                   absl::string_view presented);

// Whether a URL's host (no brackets) is a loopback name of RFC 8252 section 7.3.
bool IsLoopbackHost(absl::string_view host);

// The host shown to a user deciding on consent ("claude.ai", "127.0.0.1", "cursor://...").
std::string RedirectUriHost(absl::string_view uri);

}  // namespace gateway::oauth

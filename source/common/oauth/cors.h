#pragma once

// CORS for the endpoints browser-based MCP clients call directly (metadata, registration, token,
// revocation): any origin, no credentials (these endpoints use no cookies), and preflights.

#include "absl/strings/string_view.h"
#include "source/common/http/headers.h"
#include "source/common/http/reply.h"

namespace gateway::oauth {

// Access-Control-Allow-Origin: * and the headers a script may read (WWW-Authenticate).
void AddCorsHeaders(http::HeaderMap& headers);

// The answer to an OPTIONS preflight for an endpoint that takes `methods`.
http::LocalReply CorsPreflight(absl::string_view methods);

// 405 with Allow (RFC 9110 section 15.5.6).
http::LocalReply MethodNotAllowed(absl::string_view methods);

}  // namespace gateway::oauth

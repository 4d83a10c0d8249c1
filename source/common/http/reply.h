#pragma once

// Whole replies that the gateway writes itself: error bodies in the OAuth shape (RFC 6749 section
// 5.2: {"error": ..., "error_description": ...}), and the one mapping from absl::Status to HTTP.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "source/common/http/headers.h"

namespace gateway::http {

struct LocalReply {
  int status = 200;
  std::string content_type;
  std::string body;
  HeaderMap headers;  // extra headers (WWW-Authenticate, Location, Cache-Control, ...)
};

// {"error":"<error>","error_description":"<description>"}; the description is omitted if empty.
std::string ErrorBody(absl::string_view error, absl::string_view description);

// A JSON error reply with `status`.
LocalReply ErrorReply(int status, absl::string_view error, absl::string_view description);

// The HTTP status and OAuth-style error code for a failed absl::Status: InvalidArgument → 400
// invalid_request, Unauthenticated → 401 invalid_token, PermissionDenied → 403 access_denied,
// NotFound → 404 not_found, ResourceExhausted → 429 too_many_requests, Unavailable → 503
// temporarily_unavailable, DeadlineExceeded → 504 upstream_timeout, anything else → 500
// server_error. The status message becomes the description, so it must never hold a secret.
LocalReply ReplyFromStatus(const absl::Status& status);

}  // namespace gateway::http

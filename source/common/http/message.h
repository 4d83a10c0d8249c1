#pragma once

// The head of an HTTP/1.1 request or response, as parsed from the wire or as built by a filter.

#include <string>

#include "source/common/http/headers.h"

namespace gateway::http {

struct RequestHead {
  std::string method;  // "GET", "POST", ...
  std::string target;  // the request-target as received: "/mcp?x=1"
  std::string path;    // the target's path: "/mcp"
  std::string query;   // the target's query without '?': "x=1"; empty when absent
  int version_minor = 1;
  HeaderMap headers;
};

struct ResponseHead {
  int status = 200;
  int version_minor = 1;
  HeaderMap headers;
};

// Splits a request-target into path and query (RFC 9112 section 3.2).
void SplitTarget(RequestHead& head);

// The standard reason phrase for `status`, "Unknown" when there is none.
const char* ReasonPhrase(int status);

}  // namespace gateway::http

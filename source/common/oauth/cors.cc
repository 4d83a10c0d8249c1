#include "source/common/oauth/cors.h"

#include "absl/strings/str_cat.h"

namespace gateway::oauth {

void AddCorsHeaders(http::HeaderMap& headers) {
  headers.Set("Access-Control-Allow-Origin", "*");
  headers.Set("Access-Control-Expose-Headers", "WWW-Authenticate");
}

http::LocalReply CorsPreflight(absl::string_view methods) {
  http::LocalReply reply;
  reply.status = 204;
  AddCorsHeaders(reply.headers);
  reply.headers.Add("Access-Control-Allow-Methods", absl::StrCat(methods, ", OPTIONS"));
  reply.headers.Add("Access-Control-Allow-Headers",
                    "Authorization, Content-Type, MCP-Protocol-Version");
  reply.headers.Add("Access-Control-Max-Age", "86400");
  return reply;
}

http::LocalReply MethodNotAllowed(absl::string_view methods) {
  http::LocalReply reply =
      http::ErrorReply(405, "invalid_request", absl::StrCat("this endpoint takes ", methods));
  reply.headers.Add("Allow", absl::StrCat(methods, ", OPTIONS"));
  return reply;
}

}  // namespace gateway::oauth

#include "source/filters/oauth_endpoint.h"

#include "source/common/oauth/cors.h"

namespace gateway::filters {
namespace {

http::LocalReply InvalidClient(bool basic) {
  // RFC 6749 section 5.2: an unknown client and a wrong secret look the same.
  http::LocalReply reply = http::ErrorReply(401, "invalid_client", "client authentication failed");
  if (basic) {
    reply.headers.Add("WWW-Authenticate", "Basic realm=\"mcp-oauth-gateway\"");
  }
  return reply;
}

}  // namespace

std::optional<FilterStatus> PostEndpointHead(FilterCallbacks& callbacks, absl::string_view path) {
  const http::RequestHead& request = callbacks.context().request;
  if (request.path != path) {
    return std::nullopt;
  }
  if (request.method == "OPTIONS") {
    callbacks.SendLocalReply(oauth::CorsPreflight("POST"));
    return FilterStatus::kStopIteration;
  }
  if (request.method != "POST") {
    callbacks.SendLocalReply(oauth::MethodNotAllowed("POST"));
    return FilterStatus::kStopIteration;
  }
  return FilterStatus::kStopAndBufferBody;
}

void AuthenticateClient(FilterCallbacks& callbacks, const Liveness& liveness,
                        const oauth::Form& form,
                        std::function<void(const oauth::ClientCredentials&)> next) {
  absl::StatusOr<oauth::ClientCredentials> credentials =
      oauth::ReadClientCredentials(callbacks.context().request.headers, form);
  if (!credentials.ok()) {
    callbacks.SendLocalReply(
        credentials.status().code() == absl::StatusCode::kUnauthenticated
            ? InvalidClient(false)
            : http::ErrorReply(400, "invalid_request", credentials.status().message()));
    return;
  }
  const std::string client_id = credentials->client_id;
  callbacks.store().GetClient(
      client_id, liveness.Guard([&callbacks, credentials = *credentials, next = std::move(next)](
                                    absl::StatusOr<std::optional<store::Client>> client) {
        if (!client.ok()) {
          callbacks.SendLocalReply(http::ReplyFromStatus(client.status()));
        } else if (!client->has_value() || !oauth::Authenticates(**client, credentials)) {
          callbacks.SendLocalReply(InvalidClient(credentials.basic));
        } else {
          callbacks.store().TouchClient(credentials.client_id);
          next(credentials);
        }
      }));
}

}  // namespace gateway::filters

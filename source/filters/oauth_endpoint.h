#pragma once

// What the OAuth endpoint filters have in common: factories that take no config, the head of a
// POST-only CORS endpoint, and client authentication at the token and revocation endpoints.

#include <functional>
#include <memory>
#include <optional>

#include "absl/strings/string_view.h"
#include "source/common/liveness.h"
#include "source/common/oauth/client_auth.h"
#include "source/common/oauth/form.h"
#include "source/filter.h"

namespace gateway::filters {

// The factory function of a filter that has no config of its own (an empty or absent `config:`;
// any key is an error) and is built from the callbacks and the factory context.
template <typename FilterType>
absl::StatusOr<FilterFactoryFn> ContextOnlyFactory(const config::Node& config,
                                                   const FactoryContext& context) {
  config::MapReader reader(config);
  if (absl::Status status = reader.Finish(); !status.ok()) {
    return status;
  }
  return [context](FilterCallbacks& callbacks) -> std::unique_ptr<Filter> {
    return std::make_unique<FilterType>(callbacks, context);
  };
}

// The head of a request for a POST-only endpoint that browsers may call (/register, /token,
// /revoke): answers an OPTIONS preflight and any other method itself, and asks for the whole body
// of a POST. Returns nullopt when the request is not for `path`.
std::optional<FilterStatus> PostEndpointHead(FilterCallbacks& callbacks, absl::string_view path);

// Authenticates the client of a token or revocation request (RFC 6749 section 2.3.1). On failure
// it answers itself: 400 invalid_request for malformed credentials, 401 invalid_client (with a
// Basic challenge when Basic was tried) for unknown ones. On success `next` runs with them.
void AuthenticateClient(FilterCallbacks& callbacks, const Liveness& liveness,
                        const oauth::Form& form,
                        std::function<void(const oauth::ClientCredentials&)> next);

}  // namespace gateway::filters

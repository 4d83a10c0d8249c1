#pragma once

// The state of one request that its filters share: the request as received, the body once a
// filter asked for it, and what filters learn and hand on (DESIGN.md: the authenticated user, the
// split token halves). Owned by the request's ActiveRequest; filters reach it through
// FilterCallbacks::context() on the worker thread that runs the request.

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "source/common/http/message.h"
#include "source/common/net.h"
#include "source/common/store/records.h"
#include "source/dispatcher.h"

namespace gateway {

struct RequestContext {
  http::RequestHead request;
  // The whole request body, filled before OnRequestBody() of a filter that returned
  // kStopAndBufferBody. Empty for requests whose body is streamed.
  std::string body;
  Address peer;
  std::string request_id;
  MonotonicTime start_time;

  // Written by authentication filters, read by the ones after them.
  std::string user;            // the gateway user the request acts for
  std::string client_id;       // the OAuth client that holds the token
  std::string upstream_token;  // the upstream half of the client's token, for upstream_forward
  // The store's record of the client's access token (bearer_split): its hash, to check again
  // for revocation, and its grant. Shared, not copied: no allocation per request.
  std::shared_ptr<const store::TokenRecord> token;

  // Time spent waiting for upstream response heads (for the access log).
  absl::Duration upstream_time;

  // Free-form values for filters that need to talk to each other (user filters included).
  // Keys are namespaced by the writing filter's name: "rate_limit.bucket".
  absl::flat_hash_map<std::string, std::string> values;
};

}  // namespace gateway

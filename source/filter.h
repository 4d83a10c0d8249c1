#pragma once

// The filter interfaces (Envoy's idea). Every request walks the chain of filters named in
// gateway.yaml, in order, skipping entries whose `match:` does not fit it. A filter is a small
// object made for one request by the function its factory returned; the factory parsed the
// filter's `config:` once, at start-up, into an immutable object that every request shares.
//
// Threads: factories run on the main thread at start-up. Filters and their callbacks run on the
// worker thread that owns the request, one call at a time; a filter never needs a lock for its
// own state. Anything a filter shares across requests (its config, the services in
// FactoryContext) must be immutable or thread-safe.

#include <atomic>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "source/common/clock.h"
#include "source/common/config/config.h"
#include "source/common/config/config_map.h"
#include "source/common/http/client.h"
#include "source/common/http/message.h"
#include "source/common/http/reply.h"
#include "source/common/http/server_connection.h"
#include "source/common/metrics.h"
#include "source/common/oauth/client_metadata.h"
#include "source/common/oauth/upstream_client.h"
#include "source/common/oauth/users.h"
#include "source/common/store/store.h"
#include "source/common/token/key_ring.h"
#include "source/dispatcher.h"
#include "source/request_context.h"

namespace gateway {

// What a filter tells the chain when it returns.
enum class FilterStatus {
  // Go on to the next filter.
  kContinue,
  // Stop here: this filter will answer (SendLocalReply, EncodeHeaders) or call ContinueChain()
  // later, typically when asynchronous work completes.
  kStopIteration,
  // From OnRequestHeaders() only: stop here until the whole request body has arrived (bounded by
  // limits.max_request_body_bytes, 413 beyond), then call this filter's OnRequestBody().
  kStopAndBufferBody,
};

// What the chain offers one filter of one request. The object lives as long as the filter. Once
// the request has ended (Filter::OnDestroy), every method is harmless and does nothing.
class FilterCallbacks {
 public:
  virtual ~FilterCallbacks() = default;

  virtual RequestContext& context() = 0;
  // The worker's dispatcher: timers, posting work.
  virtual Dispatcher& dispatcher() = 0;
  // The worker's upstream HTTP client and its connection pools.
  virtual http::HttpClient& http_client() = 0;
  // The worker's view of the store.
  virtual store::Store& store() = 0;

  // Resumes the walk at the next filter. Only after this filter returned kStopIteration (or from
  // inside OnRequestHeaders/OnRequestBody, which then counts as kContinue).
  virtual void ContinueChain() = 0;
  // Sends a whole response and ends the walk. The request may end (OnDestroy) before this
  // returns; return to the chain without touching the request afterwards.
  virtual void SendLocalReply(http::LocalReply reply) = 0;
  // A streamed response: the head, then pieces of body. The first call ends the walk.
  virtual void EncodeHeaders(http::ResponseHead head, bool end_stream) = 0;
  virtual void EncodeData(absl::string_view data, bool end_stream) = 0;
  // Bytes sent to the client but not yet taken by it.
  virtual size_t BufferedResponseBytes() const = 0;

  // Makes this filter the consumer of the request body: OnRequestData() receives what is already
  // buffered (before this returns) and every later piece, the last with end_stream.
  virtual void StreamRequestBody() = 0;
  // Stops (true) or resumes (false) reading the request body from the client.
  virtual void ReadDisable(bool disable) = 0;
  // Aborts the request: the client connection is closed.
  virtual void ResetStream() = 0;
};

class Filter {
 public:
  virtual ~Filter() = default;

  // The walk reached this filter; the request head is in context().request. Called once.
  virtual FilterStatus OnRequestHeaders() = 0;
  // After OnRequestHeaders() returned kStopAndBufferBody: the whole body is in context().body.
  // Called once. Returns kContinue or kStopIteration.
  virtual FilterStatus OnRequestBody() { return FilterStatus::kContinue; }
  // After StreamRequestBody(): one piece of the request body; the last has end_stream.
  virtual void OnRequestData(absl::string_view /*data*/, bool /*end_stream*/) {}
  // Just before a response head goes to the client, for every filter the walk reached, the last
  // one first. May add or change headers (CORS, security headers) or note the status.
  virtual void OnResponseHeaders(http::ResponseHead& /*head*/) {}
  // The client's unsent output passed the high watermark (true) or drained below the low one
  // (false): a filter producing the response pauses and resumes here.
  virtual void OnDownstreamWatermark(bool /*above*/) {}
  // Called exactly once, last, when the request ends for any reason (response complete, client
  // gone, timeout, shutdown). Cancel in-flight work here; the chain never resumes afterwards.
  virtual void OnDestroy(http::StreamEnd /*reason*/) {}
};

// Makes the filter for one request; runs on the worker thread.
using FilterFactoryFn = std::function<std::unique_ptr<Filter>(FilterCallbacks& callbacks)>;

// Process-wide state readable from every worker.
struct ServerState {
  std::atomic<bool> draining{false};  // set when shutdown begins
  Metrics metrics;                    // what /metrics shows; filters count into it
};

// Shared services handed to factories; all process-wide and thread-safe. The referenced objects
// outlive every filter. (Per-worker services, the HTTP client and the store, come with each
// request through FilterCallbacks.)
struct FactoryContext {
  const Config& config;
  ServerState& server_state;
  const Clock& clock;
  const token::KeyRing& keys;
  oauth::UpstreamOAuth& upstream;
  const oauth::Users& users;
  oauth::ClientMetadataResolver& client_metadata;
};

// Registered by name; names the YAML `name:` of a chain entry.
class FilterFactory {
 public:
  virtual ~FilterFactory() = default;
  // Parses and validates this filter's `config:` node (possibly undefined) once, on the main
  // thread, and returns the function that makes one filter per request. Errors name the node's
  // file, line and column (config::MapReader does that).
  virtual absl::StatusOr<FilterFactoryFn> CreateFilterFactory(const config::Node& config,
                                                              FactoryContext& context) const = 0;
};

}  // namespace gateway

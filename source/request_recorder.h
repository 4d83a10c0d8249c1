#pragma once

// What happens when a request ends: it is counted (gateway_requests_total, by route and status)
// and written to the access log. One recorder per listener's chain, made on the main thread at
// start-up and shared by its workers; OnRequestEnd() runs on the worker thread of the request.
//
// The access-log line carries the request's id, route, path (never the query string: codes and
// states travel there), status, sizes, durations, and the client id and user that authentication
// filters found. Never a token, code, password, secret or state value.

#include <cstdint>
#include <vector>

#include "source/common/access_log.h"
#include "source/common/http/server_connection.h"
#include "source/common/metrics.h"
#include "source/filter_chain.h"
#include "source/request_context.h"

namespace gateway {

// How one request ended, as ActiveRequest saw it.
struct RequestOutcome {
  static constexpr size_t kNoEntry = static_cast<size_t>(-1);
  size_t entry = kNoEntry;  // the chain entry whose filter answered; kNoEntry: the chain itself
  int status = 0;           // 0: no response head was sent
  uint64_t bytes = 0;       // response body bytes handed to the connection
  http::StreamEnd end = http::StreamEnd::kComplete;
  MonotonicTime end_time;
};

class RequestRecorder {
 public:
  // `access_log` may be null (no access log). Both must outlive the recorder.
  RequestRecorder(Metrics& metrics, AccessLog* access_log, const FilterChain& chain);

  Metrics& metrics() { return metrics_; }
  void OnRequestEnd(const RequestContext& context, const RequestOutcome& outcome);

 private:
  Metrics& metrics_;
  AccessLog* const access_log_;
  std::vector<std::string> entry_names_;
  std::vector<size_t> entry_routes_;  // Metrics route id of each chain entry
  size_t no_route_;
};

// Whether a client's X-Request-Id may be used as the request's id: 1 to 128 characters of
// letters, digits and "-_.:" (anything else could forge log fields; the gateway makes its own).
bool IsWellFormedRequestId(absl::string_view id);

// A prefix that makes the gateway's request ids unique across processes: 8 random hex digits
// and a dash, the same for the whole process.
const std::string& RequestIdPrefix();

}  // namespace gateway

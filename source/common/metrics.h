#pragma once

// The gateway's Prometheus metrics: counters, gauges and histograms with a fixed, low-cardinality
// set of series, rendered in the text exposition format (version 0.0.4) for GET /metrics.
//
// Threads: any thread may count. Each thread counts into its own shard (found through a
// thread-local pointer, made on the thread's first use under a mutex), with relaxed atomic
// adds, so the request path takes no lock and shares no cache line with other workers. Render()
// runs on any thread and sums the shards; a scrape may see one worker's increments a moment before
// another's, never a histogram whose buckets disagree with its count. One Metrics object lives in
// ServerState for the whole process; tests make their own.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace gateway {

// Counters without labels beyond the one fixed in their description (see metrics.cc for names).
enum class Counter {
  kTokensIssued,          // token pairs issued for an authorization code
  kTokensRefreshed,       // token pairs issued for a refresh token
  kTokensRevoked,         // revocations accepted at /revoke (RFC 7009)
  kLoginFailures,         // wrong user name or password at screen 1
  kRegistrations,         // clients registered (RFC 7591)
  kConnectionsRefused,    // connections answered 503 at limits.max_connections
  kUpstreamTimeout,       // the upstream MCP server did not answer in time
  kUpstreamUnavailable,   // it could not be reached, or failed before its response head
  kUpstreamReset,         // it broke off a response already under way
  kUpstreamUnauthorized,  // it refused the upstream token (401)
  kUpstreamServerError,   // it answered 5xx
  kUpstreamOAuthError,    // a call to its authorization server failed
  kAccessLogDropped,      // access-log lines dropped because the writer fell behind
  kCount,
};

enum class Gauge {
  kConnections,  // open client connections
  kStreams,      // proxied responses streaming (SSE) right now
  kCount,
};

enum class Histogram {
  kUpstreamMcp,    // from sending an MCP request upstream to its response head
  kUpstreamOAuth,  // a call to the upstream's token or revocation endpoint
  kCount,
};

// Record counts, asked for at each scrape (a function so that metrics need no store).
struct StoreSizes {
  uint64_t clients = 0;
  uint64_t grants = 0;
  uint64_t tokens = 0;
};

class Metrics {
 public:
  // Histogram bucket upper bounds, in seconds (Prometheus' defaults: 5 ms to 10 s).
  static constexpr std::array<double, 11> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                      0.5,   1,    2.5,   5,    10};
  // Distinct route names; more share the last one, "other".
  static constexpr size_t kMaxRoutes = 64;
  // Status codes counted one by one; anything else counts as 0 ("none": no response was sent).
  static constexpr int kMaxStatus = 600;

  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void Add(Counter counter, uint64_t amount = 1);
  void Add(Gauge gauge, int64_t amount);
  void Observe(Histogram histogram, absl::Duration value);

  // A route's id for CountRequest: the same name gives the same id. For start-up (it locks).
  size_t RouteId(absl::string_view name);
  // One request answered by `route` with `status` (0: none was sent).
  void CountRequest(size_t route, int status);

  // Where store sizes come from; without it they are left out. Called on the rendering thread.
  void SetStoreSizes(std::function<bool(StoreSizes&)> sizes);

  // The exposition, text format 0.0.4.
  std::string Render() const;

 private:
  struct Shard;
  Shard& LocalShard();

  const uint64_t id_;  // tells this object's thread-local shard pointers from another's
  mutable absl::Mutex mutex_;
  std::vector<std::unique_ptr<Shard>> shards_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::string> routes_ ABSL_GUARDED_BY(mutex_);
  std::function<bool(StoreSizes&)> store_sizes_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace gateway

#pragma once

// The `redis` backend: several gateway processes (replicas behind a load balancer) share one
// Redis, so a token issued by one works at every other, and a code, a refresh rotation or a
// refresh lease has exactly one winner across all of them (each is one atomic Redis command or
// Lua script).
//
// Each worker talks to Redis over its own asynchronous connection on its own loop
// (RedisConnection); nothing blocks. Access-token records, the per-request check, are cached in
// the process for `token_cache_ttl`: a revocation at one replica is honoured by every other
// within that bound (immediately at the replica that revoked). Nothing else is cached. Redis
// unreachable: every call answers Unavailable (the OAuth endpoints answer 503
// temporarily_unavailable), and the connections come back by themselves.
//
// Upstream tokens and the gateway's documents are sealed with the gateway key (RecordCodec), as
// in the sqlite file: replicas share tokens.key_file. Sizes are bounded per kind of record with a
// sorted-set index per kind (ResourceExhausted past the limit); records expire in Redis itself.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "source/common/clock.h"
#include "source/common/store/redis_connection.h"
#include "source/common/store/store.h"

namespace gateway::token {
class KeyRing;
}

namespace gateway::store {

struct RedisOptions {
  RedisEndpoint endpoint;
  std::string key_prefix = "mcp-oauth-gateway:";
  absl::Duration token_cache_ttl = absl::Seconds(5);
};

class RedisShared;

class RedisStoreBackend : public StoreBackend {
 public:
  // `keys` must outlive the backend. Connects nowhere yet: each worker connects on first use.
  RedisStoreBackend(RedisOptions options, const Clock& clock, StoreLimits limits,
                    const token::KeyRing& keys);
  ~RedisStoreBackend() override;

  // Asks Redis, blocking, whether it is reachable and recent enough (6.2: PXAT); for start-up.
  // Unavailable if it cannot be reached; FailedPrecondition if it can but will not do.
  absl::Status Check() const;

  std::unique_ptr<Store> ForWorker(Dispatcher& dispatcher) override;

 private:
  std::unique_ptr<RedisShared> shared_;
};

}  // namespace gateway::store

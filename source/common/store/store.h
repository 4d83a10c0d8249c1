#pragma once

// One store interface for everything the gateway remembers (DESIGN.md, "State"), several
// backends behind it. A StoreBackend is process-wide; each worker gets its own Store from it
// (ForWorker), used on that worker's thread only, so a backend that talks to a server (Redis) can
// keep one asynchronous connection per event loop.
//
// Every operation reports through a callback on the worker's thread. A backend that answers from
// memory calls it before the method returns; one that waits on the network calls it later. Code
// that may be gone by then (a filter whose request ended) guards its callbacks with a Liveness
// (source/common/liveness.h).
//
// Bounded: every kind of record has a size limit (ResourceExhausted past it) and an expiry after
// which Sweep() drops it.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "source/common/store/records.h"

namespace gateway {
class Dispatcher;
}

namespace gateway::store {

template <typename T>
using Callback = std::function<void(absl::StatusOr<T>)>;
using DoneCallback = std::function<void(absl::Status)>;

struct StoreLimits {
  size_t max_clients = 10000;
  size_t max_flows = 10000;
  size_t max_codes = 10000;
  size_t max_grants = 100000;
  size_t max_tokens = 1000000;
  size_t max_counters = 100000;  // rate-limit counters, and leases
  // A registration not used for this long is dropped (the client re-registers on invalid_client).
  absl::Duration client_idle_ttl = absl::Hours(24 * 30);
};

// What GetCode found.
struct CodeTake {
  std::optional<Code> code;  // the code, while it is unused
  bool reused = false;       // it exists and was redeemed: a replay
  std::string grant_id;      // with `reused`: the grant the code had led to
};

// What RedeemCode did.
enum class RedeemOutcome {
  kRedeemed,  // the code was unused and its grant stands: it is used now, the tokens are stored
  kReplayed,  // the code was redeemed before: nothing stored
  kUnknown,   // no such (unexpired) code, or its grant was revoked: nothing stored
};

// What RotateRefresh did.
enum class RotateOutcome {
  kRotated,   // the old refresh token was current; the new pair is stored
  kReplayed,  // the old one was already rotated: nothing stored
  kUnknown,   // no such (unexpired) refresh token
};

class Store {
 public:
  virtual ~Store() = default;

  // Clients (RFC 7591).
  virtual void PutClient(Client client, DoneCallback done) = 0;
  virtual void GetClient(const std::string& client_id, Callback<std::optional<Client>> done) = 0;
  // Notes that the client was used (keeps its registration from expiring).
  virtual void TouchClient(const std::string& client_id) = 0;

  // Authorization flows, keyed by flow id, and findable once by their upstream state.
  virtual void PutFlow(Flow flow, DoneCallback done) = 0;
  virtual void GetFlow(const std::string& flow_id, Callback<std::optional<Flow>> done) = 0;
  virtual void DeleteFlow(const std::string& flow_id) = 0;
  // Finds the flow whose upstream_state is `state` and removes it: a callback can be used once.
  virtual void TakeFlowByUpstreamState(const std::string& state,
                                       Callback<std::optional<Flow>> done) = 0;

  // Authorization codes: single use (RFC 6749 section 4.1.2). A redeemed code is remembered
  // until it expires so that a replay can be told from a forgery.
  virtual void PutCode(Code code, DoneCallback done) = 0;
  // The code, without using it (for checking the request against it first).
  virtual void GetCode(const std::string& code_hash, Callback<CodeTake> done) = 0;
  // Redemption, atomically: the code is marked used and the tokens minted for it are stored in
  // one step, so exactly one of any number of concurrent redemptions succeeds, and no token is
  // stored for a grant revoked in the meantime.
  virtual void RedeemCode(const std::string& code_hash, TokenRecord access, TokenRecord refresh,
                          Callback<RedeemOutcome> done) = 0;

  // Grants and their tokens.
  virtual void PutGrant(Grant grant, DoneCallback done) = 0;
  virtual void GetGrant(const std::string& grant_id, Callback<std::optional<Grant>> done) = 0;
  // Replaces a grant (new upstream tokens after a refresh); NotFound if it was revoked.
  virtual void UpdateGrant(Grant grant, DoneCallback done) = 0;
  // Revokes a grant and every token issued from it.
  virtual void RevokeGrant(const std::string& grant_id, DoneCallback done) = 0;
  virtual void PutToken(TokenRecord token, DoneCallback done) = 0;
  // The token half with this hash, if it exists and has not expired (else nullptr). The
  // per-request check: records are immutable once stored, so this hands out a shared one.
  virtual void GetToken(const std::string& token_hash,
                        Callback<std::shared_ptr<const TokenRecord>> done) = 0;
  // GetToken()'s answer at once, when the backend has it in memory (the memory and sqlite
  // backends always, redis for a cached record): true, with `*record` what GetToken() would
  // answer. False when only GetToken() can tell. The per-request check's fast path: no callback
  // to wrap, nothing allocated.
  virtual bool GetTokenNow(absl::string_view /*token_hash*/,
                           std::shared_ptr<const TokenRecord>* /*record*/) {
    return false;
  }
  // A number that changes whenever a stored access token's record is removed or replaced before
  // it expires (a revocation), for every worker of the backend at once; 0 when the
  // backend cannot tell (redis: records change in other processes too). Read before a lookup, it
  // vouches for the record found while it stays the same: the per-request check skips the lookup
  // of a token it checked under the same generation, until the token expires.
  virtual uint64_t TokenGeneration() { return 0; }
  // Refresh token rotation, atomically: if `old_hash` is a current refresh token, it is marked
  // rotated (successor = new_refresh, with `sealed_response` kept for the grace period) and the
  // new pair is stored.
  virtual void RotateRefresh(const std::string& old_hash, TokenRecord new_access,
                             TokenRecord new_refresh, std::string sealed_response,
                             Callback<RotateOutcome> done) = 0;

  // A short exclusive hold on `key`: one refresh of a grant at a time, across every worker (and
  // every replica sharing the backend). Answers a holder id when the caller now holds it, or ""
  // when someone else does. The hold lapses after `ttl` unless released first.
  virtual void AcquireLease(const std::string& key, absl::Duration ttl,
                            Callback<std::string> done) = 0;
  // Lets go of a hold, if `holder` still has it.
  virtual void ReleaseLease(const std::string& key, const std::string& holder) = 0;

  // Remembered consent, per user and client.
  virtual void PutConsent(Consent consent, DoneCallback done) = 0;
  virtual void GetConsent(const std::string& user, const std::string& client_id,
                          Callback<std::optional<Consent>> done) = 0;

  // Attempt counters for rate limits: adds one to `key` and returns the count within the
  // current `window` (fixed windows).
  virtual void CountAttempt(const std::string& key, absl::Duration window,
                            Callback<int64_t> done) = 0;
  virtual void ResetAttempts(const std::string& key) = 0;

  // Small documents the gateway keeps about itself (its upstream client registration).
  virtual void PutMeta(const std::string& key, std::string value, DoneCallback done) = 0;
  virtual void GetMeta(const std::string& key, Callback<std::optional<std::string>> done) = 0;

  // Drops what has expired. Called periodically by each worker.
  virtual void Sweep() = 0;
};

// How many records a backend holds, for the metrics.
struct RecordCounts {
  size_t clients = 0;
  size_t grants = 0;
  size_t tokens = 0;
};

class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  // The store for one worker, used on `dispatcher`'s thread only.
  virtual std::unique_ptr<Store> ForWorker(Dispatcher& dispatcher) = 0;
  // The record counts, when the backend can tell cheaply from any thread (the in-memory state
  // can); nullopt otherwise (redis would need a round trip per scrape).
  virtual std::optional<RecordCounts> Counts() const { return std::nullopt; }
};

}  // namespace gateway::store

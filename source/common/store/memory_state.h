#pragma once

// Everything the gateway remembers, in memory, behind one mutex: the state of the `memory`
// backend, and the cache every read of the `sqlite` backend is served from. Thread-safe; every
// operation completes before it returns. A Journal, when attached, is told of every change (in
// order, under the lock), which is how the sqlite backend makes changes durable.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "source/common/clock.h"
#include "source/common/store/records.h"
#include "source/common/store/store.h"

namespace gateway::store {

// The kinds of record a journal sees.
enum class Table { kClients, kFlows, kCodes, kGrants, kTokens, kConsents, kMeta };
const char* TableName(Table table);

// Told of each change of the state, under its lock, in the order the changes happen. Must be
// quick (it holds up every worker): encode and queue, no I/O.
class Journal {
 public:
  virtual ~Journal() = default;
  virtual void PutClient(const Client& client) = 0;
  virtual void PutFlow(const Flow& flow) = 0;
  virtual void PutCode(const Code& code, bool taken) = 0;
  virtual void PutGrant(const Grant& grant) = 0;
  virtual void PutToken(const TokenRecord& token) = 0;
  virtual void PutConsent(const Consent& consent) = 0;
  virtual void PutMeta(const std::string& key, const std::string& value) = 0;
  virtual void Erase(Table table, const std::string& key) = 0;
  // The changes told between BeginGroup() and EndGroup() are one operation (a code's redemption,
  // a refresh's rotation, a grant's revocation): they are written all in one transaction, so a
  // crash never leaves half of one on the disk.
  virtual void BeginGroup() = 0;
  virtual void EndGroup() = 0;
};

class MemoryState {
 public:
  MemoryState(const Clock& clock, StoreLimits limits) : clock_(clock), limits_(limits) {}

  // The key of a user's consent to a client (the key the journal sees for it).
  static std::string ConsentKey(const std::string& user, const std::string& client_id);

  // Attaches `journal` (not owned), before any worker uses the state.
  void SetJournal(Journal* journal) { journal_ = journal; }

  absl::Status PutClient(Client client);
  std::optional<Client> GetClient(const std::string& client_id);
  void TouchClient(const std::string& client_id);
  absl::Status PutFlow(Flow flow);
  std::optional<Flow> GetFlow(const std::string& flow_id);
  void DeleteFlow(const std::string& flow_id);
  std::optional<Flow> TakeFlowByUpstreamState(const std::string& state);
  absl::Status PutCode(Code code);
  CodeTake GetCode(const std::string& code_hash);
  absl::StatusOr<RedeemOutcome> RedeemCode(const std::string& code_hash, TokenRecord access,
                                           TokenRecord refresh);
  absl::Status PutGrant(Grant grant);
  std::optional<Grant> GetGrant(const std::string& grant_id);
  absl::Status UpdateGrant(Grant grant);
  void RevokeGrant(const std::string& grant_id);
  absl::Status PutToken(TokenRecord token);
  std::shared_ptr<const TokenRecord> GetToken(absl::string_view token_hash);
  // Store::TokenGeneration(): changed, under the lock, with every removal or replacement of an
  // access token's record other than the sweep's of expired ones.
  uint64_t TokenGeneration() const { return token_generation_.load(std::memory_order_acquire); }
  RotateOutcome RotateRefresh(const std::string& old_hash, TokenRecord new_access,
                              TokenRecord new_refresh, std::string sealed_response);
  std::string AcquireLease(const std::string& key, absl::Duration ttl);
  void ReleaseLease(const std::string& key, const std::string& holder);
  absl::Status PutConsent(Consent consent);
  std::optional<Consent> GetConsent(const std::string& user, const std::string& client_id);
  absl::StatusOr<int64_t> CountAttempt(const std::string& key, absl::Duration window);
  void ResetAttempts(const std::string& key);
  absl::Status PutMeta(const std::string& key, std::string value);
  std::optional<std::string> GetMeta(const std::string& key);
  void Sweep();
  RecordCounts Counts();

  // Loading at start-up: records put back as they were, bypassing limits and the journal.
  void RestoreClient(Client client);
  void RestoreFlow(Flow flow);
  void RestoreCode(Code code, bool taken);
  void RestoreGrant(Grant grant);
  void RestoreToken(TokenRecord token);
  void RestoreConsent(Consent consent);
  void RestoreMeta(const std::string& key, std::string value);

 private:
  struct CodeEntry {
    Code code;
    bool taken = false;
  };
  struct Lease {
    std::string holder;
    absl::Time expires_at;
  };
  struct CounterEntry {
    absl::Time window_start;
    int64_t count = 0;
    absl::Duration window;
  };

  // Room for one more entry in `table`, bounded by `max`: sweeps once if it is full.
  template <typename Map>
  absl::Status RoomLocked(const Map& table, size_t max, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::Status PutTokenLocked(TokenRecord token) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void InsertTokenLocked(std::shared_ptr<const TokenRecord> token)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void EraseFlowLocked(const std::string& flow_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void InsertFlowLocked(Flow flow) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void SweepLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // An access token's record was removed or replaced: what a worker checked before must be
  // looked up again.
  void TokensChangedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    token_generation_.store(NextTokenGeneration(), std::memory_order_release);
  }
  // Unique in the process, never 0: no two states (a store replaced by a reload) ever answer the
  // same generation, so one cannot vouch for what was looked up in another.
  static uint64_t NextTokenGeneration();

  const Clock& clock_;
  const StoreLimits limits_;
  Journal* journal_ = nullptr;
  absl::Mutex mutex_;
  absl::flat_hash_map<std::string, Client> clients_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::string, Flow> flows_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::string, std::string> upstream_states_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::string, CodeEntry> codes_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::string, Grant> grants_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::string, std::vector<std::string>> grant_tokens_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::string, std::shared_ptr<const TokenRecord>> tokens_
      ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::string, Consent> consents_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::string, CounterEntry> counters_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::string, std::string> meta_ ABSL_GUARDED_BY(mutex_);
  // Leases stay in this process: the backends that keep state here serve one process.
  absl::flat_hash_map<std::string, Lease> leases_ ABSL_GUARDED_BY(mutex_);
  uint64_t lease_serial_ ABSL_GUARDED_BY(mutex_) = 0;
  // Written under the lock, read without it.
  std::atomic<uint64_t> token_generation_{NextTokenGeneration()};
};

}  // namespace gateway::store

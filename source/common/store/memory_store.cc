#include "source/common/store/memory_store.h"

#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace gateway::store {
namespace {

absl::Status Full(absl::string_view what) {
  return absl::ResourceExhaustedError(
      absl::StrCat("the gateway holds as many ", what, " as it is configured to; try later"));
}

struct CodeEntry {
  Code code;
  bool taken = false;
};

struct CounterEntry {
  absl::Time window_start;
  int64_t count = 0;
  absl::Duration window;
};

}  // namespace

// The shared state of every worker's MemoryStore.
class MemoryState {
 public:
  MemoryState(const Clock& clock, StoreLimits limits) : clock_(clock), limits_(limits) {}

  absl::Status PutClient(Client client) {
    absl::MutexLock lock(&mutex_);
    if (!clients_.contains(client.client_id)) {
      if (absl::Status room = RoomLocked(clients_, limits_.max_clients, "registered clients");
          !room.ok()) {
        return room;
      }
    }
    std::string id = client.client_id;
    clients_[id] = std::move(client);
    return absl::OkStatus();
  }

  std::optional<Client> GetClient(const std::string& client_id) {
    absl::ReaderMutexLock lock(&mutex_);
    auto found = clients_.find(client_id);
    if (found == clients_.end()) {
      return std::nullopt;
    }
    return found->second;
  }

  void TouchClient(const std::string& client_id) {
    absl::MutexLock lock(&mutex_);
    auto found = clients_.find(client_id);
    if (found != clients_.end()) {
      found->second.last_used_at = clock_.Now();
    }
  }

  absl::Status PutFlow(Flow flow) {
    absl::MutexLock lock(&mutex_);
    auto existing = flows_.find(flow.flow_id);
    if (existing == flows_.end()) {
      if (absl::Status room = RoomLocked(flows_, limits_.max_flows, "authorizations in progress");
          !room.ok()) {
        return room;
      }
    }
    if (existing != flows_.end() && !existing->second.upstream_state.empty()) {
      upstream_states_.erase(existing->second.upstream_state);
    }
    if (!flow.upstream_state.empty()) {
      upstream_states_[flow.upstream_state] = flow.flow_id;
    }
    std::string id = flow.flow_id;
    flows_[id] = std::move(flow);
    return absl::OkStatus();
  }

  std::optional<Flow> GetFlow(const std::string& flow_id) {
    absl::ReaderMutexLock lock(&mutex_);
    auto found = flows_.find(flow_id);
    if (found == flows_.end() || found->second.expires_at <= clock_.Now()) {
      return std::nullopt;
    }
    return found->second;
  }

  void DeleteFlow(const std::string& flow_id) {
    absl::MutexLock lock(&mutex_);
    EraseFlowLocked(flow_id);
  }

  std::optional<Flow> TakeFlowByUpstreamState(const std::string& state) {
    absl::MutexLock lock(&mutex_);
    auto index = upstream_states_.find(state);
    if (index == upstream_states_.end()) {
      return std::nullopt;
    }
    auto found = flows_.find(index->second);
    std::optional<Flow> flow;
    if (found != flows_.end() && found->second.expires_at > clock_.Now()) {
      flow = std::move(found->second);
    }
    EraseFlowLocked(index->second);
    return flow;
  }

  absl::Status PutCode(Code code) {
    absl::MutexLock lock(&mutex_);
    if (absl::Status room = RoomLocked(codes_, limits_.max_codes, "authorization codes");
        !room.ok()) {
      return room;
    }
    std::string hash = code.code_hash;
    codes_[hash] = CodeEntry{std::move(code), false};
    return absl::OkStatus();
  }

  CodeTake TakeCode(const std::string& code_hash) {
    absl::MutexLock lock(&mutex_);
    CodeTake take;
    auto found = codes_.find(code_hash);
    if (found == codes_.end() || found->second.code.expires_at <= clock_.Now()) {
      return take;
    }
    if (found->second.taken) {
      take.reused = true;
      take.grant_id = found->second.code.grant_id;
      return take;
    }
    found->second.taken = true;
    take.code = found->second.code;
    return take;
  }

  absl::Status PutGrant(Grant grant) {
    absl::MutexLock lock(&mutex_);
    if (!grants_.contains(grant.grant_id)) {
      if (absl::Status room = RoomLocked(grants_, limits_.max_grants, "grants"); !room.ok()) {
        return room;
      }
    }
    std::string id = grant.grant_id;
    grants_[id] = std::move(grant);
    return absl::OkStatus();
  }

  std::optional<Grant> GetGrant(const std::string& grant_id) {
    absl::ReaderMutexLock lock(&mutex_);
    auto found = grants_.find(grant_id);
    if (found == grants_.end()) {
      return std::nullopt;
    }
    return found->second;
  }

  absl::Status UpdateGrant(Grant grant) {
    absl::MutexLock lock(&mutex_);
    auto found = grants_.find(grant.grant_id);
    if (found == grants_.end()) {
      return absl::NotFoundError("the grant was revoked");
    }
    found->second = std::move(grant);
    return absl::OkStatus();
  }

  void RevokeGrant(const std::string& grant_id) {
    absl::MutexLock lock(&mutex_);
    grants_.erase(grant_id);
    auto issued = grant_tokens_.find(grant_id);
    if (issued != grant_tokens_.end()) {
      for (const std::string& hash : issued->second) {
        tokens_.erase(hash);
      }
      grant_tokens_.erase(issued);
    }
  }

  absl::Status PutToken(TokenRecord token) {
    absl::MutexLock lock(&mutex_);
    return PutTokenLocked(std::move(token));
  }

  std::shared_ptr<const TokenRecord> GetToken(const std::string& token_hash) {
    absl::ReaderMutexLock lock(&mutex_);
    auto found = tokens_.find(token_hash);
    if (found == tokens_.end() || found->second->expires_at <= clock_.Now()) {
      return nullptr;
    }
    return found->second;
  }

  RotateOutcome RotateRefresh(const std::string& old_hash, TokenRecord new_access,
                              TokenRecord new_refresh) {
    absl::MutexLock lock(&mutex_);
    auto found = tokens_.find(old_hash);
    if (found == tokens_.end() || found->second->kind != TokenKind::kRefresh ||
        found->second->expires_at <= clock_.Now()) {
      return RotateOutcome::kUnknown;
    }
    if (!found->second->successor_hash.empty()) {
      return RotateOutcome::kReplayed;
    }
    auto rotated = std::make_shared<TokenRecord>(*found->second);
    rotated->successor_hash = new_refresh.token_hash;
    rotated->rotated_at = clock_.Now();
    found->second = std::move(rotated);
    // Both were made to fit: a refresh replaces at least what it adds over time.
    PutTokenLocked(std::move(new_access)).IgnoreError();
    PutTokenLocked(std::move(new_refresh)).IgnoreError();
    return RotateOutcome::kRotated;
  }

  absl::Status PutConsent(Consent consent) {
    absl::MutexLock lock(&mutex_);
    std::string key = ConsentKey(consent.user, consent.client_id);
    consents_[key] = std::move(consent);
    return absl::OkStatus();
  }

  std::optional<Consent> GetConsent(const std::string& user, const std::string& client_id) {
    absl::ReaderMutexLock lock(&mutex_);
    auto found = consents_.find(ConsentKey(user, client_id));
    if (found == consents_.end()) {
      return std::nullopt;
    }
    return found->second;
  }

  absl::StatusOr<int64_t> CountAttempt(const std::string& key, absl::Duration window) {
    absl::MutexLock lock(&mutex_);
    const absl::Time now = clock_.Now();
    auto found = counters_.find(key);
    if (found == counters_.end()) {
      if (absl::Status room = RoomLocked(counters_, limits_.max_counters, "rate-limit counters");
          !room.ok()) {
        return room;
      }
      counters_[key] = CounterEntry{now, 1, window};
      return 1;
    }
    CounterEntry& counter = found->second;
    if (now - counter.window_start >= window) {
      counter = CounterEntry{now, 0, window};
    }
    return ++counter.count;
  }

  void ResetAttempts(const std::string& key) {
    absl::MutexLock lock(&mutex_);
    counters_.erase(key);
  }

  absl::Status PutMeta(const std::string& key, std::string value) {
    absl::MutexLock lock(&mutex_);
    meta_[key] = std::move(value);
    return absl::OkStatus();
  }

  std::optional<std::string> GetMeta(const std::string& key) {
    absl::ReaderMutexLock lock(&mutex_);
    auto found = meta_.find(key);
    if (found == meta_.end()) {
      return std::nullopt;
    }
    return found->second;
  }

  void Sweep() {
    absl::MutexLock lock(&mutex_);
    SweepLocked();
  }

 private:
  static std::string ConsentKey(const std::string& user, const std::string& client_id) {
    return absl::StrCat(user, std::string(1, '\0'), client_id);
  }

  // Room for one more entry in `table`, bounded by `max`: sweeps once if it is full.
  template <typename Table>
  absl::Status RoomLocked(const Table& table, size_t max, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (table.size() < max) {
      return absl::OkStatus();
    }
    SweepLocked();
    return table.size() < max ? absl::OkStatus() : Full(what);
  }

  absl::Status PutTokenLocked(TokenRecord token) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (!tokens_.contains(token.token_hash)) {
      if (absl::Status room = RoomLocked(tokens_, limits_.max_tokens, "tokens"); !room.ok()) {
        return room;
      }
    }
    grant_tokens_[token.grant_id].push_back(token.token_hash);
    std::string hash = token.token_hash;
    tokens_[hash] = std::make_shared<const TokenRecord>(std::move(token));
    return absl::OkStatus();
  }

  void EraseFlowLocked(const std::string& flow_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    auto found = flows_.find(flow_id);
    if (found == flows_.end()) {
      return;
    }
    if (!found->second.upstream_state.empty()) {
      upstream_states_.erase(found->second.upstream_state);
    }
    flows_.erase(found);
  }

  void SweepLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    const absl::Time now = clock_.Now();
    absl::erase_if(clients_, [&](const auto& entry) {
      return entry.second.last_used_at + limits_.client_idle_ttl <= now;
    });
    std::vector<std::string> expired_flows;
    for (const auto& [id, flow] : flows_) {
      if (flow.expires_at <= now) {
        expired_flows.push_back(id);
      }
    }
    for (const std::string& id : expired_flows) {
      EraseFlowLocked(id);
    }
    absl::erase_if(codes_, [&](const auto& entry) { return entry.second.code.expires_at <= now; });
    absl::erase_if(tokens_, [&](const auto& entry) { return entry.second->expires_at <= now; });
    std::vector<std::string> ended_grants;
    for (const auto& [id, grant] : grants_) {
      if (grant.expires_at <= now) {
        ended_grants.push_back(id);
      }
    }
    for (const std::string& id : ended_grants) {
      grants_.erase(id);
    }
    // Keep each grant's token list to the tokens still held.
    for (auto it = grant_tokens_.begin(); it != grant_tokens_.end();) {
      std::erase_if(it->second, [&](const std::string& hash) { return !tokens_.contains(hash); });
      if (it->second.empty() && !grants_.contains(it->first)) {
        grant_tokens_.erase(it++);
      } else {
        ++it;
      }
    }
    absl::erase_if(counters_, [&](const auto& entry) {
      return now - entry.second.window_start >= entry.second.window;
    });
  }

  const Clock& clock_;
  const StoreLimits limits_;
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
};

namespace {

// One worker's view: answers every call at once from the shared state.
class MemoryStore : public Store {
 public:
  explicit MemoryStore(std::shared_ptr<MemoryState> state) : state_(std::move(state)) {}

  void PutClient(Client client, DoneCallback done) override {
    done(state_->PutClient(std::move(client)));
  }
  void GetClient(const std::string& client_id, Callback<std::optional<Client>> done) override {
    done(state_->GetClient(client_id));
  }
  void TouchClient(const std::string& client_id) override { state_->TouchClient(client_id); }
  void PutFlow(Flow flow, DoneCallback done) override { done(state_->PutFlow(std::move(flow))); }
  void GetFlow(const std::string& flow_id, Callback<std::optional<Flow>> done) override {
    done(state_->GetFlow(flow_id));
  }
  void DeleteFlow(const std::string& flow_id) override { state_->DeleteFlow(flow_id); }
  void TakeFlowByUpstreamState(const std::string& state,
                               Callback<std::optional<Flow>> done) override {
    done(state_->TakeFlowByUpstreamState(state));
  }
  void PutCode(Code code, DoneCallback done) override { done(state_->PutCode(std::move(code))); }
  void TakeCode(const std::string& code_hash, Callback<CodeTake> done) override {
    done(state_->TakeCode(code_hash));
  }
  void PutGrant(Grant grant, DoneCallback done) override {
    done(state_->PutGrant(std::move(grant)));
  }
  void GetGrant(const std::string& grant_id, Callback<std::optional<Grant>> done) override {
    done(state_->GetGrant(grant_id));
  }
  void UpdateGrant(Grant grant, DoneCallback done) override {
    done(state_->UpdateGrant(std::move(grant)));
  }
  void RevokeGrant(const std::string& grant_id, DoneCallback done) override {
    state_->RevokeGrant(grant_id);
    done(absl::OkStatus());
  }
  void PutToken(TokenRecord token, DoneCallback done) override {
    done(state_->PutToken(std::move(token)));
  }
  void GetToken(const std::string& token_hash,
                Callback<std::shared_ptr<const TokenRecord>> done) override {
    done(state_->GetToken(token_hash));
  }
  void RotateRefresh(const std::string& old_hash, TokenRecord new_access, TokenRecord new_refresh,
                     Callback<RotateOutcome> done) override {
    done(state_->RotateRefresh(old_hash, std::move(new_access), std::move(new_refresh)));
  }
  void PutConsent(Consent consent, DoneCallback done) override {
    done(state_->PutConsent(std::move(consent)));
  }
  void GetConsent(const std::string& user, const std::string& client_id,
                  Callback<std::optional<Consent>> done) override {
    done(state_->GetConsent(user, client_id));
  }
  void CountAttempt(const std::string& key, absl::Duration window,
                    Callback<int64_t> done) override {
    done(state_->CountAttempt(key, window));
  }
  void ResetAttempts(const std::string& key) override { state_->ResetAttempts(key); }
  void PutMeta(const std::string& key, std::string value, DoneCallback done) override {
    done(state_->PutMeta(key, std::move(value)));
  }
  void GetMeta(const std::string& key, Callback<std::optional<std::string>> done) override {
    done(state_->GetMeta(key));
  }
  void Sweep() override { state_->Sweep(); }

 private:
  std::shared_ptr<MemoryState> state_;
};

}  // namespace

MemoryStoreBackend::MemoryStoreBackend(const Clock& clock, StoreLimits limits)
    : state_(std::make_shared<MemoryState>(clock, limits)) {}

MemoryStoreBackend::~MemoryStoreBackend() = default;

std::unique_ptr<Store> MemoryStoreBackend::ForWorker(Dispatcher&) {
  return std::make_unique<MemoryStore>(state_);
}

}  // namespace gateway::store

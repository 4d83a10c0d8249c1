#include "source/common/store/memory_state.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace gateway::store {
namespace {

absl::Status Full(absl::string_view what) {
  return absl::ResourceExhaustedError(
      absl::StrCat("the gateway holds as many ", what, " as it is configured to; try later"));
}

// Marks the journal's changes of one operation, for as long as it lives, as one group.
class JournalGroup {
 public:
  explicit JournalGroup(Journal* journal) : journal_(journal) {
    if (journal_ != nullptr) {
      journal_->BeginGroup();
    }
  }
  ~JournalGroup() {
    if (journal_ != nullptr) {
      journal_->EndGroup();
    }
  }
  JournalGroup(const JournalGroup&) = delete;
  JournalGroup& operator=(const JournalGroup&) = delete;

 private:
  Journal* const journal_;
};

}  // namespace

const char* TableName(Table table) {
  switch (table) {
    case Table::kClients:
      return "clients";
    case Table::kFlows:
      return "flows";
    case Table::kCodes:
      return "codes";
    case Table::kGrants:
      return "grants";
    case Table::kTokens:
      return "tokens";
    case Table::kConsents:
      return "consents";
    case Table::kMeta:
      return "meta";
  }
  return "unknown";
}

std::string MemoryState::ConsentKey(const std::string& user, const std::string& client_id) {
  return absl::StrCat(user, std::string(1, '\0'), client_id);
}

template <typename Map>
absl::Status MemoryState::RoomLocked(const Map& table, size_t max, absl::string_view what) {
  if (table.size() < max) {
    return absl::OkStatus();
  }
  SweepLocked();
  return table.size() < max ? absl::OkStatus() : Full(what);
}

absl::Status MemoryState::PutClient(Client client) {
  absl::MutexLock lock(&mutex_);
  if (!clients_.contains(client.client_id)) {
    if (absl::Status room = RoomLocked(clients_, limits_.max_clients, "registered clients");
        !room.ok()) {
      return room;
    }
  }
  if (journal_ != nullptr) {
    journal_->PutClient(client);
  }
  std::string id = client.client_id;
  clients_[id] = std::move(client);
  return absl::OkStatus();
}

std::optional<Client> MemoryState::GetClient(const std::string& client_id) {
  absl::ReaderMutexLock lock(&mutex_);
  auto found = clients_.find(client_id);
  if (found == clients_.end()) {
    return std::nullopt;
  }
  return found->second;
}

void MemoryState::TouchClient(const std::string& client_id) {
  absl::MutexLock lock(&mutex_);
  auto found = clients_.find(client_id);
  if (found == clients_.end()) {
    return;
  }
  // The use is written down at most hourly: registrations expire after weeks unused, and a
  // token endpoint call should not cost a disk write.
  const absl::Time now = clock_.Now();
  const bool journal = journal_ != nullptr && now - found->second.last_used_at >= absl::Hours(1);
  found->second.last_used_at = now;
  if (journal) {
    journal_->PutClient(found->second);
  }
}

void MemoryState::InsertFlowLocked(Flow flow) {
  auto existing = flows_.find(flow.flow_id);
  if (existing != flows_.end() && !existing->second.upstream_state.empty()) {
    upstream_states_.erase(existing->second.upstream_state);
  }
  if (!flow.upstream_state.empty()) {
    upstream_states_[flow.upstream_state] = flow.flow_id;
  }
  std::string id = flow.flow_id;
  flows_[id] = std::move(flow);
}

absl::Status MemoryState::PutFlow(Flow flow) {
  absl::MutexLock lock(&mutex_);
  if (!flows_.contains(flow.flow_id)) {
    if (absl::Status room = RoomLocked(flows_, limits_.max_flows, "authorizations in progress");
        !room.ok()) {
      return room;
    }
  }
  if (journal_ != nullptr) {
    journal_->PutFlow(flow);
  }
  InsertFlowLocked(std::move(flow));
  return absl::OkStatus();
}

std::optional<Flow> MemoryState::GetFlow(const std::string& flow_id) {
  absl::ReaderMutexLock lock(&mutex_);
  auto found = flows_.find(flow_id);
  if (found == flows_.end() || found->second.expires_at <= clock_.Now()) {
    return std::nullopt;
  }
  return found->second;
}

void MemoryState::DeleteFlow(const std::string& flow_id) {
  absl::MutexLock lock(&mutex_);
  EraseFlowLocked(flow_id);
}

std::optional<Flow> MemoryState::TakeFlowByUpstreamState(const std::string& state) {
  absl::MutexLock lock(&mutex_);
  auto index = upstream_states_.find(state);
  if (index == upstream_states_.end()) {
    return std::nullopt;
  }
  const std::string flow_id = index->second;
  auto found = flows_.find(flow_id);
  std::optional<Flow> flow;
  if (found != flows_.end() && found->second.expires_at > clock_.Now()) {
    flow = std::move(found->second);
  }
  EraseFlowLocked(flow_id);
  return flow;
}

void MemoryState::EraseFlowLocked(const std::string& flow_id) {
  auto found = flows_.find(flow_id);
  if (found == flows_.end()) {
    return;
  }
  if (!found->second.upstream_state.empty()) {
    upstream_states_.erase(found->second.upstream_state);
  }
  flows_.erase(found);
  if (journal_ != nullptr) {
    journal_->Erase(Table::kFlows, flow_id);
  }
}

absl::Status MemoryState::PutCode(Code code) {
  absl::MutexLock lock(&mutex_);
  if (absl::Status room = RoomLocked(codes_, limits_.max_codes, "authorization codes");
      !room.ok()) {
    return room;
  }
  if (journal_ != nullptr) {
    journal_->PutCode(code, false);
  }
  std::string hash = code.code_hash;
  codes_[hash] = CodeEntry{std::move(code), false};
  return absl::OkStatus();
}

CodeTake MemoryState::GetCode(const std::string& code_hash) {
  absl::ReaderMutexLock lock(&mutex_);
  CodeTake take;
  auto found = codes_.find(code_hash);
  if (found == codes_.end() || found->second.code.expires_at <= clock_.Now()) {
    return take;
  }
  if (found->second.taken) {
    take.reused = true;
    take.grant_id = found->second.code.grant_id;
  } else {
    take.code = found->second.code;
  }
  return take;
}

absl::StatusOr<RedeemOutcome> MemoryState::RedeemCode(const std::string& code_hash,
                                                      TokenRecord access, TokenRecord refresh) {
  absl::MutexLock lock(&mutex_);
  const JournalGroup group(journal_);
  auto found = codes_.find(code_hash);
  if (found == codes_.end() || found->second.code.expires_at <= clock_.Now()) {
    return RedeemOutcome::kUnknown;
  }
  if (found->second.taken) {
    return RedeemOutcome::kReplayed;
  }
  if (!grants_.contains(found->second.code.grant_id)) {
    return RedeemOutcome::kUnknown;
  }
  if (tokens_.size() + 2 > limits_.max_tokens) {
    SweepLocked();
    if (tokens_.size() + 2 > limits_.max_tokens) {
      return Full("tokens");
    }
  }
  found->second.taken = true;
  if (journal_ != nullptr) {
    journal_->PutCode(found->second.code, true);
  }
  PutTokenLocked(std::move(access)).IgnoreError();  // room was made above
  PutTokenLocked(std::move(refresh)).IgnoreError();
  return RedeemOutcome::kRedeemed;
}

absl::Status MemoryState::PutGrant(Grant grant) {
  absl::MutexLock lock(&mutex_);
  if (!grants_.contains(grant.grant_id)) {
    if (absl::Status room = RoomLocked(grants_, limits_.max_grants, "grants"); !room.ok()) {
      return room;
    }
  }
  if (journal_ != nullptr) {
    journal_->PutGrant(grant);
  }
  std::string id = grant.grant_id;
  grants_[id] = std::move(grant);
  return absl::OkStatus();
}

std::optional<Grant> MemoryState::GetGrant(const std::string& grant_id) {
  absl::ReaderMutexLock lock(&mutex_);
  auto found = grants_.find(grant_id);
  if (found == grants_.end()) {
    return std::nullopt;
  }
  return found->second;
}

absl::Status MemoryState::UpdateGrant(Grant grant) {
  absl::MutexLock lock(&mutex_);
  auto found = grants_.find(grant.grant_id);
  if (found == grants_.end()) {
    return absl::NotFoundError("the grant was revoked");
  }
  if (journal_ != nullptr) {
    journal_->PutGrant(grant);
  }
  found->second = std::move(grant);
  return absl::OkStatus();
}

void MemoryState::RevokeGrant(const std::string& grant_id) {
  absl::MutexLock lock(&mutex_);
  const JournalGroup group(journal_);
  if (grants_.erase(grant_id) > 0 && journal_ != nullptr) {
    journal_->Erase(Table::kGrants, grant_id);
  }
  auto issued = grant_tokens_.find(grant_id);
  if (issued != grant_tokens_.end()) {
    for (const std::string& hash : issued->second) {
      if (tokens_.erase(hash) > 0 && journal_ != nullptr) {
        journal_->Erase(Table::kTokens, hash);
      }
    }
    grant_tokens_.erase(issued);
    TokensChangedLocked();
  }
}

void MemoryState::InsertTokenLocked(std::shared_ptr<const TokenRecord> token) {
  grant_tokens_[token->grant_id].push_back(token->token_hash);
  std::string hash = token->token_hash;
  auto [slot, added] = tokens_.try_emplace(std::move(hash));
  if (!added && slot->second->kind == TokenKind::kAccess) {
    TokensChangedLocked();
  }
  slot->second = std::move(token);
}

absl::Status MemoryState::PutTokenLocked(TokenRecord token) {
  if (!tokens_.contains(token.token_hash)) {
    if (absl::Status room = RoomLocked(tokens_, limits_.max_tokens, "tokens"); !room.ok()) {
      return room;
    }
  }
  if (journal_ != nullptr) {
    journal_->PutToken(token);
  }
  InsertTokenLocked(std::make_shared<const TokenRecord>(std::move(token)));
  return absl::OkStatus();
}

absl::Status MemoryState::PutToken(TokenRecord token) {
  absl::MutexLock lock(&mutex_);
  return PutTokenLocked(std::move(token));
}

uint64_t MemoryState::NextTokenGeneration() {
  static std::atomic<uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

std::shared_ptr<const TokenRecord> MemoryState::GetToken(absl::string_view token_hash) {
  absl::ReaderMutexLock lock(&mutex_);
  auto found = tokens_.find(token_hash);
  if (found == tokens_.end() || found->second->expires_at <= clock_.Now()) {
    return nullptr;
  }
  return found->second;
}

RotateOutcome MemoryState::RotateRefresh(const std::string& old_hash, TokenRecord new_access,
                                         TokenRecord new_refresh, std::string sealed_response) {
  absl::MutexLock lock(&mutex_);
  const JournalGroup group(journal_);
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
  rotated->successor_response = std::move(sealed_response);
  if (journal_ != nullptr) {
    journal_->PutToken(*rotated);
  }
  found->second = std::move(rotated);
  // Both were made to fit: a refresh replaces at least what it adds over time.
  PutTokenLocked(std::move(new_access)).IgnoreError();
  PutTokenLocked(std::move(new_refresh)).IgnoreError();
  return RotateOutcome::kRotated;
}

std::string MemoryState::AcquireLease(const std::string& key, absl::Duration ttl) {
  absl::MutexLock lock(&mutex_);
  const absl::Time now = clock_.Now();
  auto found = leases_.find(key);
  if (found != leases_.end() && found->second.expires_at > now) {
    return std::string();
  }
  if (found == leases_.end() && !RoomLocked(leases_, limits_.max_counters, "leases").ok()) {
    return std::string();  // full of refreshes in progress: this one waits like a loser
  }
  Lease& lease = leases_[key];
  lease.holder = absl::StrCat(++lease_serial_);
  lease.expires_at = now + ttl;
  return lease.holder;
}

void MemoryState::ReleaseLease(const std::string& key, const std::string& holder) {
  absl::MutexLock lock(&mutex_);
  auto found = leases_.find(key);
  if (found != leases_.end() && found->second.holder == holder) {
    leases_.erase(found);
  }
}

absl::Status MemoryState::PutConsent(Consent consent) {
  absl::MutexLock lock(&mutex_);
  if (journal_ != nullptr) {
    journal_->PutConsent(consent);
  }
  std::string key = ConsentKey(consent.user, consent.client_id);
  consents_[key] = std::move(consent);
  return absl::OkStatus();
}

std::optional<Consent> MemoryState::GetConsent(const std::string& user,
                                               const std::string& client_id) {
  absl::ReaderMutexLock lock(&mutex_);
  auto found = consents_.find(ConsentKey(user, client_id));
  if (found == consents_.end()) {
    return std::nullopt;
  }
  return found->second;
}

absl::StatusOr<int64_t> MemoryState::CountAttempt(const std::string& key, absl::Duration window) {
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

void MemoryState::ResetAttempts(const std::string& key) {
  absl::MutexLock lock(&mutex_);
  counters_.erase(key);
}

absl::Status MemoryState::PutMeta(const std::string& key, std::string value) {
  absl::MutexLock lock(&mutex_);
  if (journal_ != nullptr) {
    journal_->PutMeta(key, value);
  }
  meta_[key] = std::move(value);
  return absl::OkStatus();
}

std::optional<std::string> MemoryState::GetMeta(const std::string& key) {
  absl::ReaderMutexLock lock(&mutex_);
  auto found = meta_.find(key);
  if (found == meta_.end()) {
    return std::nullopt;
  }
  return found->second;
}

RecordCounts MemoryState::Counts() {
  absl::MutexLock lock(&mutex_);
  return RecordCounts{clients_.size(), grants_.size(), tokens_.size()};
}

void MemoryState::Sweep() {
  absl::MutexLock lock(&mutex_);
  SweepLocked();
}

void MemoryState::SweepLocked() {
  const absl::Time now = clock_.Now();
  // Each table: erase what expired, and tell the journal.
  auto sweep = [&](auto& map, Table table, auto expired) {
    for (auto it = map.begin(); it != map.end();) {
      if (expired(it->second)) {
        if (journal_ != nullptr) {
          journal_->Erase(table, it->first);
        }
        map.erase(it++);
      } else {
        ++it;
      }
    }
  };
  sweep(clients_, Table::kClients,
        [&](const Client& client) { return client.last_used_at + limits_.client_idle_ttl <= now; });
  std::vector<std::string> expired_flows;
  for (const auto& [id, flow] : flows_) {
    if (flow.expires_at <= now) {
      expired_flows.push_back(id);
    }
  }
  for (const std::string& id : expired_flows) {
    EraseFlowLocked(id);
  }
  sweep(codes_, Table::kCodes,
        [&](const CodeEntry& entry) { return entry.code.expires_at <= now; });
  sweep(tokens_, Table::kTokens,
        [&](const std::shared_ptr<const TokenRecord>& token) { return token->expires_at <= now; });
  sweep(grants_, Table::kGrants, [&](const Grant& grant) { return grant.expires_at <= now; });
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
  absl::erase_if(leases_, [&](const auto& entry) { return entry.second.expires_at <= now; });
}

void MemoryState::RestoreClient(Client client) {
  absl::MutexLock lock(&mutex_);
  std::string id = client.client_id;
  clients_[id] = std::move(client);
}

void MemoryState::RestoreFlow(Flow flow) {
  absl::MutexLock lock(&mutex_);
  InsertFlowLocked(std::move(flow));
}

void MemoryState::RestoreCode(Code code, bool taken) {
  absl::MutexLock lock(&mutex_);
  std::string hash = code.code_hash;
  codes_[hash] = CodeEntry{std::move(code), taken};
}

void MemoryState::RestoreGrant(Grant grant) {
  absl::MutexLock lock(&mutex_);
  std::string id = grant.grant_id;
  grants_[id] = std::move(grant);
}

void MemoryState::RestoreToken(TokenRecord token) {
  absl::MutexLock lock(&mutex_);
  InsertTokenLocked(std::make_shared<const TokenRecord>(std::move(token)));
}

void MemoryState::RestoreConsent(Consent consent) {
  absl::MutexLock lock(&mutex_);
  std::string key = ConsentKey(consent.user, consent.client_id);
  consents_[key] = std::move(consent);
}

void MemoryState::RestoreMeta(const std::string& key, std::string value) {
  absl::MutexLock lock(&mutex_);
  meta_[key] = std::move(value);
}

}  // namespace gateway::store

#include "source/common/store/memory_store.h"

#include <utility>

#include "source/common/store/memory_state.h"
#include "source/dispatcher.h"

namespace gateway::store {

void WorkerMailbox::Post(std::function<void()> work) {
  absl::MutexLock lock(&mutex_);
  if (dispatcher_ != nullptr) {
    dispatcher_->Post(std::move(work));
  }
}

void WorkerMailbox::Close() {
  absl::MutexLock lock(&mutex_);
  dispatcher_ = nullptr;
}

namespace {

// One worker's view: reads from the shared state at once; changes are acknowledged once durable.
class StateStore : public Store {
 public:
  StateStore(std::shared_ptr<MemoryState> state, Durability* durability, Dispatcher& dispatcher)
      : state_(std::move(state)),
        durability_(durability),
        mailbox_(durability == nullptr ? nullptr : std::make_shared<WorkerMailbox>(dispatcher)) {}
  ~StateStore() override {
    if (mailbox_ != nullptr) {
      mailbox_->Close();
    }
  }

  void PutClient(Client client, DoneCallback done) override {
    Acknowledge(state_->PutClient(std::move(client)), std::move(done));
  }
  void GetClient(const std::string& client_id, Callback<std::optional<Client>> done) override {
    done(state_->GetClient(client_id));
  }
  void TouchClient(const std::string& client_id) override { state_->TouchClient(client_id); }
  void PutFlow(Flow flow, DoneCallback done) override {
    Acknowledge(state_->PutFlow(std::move(flow)), std::move(done));
  }
  void GetFlow(const std::string& flow_id, Callback<std::optional<Flow>> done) override {
    done(state_->GetFlow(flow_id));
  }
  void DeleteFlow(const std::string& flow_id) override { state_->DeleteFlow(flow_id); }
  void TakeFlowByUpstreamState(const std::string& state,
                               Callback<std::optional<Flow>> done) override {
    AcknowledgeResult(state_->TakeFlowByUpstreamState(state), std::move(done));
  }
  void PutCode(Code code, DoneCallback done) override {
    Acknowledge(state_->PutCode(std::move(code)), std::move(done));
  }
  void GetCode(const std::string& code_hash, Callback<CodeTake> done) override {
    done(state_->GetCode(code_hash));
  }
  void RedeemCode(const std::string& code_hash, TokenRecord access, TokenRecord refresh,
                  Callback<RedeemOutcome> done) override {
    absl::StatusOr<RedeemOutcome> outcome =
        state_->RedeemCode(code_hash, std::move(access), std::move(refresh));
    if (!outcome.ok()) {
      done(outcome.status());
      return;
    }
    AcknowledgeResult(*outcome, std::move(done));
  }
  void PutGrant(Grant grant, DoneCallback done) override {
    Acknowledge(state_->PutGrant(std::move(grant)), std::move(done));
  }
  void GetGrant(const std::string& grant_id, Callback<std::optional<Grant>> done) override {
    done(state_->GetGrant(grant_id));
  }
  void UpdateGrant(Grant grant, DoneCallback done) override {
    Acknowledge(state_->UpdateGrant(std::move(grant)), std::move(done));
  }
  void RevokeGrant(const std::string& grant_id, DoneCallback done) override {
    state_->RevokeGrant(grant_id);
    Acknowledge(absl::OkStatus(), std::move(done));
  }
  void PutToken(TokenRecord token, DoneCallback done) override {
    Acknowledge(state_->PutToken(std::move(token)), std::move(done));
  }
  void GetToken(const std::string& token_hash,
                Callback<std::shared_ptr<const TokenRecord>> done) override {
    done(state_->GetToken(token_hash));
  }
  bool GetTokenNow(absl::string_view token_hash,
                   std::shared_ptr<const TokenRecord>* record) override {
    *record = state_->GetToken(token_hash);
    return true;
  }
  uint64_t TokenGeneration() override { return state_->TokenGeneration(); }
  void RotateRefresh(const std::string& old_hash, TokenRecord new_access, TokenRecord new_refresh,
                     std::string sealed_response, Callback<RotateOutcome> done) override {
    AcknowledgeResult(state_->RotateRefresh(old_hash, std::move(new_access), std::move(new_refresh),
                                            std::move(sealed_response)),
                      std::move(done));
  }
  void AcquireLease(const std::string& key, absl::Duration ttl,
                    Callback<std::string> done) override {
    done(state_->AcquireLease(key, ttl));
  }
  void ReleaseLease(const std::string& key, const std::string& holder) override {
    state_->ReleaseLease(key, holder);
  }
  void PutConsent(Consent consent, DoneCallback done) override {
    Acknowledge(state_->PutConsent(std::move(consent)), std::move(done));
  }
  void GetConsent(const std::string& user, const std::string& client_id,
                  Callback<std::optional<Consent>> done) override {
    done(state_->GetConsent(user, client_id));
  }
  // Counters stay in memory: a restart forgets recent failed logins, nothing else.
  void CountAttempt(const std::string& key, absl::Duration window,
                    Callback<int64_t> done) override {
    done(state_->CountAttempt(key, window));
  }
  void ResetAttempts(const std::string& key) override { state_->ResetAttempts(key); }
  void PutMeta(const std::string& key, std::string value, DoneCallback done) override {
    Acknowledge(state_->PutMeta(key, std::move(value)), std::move(done));
  }
  void GetMeta(const std::string& key, Callback<std::optional<std::string>> done) override {
    done(state_->GetMeta(key));
  }
  void Sweep() override { state_->Sweep(); }

 private:
  // Answers a change: a refused one at once (nothing was journaled), else once durable.
  void Acknowledge(absl::Status status, DoneCallback done) {
    if (durability_ == nullptr || !status.ok()) {
      done(std::move(status));
      return;
    }
    durability_->WhenDurable(mailbox_, std::move(done));
  }
  // The same for a change with a result: the result is handed out once the change is durable.
  template <typename T>
  void AcknowledgeResult(T result, Callback<T> done) {
    if (durability_ == nullptr) {
      done(std::move(result));
      return;
    }
    durability_->WhenDurable(
        mailbox_, [result = std::move(result), done = std::move(done)](absl::Status status) {
          if (status.ok()) {
            done(std::move(result));
          } else {
            done(std::move(status));
          }
        });
  }

  std::shared_ptr<MemoryState> state_;
  Durability* const durability_;
  const std::shared_ptr<WorkerMailbox> mailbox_;
};

}  // namespace

std::unique_ptr<Store> NewStateStore(std::shared_ptr<MemoryState> state, Durability* durability,
                                     Dispatcher& dispatcher) {
  return std::make_unique<StateStore>(std::move(state), durability, dispatcher);
}

MemoryStoreBackend::MemoryStoreBackend(const Clock& clock, StoreLimits limits)
    : state_(std::make_shared<MemoryState>(clock, limits)) {}

MemoryStoreBackend::~MemoryStoreBackend() = default;

std::optional<RecordCounts> MemoryStoreBackend::Counts() const { return state_->Counts(); }

std::unique_ptr<Store> MemoryStoreBackend::ForWorker(Dispatcher& dispatcher) {
  return NewStateStore(state_, nullptr, dispatcher);
}

}  // namespace gateway::store

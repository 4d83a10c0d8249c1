#pragma once

// The `memory` backend: everything in this process, lost on restart. For tests and throwaway
// runs. Also the worker view every in-memory-first backend (sqlite) shares: reads answer from
// the MemoryState at once; a change is acknowledged once its Durability says it is safe.

#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "source/common/clock.h"
#include "source/common/store/store.h"

namespace gateway {
class Dispatcher;
}

namespace gateway::store {

class MemoryState;

// A worker's address for work handed over from another thread. Closed when the worker's store
// goes away; what is posted after that is dropped.
class WorkerMailbox {
 public:
  explicit WorkerMailbox(Dispatcher& dispatcher) : dispatcher_(&dispatcher) {}
  void Post(std::function<void()> work);
  void Close();

 private:
  absl::Mutex mutex_;
  Dispatcher* dispatcher_ ABSL_GUARDED_BY(mutex_);
};

// Makes the changes a MemoryState journaled durable.
class Durability {
 public:
  virtual ~Durability() = default;
  // Calls `done` through `mailbox` once every change journaled so far is durable, with an error
  // if it could not be made so.
  virtual void WhenDurable(std::shared_ptr<WorkerMailbox> mailbox, DoneCallback done) = 0;
};

// One worker's view of `state`. Reads answer before the call returns; so do changes when
// `durability` is null (memory), else once it says they are durable.
std::unique_ptr<Store> NewStateStore(std::shared_ptr<MemoryState> state, Durability* durability,
                                     Dispatcher& dispatcher);

class MemoryStoreBackend : public StoreBackend {
 public:
  MemoryStoreBackend(const Clock& clock, StoreLimits limits);
  ~MemoryStoreBackend() override;
  std::unique_ptr<Store> ForWorker(Dispatcher& dispatcher) override;
  std::optional<RecordCounts> Counts() const override;

 private:
  std::shared_ptr<MemoryState> state_;
};

}  // namespace gateway::store

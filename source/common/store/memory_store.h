#pragma once

// The `memory` backend: everything in this process, lost on restart. For tests and throwaway
// runs, and the model the persistent backends follow. All workers share one state under a mutex;
// every operation answers before it returns.

#include <memory>

#include "source/common/clock.h"
#include "source/common/store/store.h"

namespace gateway::store {

class MemoryState;

class MemoryStoreBackend : public StoreBackend {
 public:
  MemoryStoreBackend(const Clock& clock, StoreLimits limits);
  ~MemoryStoreBackend() override;
  std::unique_ptr<Store> ForWorker(Dispatcher& dispatcher) override;

 private:
  std::shared_ptr<MemoryState> state_;
};

}  // namespace gateway::store

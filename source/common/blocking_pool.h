#pragma once

// A few threads for work that must not run on an event loop: CPU-heavy password hashing (scrypt
// costs tens of milliseconds, which would stall every connection of a worker). Work is queued
// from any thread; each item runs on a pool thread, and the code that queued it posts its result
// back to its own dispatcher.

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace gateway {

class BlockingPool {
 public:
  explicit BlockingPool(int threads);
  // Stops the pool (Stop()), unless stopped already.
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  void Run(std::function<void()> work);
  // Finishes what is queued, then joins the threads; Run() must not be called after. Called
  // before the dispatchers that queued work go away: finished work posts to them.
  void Stop();

 private:
  void Loop();

  absl::Mutex mutex_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace gateway

#pragma once

// A clock that tests move by hand.

#include <atomic>

#include "source/common/clock.h"

namespace gateway::testing {

class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'800'000'000)) : now_(start) {}
  absl::Time Now() const override { return now_.load(); }
  void Advance(absl::Duration duration) { now_ = now_.load() + duration; }

 private:
  std::atomic<absl::Time> now_;
};

}  // namespace gateway::testing

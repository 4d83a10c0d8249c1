#pragma once

// Wall-clock time for expiries (tokens, codes, flows). An interface so that tests can move time
// by hand; the real one is process-wide and thread-safe.

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace gateway {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class SystemClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace gateway

// Liveness: a guarded callback runs while its owner lives and does nothing once it is gone,
// whether the flag was made before or after other callbacks were guarded.

#include "source/common/liveness.h"

#include <functional>
#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace gateway {
namespace {

TEST(LivenessTest, GuardedCallbacksRunOnlyWhileTheOwnerLives) {
  int runs = 0;
  std::vector<std::function<void(int)>> callbacks;
  {
    Liveness liveness;
    callbacks.push_back(liveness.Guard([&runs](int add) { runs += add; }));
    callbacks.push_back(liveness.Guard([&runs](int add) { runs += 10 * add; }));
    callbacks[0](1);
    callbacks[1](1);
    EXPECT_EQ(runs, 11);
  }
  callbacks[0](1);
  callbacks[1](1);
  EXPECT_EQ(runs, 11);
}

TEST(LivenessTest, AnOwnerThatGuardsNothingCanGoAtAnyTime) {
  auto liveness = std::make_unique<Liveness>();
  liveness.reset();  // no flag was ever made
  int runs = 0;
  Liveness other;
  std::function<void()> callback = other.Guard([&runs] { ++runs; });
  callback();
  EXPECT_EQ(runs, 1);
}

TEST(LivenessTest, ACallbackGuardedByAnotherOwnerIsNotAffected) {
  int runs = 0;
  Liveness stays;
  std::function<void()> kept = stays.Guard([&runs] { ++runs; });
  {
    Liveness goes;
    std::function<void()> dropped = goes.Guard([&runs] { runs += 100; });
  }
  kept();
  EXPECT_EQ(runs, 1);
}

}  // namespace
}  // namespace gateway

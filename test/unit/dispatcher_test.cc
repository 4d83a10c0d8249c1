#include "source/dispatcher.h"

#include <algorithm>
#include <thread>

#include "gtest/gtest.h"
#include "test/support/test_server.h"

namespace gateway {
namespace {

using testing::LoopRunner;

TEST(DispatcherTest, RunsWorkPostedFromAnotherThreadInOrder) {
  Dispatcher dispatcher("test");
  LoopRunner runner(dispatcher);
  std::vector<int> seen;
  std::thread poster([&] {
    for (int i = 0; i < 100; ++i) {
      dispatcher.Post([&seen, i] { seen.push_back(i); });
    }
    dispatcher.Post([&] { runner.Done(); });
  });
  EXPECT_TRUE(runner.Run());
  poster.join();
  ASSERT_EQ(seen.size(), 100u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
}

TEST(DispatcherTest, TimerFiresOnceAndCanBeReArmedOrDisabled) {
  Dispatcher dispatcher("test");
  LoopRunner runner(dispatcher);
  int fired = 0;
  std::unique_ptr<Timer> disabled = dispatcher.CreateTimer([&] { fired += 100; });
  disabled->Enable(absl::Milliseconds(1));
  disabled->Disable();
  std::unique_ptr<Timer> timer;
  timer = dispatcher.CreateTimer([&] {
    if (++fired == 2) {
      runner.Done();
    } else {
      timer->Enable(absl::Milliseconds(1));
    }
  });
  timer->Enable(absl::Milliseconds(1));
  EXPECT_TRUE(timer->Enabled());
  EXPECT_TRUE(runner.Run());
  EXPECT_EQ(fired, 2);
  EXPECT_FALSE(timer->Enabled());
}

TEST(DispatcherTest, DeferredDeleteWaitsForTheCurrentCallback) {
  struct Tracked : DeferredDeletable {
    explicit Tracked(bool& flag) : destroyed(flag) {}
    ~Tracked() override { destroyed = true; }
    bool& destroyed;
  };
  Dispatcher dispatcher("test");
  LoopRunner runner(dispatcher);
  bool destroyed = false;
  bool destroyed_inside_callback = true;
  dispatcher.Post([&] {
    dispatcher.DeferredDelete(std::make_unique<Tracked>(destroyed));
    destroyed_inside_callback = destroyed;
    dispatcher.Post([&] { runner.Done(); });
  });
  EXPECT_TRUE(runner.Run());
  EXPECT_FALSE(destroyed_inside_callback);
  EXPECT_TRUE(destroyed);
}

TEST(DispatcherTest, ResolvesLocalhostWithoutBlocking) {
  Dispatcher dispatcher("test");
  LoopRunner runner(dispatcher);
  absl::StatusOr<std::vector<Address>> result;
  bool returned = false;
  bool answered_before_return = false;
  std::unique_ptr<DnsQuery> query =
      dispatcher.Resolve("localhost", 8080, [&](absl::StatusOr<std::vector<Address>> addresses) {
        answered_before_return = !returned;
        result = std::move(addresses);
        runner.Done();
      });
  returned = true;
  EXPECT_TRUE(runner.Run());
  EXPECT_FALSE(answered_before_return);
  ASSERT_TRUE(result.ok()) << result.status();
  std::vector<std::string> ips;
  for (const Address& address : *result) {
    EXPECT_EQ(address.port(), 8080);
    ips.push_back(address.Ip());
  }
  EXPECT_NE(std::find(ips.begin(), ips.end(), "127.0.0.1"), ips.end());
}

TEST(DispatcherTest, ResolvesNumericHosts) {
  Dispatcher dispatcher("test");
  LoopRunner runner(dispatcher);
  absl::StatusOr<std::vector<Address>> result;
  std::unique_ptr<DnsQuery> query =
      dispatcher.Resolve("::1", 443, [&](absl::StatusOr<std::vector<Address>> addresses) {
        result = std::move(addresses);
        runner.Done();
      });
  EXPECT_TRUE(runner.Run());
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->size(), 1u);
  EXPECT_EQ((*result)[0].ToString(), "[::1]:443");
}

TEST(DispatcherTest, DestroyedQueryNeverCallsBack) {
  Dispatcher dispatcher("test");
  LoopRunner runner(dispatcher);
  bool called = false;
  std::unique_ptr<DnsQuery> query = dispatcher.Resolve(
      "localhost", 80, [&](absl::StatusOr<std::vector<Address>>) { called = true; });
  query.reset();
  std::unique_ptr<Timer> timer = dispatcher.CreateTimer([&] { runner.Done(); });
  timer->Enable(absl::Milliseconds(50));
  EXPECT_TRUE(runner.Run());
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace gateway

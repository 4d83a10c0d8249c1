#include "source/dispatcher.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/support/test_server.h"

namespace gateway {
namespace {

using ::testing::HasSubstr;
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

TEST(DispatcherTest, LosesNoWakeUpWhenManyThreadsPostWhileItRunsAndWhileItSleeps) {
  // The loop's base has no lock: other threads wake it through an eventfd, written only when
  // the queue was empty. Posts that race with the loop taking the queue must still all run.
  Dispatcher dispatcher("test");
  LoopRunner runner(dispatcher);
  constexpr int kThreads = 4;
  constexpr int kPosts = 20000;
  int ran = 0;  // touched on the loop's thread only
  std::atomic<int> finished{0};
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < kPosts; ++i) {
        dispatcher.Post([&ran] { ++ran; });
        if (i % (1000 + t) == 0) {
          std::this_thread::sleep_for(std::chrono::microseconds(200));  // let the loop sleep
        }
      }
      if (finished.fetch_add(1) + 1 == kThreads) {
        dispatcher.Post([&] { runner.Done(); });
      }
    });
  }
  EXPECT_TRUE(runner.Run());
  for (std::thread& poster : posters) {
    poster.join();
  }
  EXPECT_EQ(ran, kThreads * kPosts);
}

TEST(DispatcherTest, ExitFromAnotherThreadEndsRunEvenBeforeItStarted) {
  Dispatcher dispatcher("test");
  std::thread early([&] { dispatcher.Exit(); });
  early.join();
  dispatcher.Run();  // returns at once: the Exit() was waiting for it
  bool ran_after = false;
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    dispatcher.Exit();
  });
  dispatcher.Post([&] { ran_after = true; });
  dispatcher.Run();
  later.join();
  EXPECT_TRUE(ran_after);
}

TEST(DispatcherTest, ExitLetsTheCallbacksAlreadyActiveInItsTurnRun) {
  Dispatcher dispatcher("test");
  bool second_ran = false;
  std::unique_ptr<SoonEvent> second = dispatcher.CreateSoonEvent([&] { second_ran = true; });
  std::unique_ptr<SoonEvent> first = dispatcher.CreateSoonEvent([&] { dispatcher.Exit(); });
  dispatcher.Post([&] {
    first->Schedule();
    second->Schedule();
  });
  dispatcher.Run();
  EXPECT_TRUE(second_ran);
}

TEST(DispatcherTest, LoopTimeIsReadOncePerTurnOfTheLoop) {
  Dispatcher dispatcher("test");
  LoopRunner runner(dispatcher);
  // Outside Run() it is the clock itself.
  const MonotonicTime before = dispatcher.LoopTime();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const MonotonicTime outside = dispatcher.LoopTime();
  EXPECT_GE(outside - before, std::chrono::milliseconds(2));

  MonotonicTime turn_start, in_soon, next_turn;
  std::unique_ptr<Timer> later = dispatcher.CreateTimer([&] {
    next_turn = dispatcher.LoopTime();
    runner.Done();
  });
  std::unique_ptr<SoonEvent> soon = dispatcher.CreateSoonEvent([&] {
    in_soon = dispatcher.LoopTime();  // the same turn
    later->Enable(absl::Milliseconds(1));
  });
  dispatcher.Post([&] {
    turn_start = dispatcher.LoopTime();
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    EXPECT_EQ(dispatcher.LoopTime(), turn_start);
    EXPECT_GE(dispatcher.Now() - turn_start, std::chrono::milliseconds(3));
    soon->Schedule();
  });
  EXPECT_TRUE(runner.Run());
  EXPECT_GE(turn_start, outside);
  EXPECT_EQ(in_soon, turn_start);
  // The timer (due 1 ms after the turn began, so already due when the turn ended) fired in a
  // later turn, which read the clock again.
  EXPECT_GE(next_turn - turn_start, std::chrono::milliseconds(3));
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

TEST(DispatcherTest, ATimerPushedLaterFiresAtItsLastDeadline) {
  Dispatcher dispatcher("test");
  LoopRunner runner(dispatcher);
  const MonotonicTime start = dispatcher.Now();
  MonotonicTime fired_at;
  int fired = 0;
  std::unique_ptr<Timer> timer = dispatcher.CreateTimer([&] {
    ++fired;
    fired_at = dispatcher.Now();
    runner.Done();
  });
  // Armed for 30 ms, then pushed back to 80 ms from the start by a later arming, as a
  // connection does on every request.
  timer->Enable(absl::Milliseconds(30));
  std::unique_ptr<Timer> push = dispatcher.CreateTimer([&] {
    EXPECT_TRUE(timer->Enabled());
    timer->Enable(absl::Milliseconds(60));
  });
  push->Enable(absl::Milliseconds(20));
  EXPECT_TRUE(runner.Run());
  EXPECT_EQ(fired, 1);
  EXPECT_GE(fired_at - start, std::chrono::milliseconds(80));
  EXPECT_FALSE(timer->Enabled());
}

TEST(DispatcherTest, AnEarlierDeadlineReplacesALaterOne) {
  Dispatcher dispatcher("test");
  LoopRunner runner(dispatcher);
  const MonotonicTime start = dispatcher.Now();
  MonotonicTime fired_at;
  std::unique_ptr<Timer> timer = dispatcher.CreateTimer([&] {
    fired_at = dispatcher.Now();
    runner.Done();
  });
  timer->Enable(absl::Seconds(30));
  timer->Enable(absl::Milliseconds(5));
  EXPECT_TRUE(runner.Run());
  EXPECT_GE(fired_at - start, std::chrono::milliseconds(5));
  EXPECT_LT(fired_at - start, std::chrono::seconds(5));
}

TEST(DispatcherTest, APushedBackTimerCanStillBeDisabled) {
  Dispatcher dispatcher("test");
  LoopRunner runner(dispatcher);
  int fired = 0;
  std::unique_ptr<Timer> timer = dispatcher.CreateTimer([&] { ++fired; });
  timer->Enable(absl::Milliseconds(10));
  timer->Enable(absl::Milliseconds(20));  // pushed back: the event stays armed for 10 ms
  timer->Disable();
  EXPECT_FALSE(timer->Enabled());
  std::unique_ptr<Timer> done = dispatcher.CreateTimer([&] { runner.Done(); });
  done->Enable(absl::Milliseconds(60));
  EXPECT_TRUE(runner.Run());
  EXPECT_EQ(fired, 0);
}

TEST(DispatcherTest, APushedBackTimerMayReArmOrDestroyItselfWhenItFires) {
  Dispatcher dispatcher("test");
  LoopRunner runner(dispatcher);
  int fired = 0;
  std::unique_ptr<Timer> rearming;
  std::unique_ptr<Timer> destroying;
  rearming = dispatcher.CreateTimer([&] {
    if (++fired == 1) {
      rearming->Enable(absl::Milliseconds(20));
      rearming->Enable(absl::Milliseconds(30));  // pushed back from inside its own callback
      EXPECT_TRUE(rearming->Enabled());
      return;
    }
    destroying->Enable(absl::Milliseconds(5));
    destroying->Enable(absl::Milliseconds(10));  // pushed back, then gone when it fires
  });
  destroying = dispatcher.CreateTimer([&] {
    ++fired;
    dispatcher.Post([&] { runner.Done(); });
    destroying.reset();  // last: the closure goes with the timer
  });
  rearming->Enable(absl::Milliseconds(5));
  rearming->Enable(absl::Milliseconds(10));
  EXPECT_TRUE(runner.Run());
  EXPECT_EQ(fired, 3);
  EXPECT_EQ(destroying, nullptr);
  EXPECT_FALSE(rearming->Enabled());
}

TEST(DispatcherTest, ASoonEventRunsOncePerSchedulingAndMayScheduleItselfAgain) {
  Dispatcher dispatcher("test");
  LoopRunner runner(dispatcher);
  int runs = 0;
  std::unique_ptr<SoonEvent> soon;
  soon = dispatcher.CreateSoonEvent([&] {
    if (++runs == 1) {
      soon->Schedule();  // from its own callback: it runs again
      soon->Schedule();
    } else {
      runner.Done();
    }
  });
  dispatcher.Post([&] {
    soon->Schedule();
    soon->Schedule();
    soon->Schedule();
  });
  EXPECT_TRUE(runner.Run(absl::Seconds(5)));
  EXPECT_EQ(runs, 2);
}

// A plain socket's read callback and the soon events it schedules: they run as soon as it
// returns, before the turn's other callbacks (a timer that came due in the same turn); one
// destroyed before its turn never runs; one scheduled after the read runs as an event.
TEST(DispatcherTest, SoonEventsScheduledByAReadRunWhenItsCallbackReturns) {
  struct Seen {
    std::vector<std::string> order;
    std::unique_ptr<SoonEvent> first, second, third, later;
  };
  Dispatcher dispatcher("test");
  LoopRunner runner(dispatcher);
  Seen seen;
  seen.first = dispatcher.CreateSoonEvent([&] {
    seen.order.push_back("first");
    seen.second.reset();  // scheduled, destroyed before its turn
    seen.later->Schedule();
  });
  seen.second = dispatcher.CreateSoonEvent([&] { seen.order.push_back("second"); });
  seen.third = dispatcher.CreateSoonEvent([&] { seen.order.push_back("third"); });
  seen.later = dispatcher.CreateSoonEvent([&] {
    seen.order.push_back("later");
    runner.Done();
  });
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  evutil_make_socket_nonblocking(fds[0]);
  BufferEventPtr bev = dispatcher.CreateSocketBufferEvent(fds[0]);
  bufferevent_setcb(
      bev.get(),
      [](bufferevent* read_bev, void* arg) {
        auto* seen = static_cast<Seen*>(arg);
        evbuffer_drain(bufferevent_get_input(read_bev), 1024);
        seen->first->Schedule();
        seen->second->Schedule();
        seen->third->Schedule();
        seen->first->Schedule();  // again: still once
        seen->third.reset();
        seen->order.push_back("read");
      },
      nullptr, nullptr, &seen);
  bufferevent_enable(bev.get(), EV_READ);
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  // Due at once: active in the first turn, after the read (libevent activates timeouts after
  // the sockets epoll reported).
  std::unique_ptr<Timer> timer = dispatcher.CreateTimer([&] { seen.order.push_back("timer"); });
  timer->Enable(absl::ZeroDuration());
  EXPECT_TRUE(runner.Run());
  EXPECT_EQ(seen.order, (std::vector<std::string>{"read", "first", "timer", "later"}));
  bev.reset();
  ::close(fds[1]);
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

// Blocks `signal_number` in the calling thread for its lifetime; restores the mask after.
class BlockSignal {
 public:
  explicit BlockSignal(int signal_number) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signal_number);
    pthread_sigmask(SIG_BLOCK, &set, &previous_);
  }
  ~BlockSignal() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

 private:
  sigset_t previous_;
};

TEST(DispatcherTest, WatchingASignalThisThreadDoesNotBlockIsRefused) {
  Dispatcher dispatcher("test");
  absl::StatusOr<std::unique_ptr<SignalWatch>> watch = dispatcher.WatchSignal(SIGUSR2, [] {});
  EXPECT_EQ(watch.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(watch.status().message()), HasSubstr("not blocked"));
}

// A signal sent before the watch exists waits in the kernel and is read when the loop runs; each
// later one is read once, with no handler run in any thread.
TEST(DispatcherTest, AWatchedSignalIsReadByTheLoopOnceEachTimeItArrives) {
  BlockSignal blocked(SIGUSR1);
  ASSERT_EQ(pthread_kill(pthread_self(), SIGUSR1), 0);  // before the watch: it waits
  Dispatcher dispatcher("test");
  LoopRunner runner(dispatcher);
  int seen = 0;
  absl::StatusOr<std::unique_ptr<SignalWatch>> watch = dispatcher.WatchSignal(SIGUSR1, [&] {
    ++seen;
    if (seen == 1) {
      pthread_kill(pthread_self(), SIGUSR1);  // the loop's thread: read on a later turn
    } else {
      dispatcher.Post([&] { runner.Done(); });
    }
  });
  ASSERT_TRUE(watch.ok()) << watch.status();
  EXPECT_TRUE(runner.Run());
  EXPECT_EQ(seen, 2);
  sigset_t pending;
  sigpending(&pending);
  EXPECT_EQ(sigismember(&pending, SIGUSR1), 0);  // both were taken, none is left over
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

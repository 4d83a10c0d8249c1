#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/filters/delay.h"
#include "test/support/fake_filter_callbacks.h"
#include "test/support/test_server.h"

namespace gateway::filters {
namespace {

using ::testing::HasSubstr;

class DelayFilterTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::unique_ptr<Filter>> Make(absl::string_view yaml) {
    return harness_.Make(DelayFactory(), yaml);
  }
  testing::FilterHarness harness_;
};

TEST_F(DelayFilterTest, StopsChainUntilTheDelayHasPassed) {
  absl::StatusOr<std::unique_ptr<Filter>> filter = Make("{duration: 10ms}");
  ASSERT_TRUE(filter.ok()) << filter.status();
  const MonotonicTime start = harness_.dispatcher.Now();
  EXPECT_EQ((*filter)->OnRequestHeaders(), FilterStatus::kStopIteration);
  EXPECT_EQ(harness_.callbacks.continued, 0);
  testing::LoopRunner runner(harness_.dispatcher);
  harness_.callbacks.on_continue = [&] { runner.Done(); };
  ASSERT_TRUE(runner.Run());
  EXPECT_EQ(harness_.callbacks.continued, 1);
  EXPECT_GE(harness_.dispatcher.Now() - start, std::chrono::milliseconds(10));
}

TEST_F(DelayFilterTest, OnDestroyCancelsTheResume) {
  absl::StatusOr<std::unique_ptr<Filter>> filter = Make("{duration: 1ms}");
  ASSERT_TRUE(filter.ok());
  (*filter)->OnRequestHeaders();
  (*filter)->OnDestroy(http::StreamEnd::kClientGone);
  testing::LoopRunner runner(harness_.dispatcher);
  std::unique_ptr<Timer> after = harness_.dispatcher.CreateTimer([&] { runner.Done(); });
  after->Enable(absl::Milliseconds(20));
  ASSERT_TRUE(runner.Run());
  EXPECT_EQ(harness_.callbacks.continued, 0);
}

TEST_F(DelayFilterTest, RefusesBadConfig) {
  EXPECT_THAT(Make("").status().message(), HasSubstr("needs a duration"));
  EXPECT_THAT(Make("{duration: 2h}").status().message(), HasSubstr("at most 1h"));
  EXPECT_THAT(Make("{duration: 1s, jitter: 1s}").status().message(),
              HasSubstr("test.yaml:1:16: jitter: unknown key (known here: duration)"));
}

}  // namespace
}  // namespace gateway::filters

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
  DelayFilterTest()
      : dispatcher_("test"),
        client_(dispatcher_, http::ClientOptions{}),
        callbacks_(dispatcher_, client_) {}

  absl::StatusOr<FilterFactoryFn> Factory(absl::string_view yaml) {
    absl::StatusOr<config::Node> node = config::ParseYaml(yaml, "delay.yaml");
    if (!node.ok()) {
      return node.status();
    }
    FactoryContext context{config_, state_};
    return DelayFactory().CreateFilterFactory(*node, context);
  }

  Dispatcher dispatcher_;
  http::HttpClient client_;
  testing::FakeFilterCallbacks callbacks_;
  Config config_;
  ServerState state_;
};

TEST_F(DelayFilterTest, StopsChainUntilTheDelayHasPassed) {
  absl::StatusOr<FilterFactoryFn> create = Factory("{duration: 10ms}");
  ASSERT_TRUE(create.ok()) << create.status();
  std::unique_ptr<Filter> filter = (*create)(callbacks_);
  const MonotonicTime start = dispatcher_.Now();
  EXPECT_EQ(filter->OnRequestHeaders(), FilterStatus::kStopIteration);
  EXPECT_EQ(callbacks_.continued, 0);
  testing::LoopRunner runner(dispatcher_);
  callbacks_.on_continue = [&] { runner.Done(); };
  ASSERT_TRUE(runner.Run());
  EXPECT_EQ(callbacks_.continued, 1);
  EXPECT_GE(dispatcher_.Now() - start, std::chrono::milliseconds(10));
}

TEST_F(DelayFilterTest, OnDestroyCancelsTheResume) {
  absl::StatusOr<FilterFactoryFn> create = Factory("{duration: 1ms}");
  ASSERT_TRUE(create.ok());
  std::unique_ptr<Filter> filter = (*create)(callbacks_);
  filter->OnRequestHeaders();
  filter->OnDestroy(http::StreamEnd::kClientGone);
  testing::LoopRunner runner(dispatcher_);
  std::unique_ptr<Timer> after = dispatcher_.CreateTimer([&] { runner.Done(); });
  after->Enable(absl::Milliseconds(20));
  ASSERT_TRUE(runner.Run());
  EXPECT_EQ(callbacks_.continued, 0);
}

TEST_F(DelayFilterTest, RefusesBadConfig) {
  EXPECT_THAT(Factory("").status().message(), HasSubstr("needs a duration"));
  EXPECT_THAT(Factory("{duration: 2h}").status().message(), HasSubstr("at most 1h"));
  EXPECT_THAT(Factory("{duration: 1s, jitter: 1s}").status().message(),
              HasSubstr("delay.yaml:1:16: jitter: unknown key (known here: duration)"));
}

}  // namespace
}  // namespace gateway::filters

// The worked example of a user's own filter (extensions/ip_allowlist.cc), reached the way the
// gateway reaches it: through the registry that RegisterExtensionFilters() fills.

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/filter_registry.h"
#include "test/support/fake_filter_callbacks.h"

namespace gateway {
namespace {

class IpAllowlistTest : public ::testing::Test {
 protected:
  IpAllowlistTest() { RegisterExtensionFilters(registry_); }

  FilterStatus Run(absl::string_view config_yaml, absl::string_view peer_ip) {
    const FilterFactory* factory = registry_.Find("ip_allowlist");
    EXPECT_NE(factory, nullptr);
    absl::StatusOr<std::unique_ptr<Filter>> filter = harness_.Make(*factory, config_yaml);
    EXPECT_TRUE(filter.ok()) << filter.status();
    harness_.callbacks.context().peer = *Address::FromIp(peer_ip, 40000);
    return (*filter)->OnRequestHeaders();
  }

  FilterRegistry registry_;
  testing::FilterHarness harness_;
};

TEST_F(IpAllowlistTest, LetsListedNetworksThrough) {
  EXPECT_EQ(Run("{allow: [10.0.0.0/8, 127.0.0.0/8]}", "127.0.0.1"), FilterStatus::kContinue);
  EXPECT_FALSE(harness_.callbacks.replied);
}

TEST_F(IpAllowlistTest, RefusesOthersWith403) {
  EXPECT_EQ(Run("{allow: [10.0.0.0/8]}", "127.0.0.1"), FilterStatus::kStopIteration);
  ASSERT_TRUE(harness_.callbacks.replied);
  EXPECT_EQ(harness_.callbacks.reply.status, 403);
  EXPECT_THAT(harness_.callbacks.reply.body, ::testing::HasSubstr("access_denied"));
}

TEST_F(IpAllowlistTest, MatchesPrefixesThatAreNotWholeBytes) {
  EXPECT_EQ(Run("{allow: [192.168.4.0/22]}", "192.168.7.200"), FilterStatus::kContinue);
  EXPECT_EQ(Run("{allow: [192.168.4.0/22]}", "192.168.8.1"), FilterStatus::kStopIteration);
}

TEST_F(IpAllowlistTest, HandlesIpv6) {
  EXPECT_EQ(Run("{allow: [\"::1/128\"]}", "::1"), FilterStatus::kContinue);
  EXPECT_EQ(Run("{allow: [\"::1/128\"]}", "127.0.0.1"), FilterStatus::kStopIteration);
}

}  // namespace
}  // namespace gateway

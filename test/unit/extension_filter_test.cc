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
  IpAllowlistTest()
      : dispatcher_("test"),
        client_(dispatcher_, http::ClientOptions{}),
        callbacks_(dispatcher_, client_) {
    RegisterExtensionFilters(registry_);
  }

  FilterStatus Run(absl::string_view config_yaml, absl::string_view peer_ip) {
    absl::StatusOr<config::Node> node = config::ParseYaml(config_yaml, "test.yaml");
    EXPECT_TRUE(node.ok());
    FactoryContext context{config_, state_};
    const FilterFactory* factory = registry_.Find("ip_allowlist");
    EXPECT_NE(factory, nullptr);
    absl::StatusOr<FilterFactoryFn> create = factory->CreateFilterFactory(*node, context);
    EXPECT_TRUE(create.ok()) << create.status();
    callbacks_.context().peer = *Address::FromIp(peer_ip, 40000);
    return (*create)(callbacks_)->OnRequestHeaders();
  }

  FilterRegistry registry_;
  Dispatcher dispatcher_;
  http::HttpClient client_;
  testing::FakeFilterCallbacks callbacks_;
  Config config_;
  ServerState state_;
};

TEST_F(IpAllowlistTest, LetsListedNetworksThrough) {
  EXPECT_EQ(Run("{allow: [10.0.0.0/8, 127.0.0.0/8]}", "127.0.0.1"), FilterStatus::kContinue);
  EXPECT_FALSE(callbacks_.replied);
}

TEST_F(IpAllowlistTest, RefusesOthersWith403) {
  EXPECT_EQ(Run("{allow: [10.0.0.0/8]}", "127.0.0.1"), FilterStatus::kStopIteration);
  ASSERT_TRUE(callbacks_.replied);
  EXPECT_EQ(callbacks_.reply.status, 403);
  EXPECT_THAT(callbacks_.reply.body, ::testing::HasSubstr("access_denied"));
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

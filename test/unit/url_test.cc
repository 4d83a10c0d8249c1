#include "source/common/url.h"

#include "gtest/gtest.h"

namespace gateway {
namespace {

TEST(UrlTest, ParsesHttpsWithDefaultPort) {
  absl::StatusOr<Url> url = ParseUrl("https://api.githubcopilot.com/mcp/");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_TRUE(url->tls());
  EXPECT_EQ(url->host, "api.githubcopilot.com");
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->path, "/mcp/");
  EXPECT_EQ(url->Authority(), "api.githubcopilot.com");
  EXPECT_EQ(url->ToString(), "https://api.githubcopilot.com/mcp/");
  EXPECT_EQ(url->PoolKey(), "https://api.githubcopilot.com:443");
}

TEST(UrlTest, ParsesExplicitPortQueryAndIpv6) {
  absl::StatusOr<Url> url = ParseUrl("http://[::1]:3001/mcp?x=1");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 3001);
  EXPECT_EQ(url->query, "x=1");
  EXPECT_EQ(url->Authority(), "[::1]:3001");
  EXPECT_EQ(url->Target(), "/mcp?x=1");
}

TEST(UrlTest, EmptyPathIsSlash) {
  absl::StatusOr<Url> url = ParseUrl("http://localhost:8002");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->path, "/");
  EXPECT_EQ(url->Origin(), "http://localhost:8002");
}

TEST(UrlTest, RefusesWhatTheGatewayMustNotConnectTo) {
  EXPECT_FALSE(ParseUrl("ftp://example.com/").ok());
  EXPECT_FALSE(ParseUrl("/relative").ok());
  EXPECT_FALSE(ParseUrl("https://user:pass@example.com/").ok());
  EXPECT_FALSE(ParseUrl("https://example.com/#frag").ok());
  EXPECT_FALSE(ParseUrl("https:///nohost").ok());
  EXPECT_FALSE(ParseUrl("not a url").ok());
}

}  // namespace
}  // namespace gateway

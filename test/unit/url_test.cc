#include "source/common/url.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "source/common/net.h"

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

TEST(AddressTest, WritesIpv4AddressesAsInetNtopDoes) {
  std::vector<uint32_t> addresses = {0x00000000, 0xffffffff, 0x7f000001, 0x0a006409,
                                     0xc0a80001, 0x01020304, 0x640a0063, 0x09630a64};
  std::mt19937 random(7);
  for (int i = 0; i < 2000; ++i) {
    addresses.push_back(static_cast<uint32_t>(random()));
  }
  for (uint32_t value : addresses) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(value);
    char expected[INET_ADDRSTRLEN] = {0};
    ASSERT_NE(inet_ntop(AF_INET, &in.sin_addr, expected, sizeof(expected)), nullptr);
    const Address address =
        Address::FromSockaddr(reinterpret_cast<const sockaddr*>(&in), sizeof(in));
    EXPECT_EQ(address.Ip(), expected);
  }
  absl::StatusOr<Address> v6 = Address::FromIp("2001:db8::1", 443);
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->Ip(), "2001:db8::1");
  EXPECT_EQ(v6->ToString(), "[2001:db8::1]:443");
}

TEST(AddressTest, TellsPublicAddressesFromTheRest) {
  for (const char* ip : {"8.8.8.8", "140.82.112.3", "2606:4700::1111", "::ffff:8.8.8.8"}) {
    EXPECT_TRUE(IsPublicAddress(*Address::FromIp(ip, 443))) << ip;
  }
  for (const char* ip :
       {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "0.0.0.0", "224.0.0.1", "::1", "::", "fd00::1", "fe80::1", "::ffff:127.0.0.1",
        "::ffff:10.0.0.1", "2001:db8::1"}) {
    EXPECT_FALSE(IsPublicAddress(*Address::FromIp(ip, 443))) << ip;
  }
}

}  // namespace
}  // namespace gateway

#include "source/common/http/headers.h"

#include "gtest/gtest.h"

namespace gateway::http {
namespace {

TEST(HeaderMapTest, LooksUpCaseInsensitivelyAndKeepsOrder) {
  HeaderMap headers;
  headers.Add("Content-Type", "application/json");
  headers.Add("Mcp-Session-Id", "abc");
  headers.Add("mcp-session-id", "def");
  ASSERT_NE(headers.Get("content-type"), nullptr);
  EXPECT_EQ(*headers.Get("CONTENT-TYPE"), "application/json");
  EXPECT_EQ(*headers.Get("Mcp-Session-Id"), "abc");
  EXPECT_EQ(headers.Count("MCP-SESSION-ID"), 2u);
  EXPECT_EQ(headers.Get("missing"), nullptr);
}

TEST(HeaderMapTest, SetReplacesEveryFieldOfThatName) {
  HeaderMap headers;
  headers.Add("Host", "a");
  headers.Add("host", "b");
  headers.Set("HOST", "c");
  EXPECT_EQ(headers.Count("host"), 1u);
  EXPECT_EQ(*headers.Get("host"), "c");
  EXPECT_EQ(headers.Remove("host"), 1u);
  EXPECT_TRUE(headers.empty());
}

TEST(HeaderMapTest, FindsTokensInCommaSeparatedFields) {
  HeaderMap headers;
  headers.Add("Connection", "keep-alive, Upgrade");
  EXPECT_TRUE(headers.HasToken("connection", "upgrade"));
  EXPECT_TRUE(headers.HasToken("connection", "Keep-Alive"));
  EXPECT_FALSE(headers.HasToken("connection", "close"));
}

TEST(HeaderValidationTest, RefusesInjection) {
  EXPECT_TRUE(IsValidHeaderValue("Bearer abc.def"));
  EXPECT_FALSE(IsValidHeaderValue("abc\r\nX-Injected: 1"));
  EXPECT_FALSE(IsValidHeaderValue("abc\n"));
  EXPECT_FALSE(IsValidHeaderValue(absl::string_view("a\0b", 3)));
  EXPECT_TRUE(IsValidHeaderName("Mcp-Protocol-Version"));
  EXPECT_FALSE(IsValidHeaderName("Bad Name"));
  EXPECT_FALSE(IsValidHeaderName("X:Y"));
  EXPECT_FALSE(IsValidHeaderName(""));
}

}  // namespace
}  // namespace gateway::http

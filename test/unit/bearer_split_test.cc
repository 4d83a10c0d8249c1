// bearer_split on its own: tokens minted the way token_exchange mints them, kept in the memory
// store, presented in every wrong way a client or an attacker can.

#include "source/filters/bearer_split.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/common/crypto.h"
#include "source/common/oauth/token_issuer.h"
#include "source/common/token/token_pair.h"
#include "test/support/fake_filter_callbacks.h"

namespace gateway::filters {
namespace {

using ::testing::HasSubstr;

class BearerSplitTest : public ::testing::Test {
 protected:
  // Mints a pair for a grant with `upstream_token` and stores its records.
  oauth::MintedTokens Mint(const std::string& upstream_token, bool sealed = true,
                           std::string resource = "") {
    store::Grant grant;
    grant.grant_id = absl::StrCat("g", ++grants_);
    grant.user = "alice";
    grant.client_id = "client";
    grant.resource = resource.empty() ? harness_.services.config.ResourceUrl() : resource;
    grant.upstream_access_token = upstream_token;
    TokensConfig config = harness_.services.config.tokens;
    config.sealed = sealed;
    oauth::MintedTokens minted =
        oauth::MintTokens(grant, config, harness_.services.keys, harness_.services.clock.Now());
    harness_.store->PutToken(minted.access, [](absl::Status status) { ASSERT_TRUE(status.ok()); });
    harness_.store->PutToken(minted.refresh, [](absl::Status status) { ASSERT_TRUE(status.ok()); });
    return minted;
  }

  // Runs the filter on GET /mcp with `authorization` (none when empty) and `query`.
  FilterStatus Run(const std::string& authorization, const std::string& query = "") {
    testing::FakeFilterCallbacks& callbacks = harness_.callbacks;
    callbacks.replied = false;
    callbacks.continued = 0;
    callbacks.context() = RequestContext();
    callbacks.context().request.method = "POST";
    callbacks.context().request.path = "/mcp";
    callbacks.context().request.query = query;
    if (!authorization.empty()) {
      callbacks.context().request.headers.Add("Authorization", authorization);
    }
    absl::StatusOr<std::unique_ptr<Filter>> filter = harness_.Make(BearerSplitFactory());
    EXPECT_TRUE(filter.ok());
    filter_ = std::move(*filter);
    status_ = filter_->OnRequestHeaders();
    return status_;
  }

  // Whether the last request went on, either way a filter may let it: by returning kContinue, or
  // by resuming the chain itself (after a store lookup that answered later).
  // Exactly one of the two: both would run the rest of the chain twice.
  bool PassedOn() const {
    const bool returned_continue = status_ == FilterStatus::kContinue;
    const bool resumed = harness_.callbacks.continued == 1;
    return !harness_.callbacks.replied && harness_.callbacks.continued <= 1 &&
           returned_continue != resumed;
  }

  // Expects a 401 naming `error` in the challenge (or none when empty), a 400 for
  // invalid_request (RFC 6750 section 3.1), and nothing passed on.
  void ExpectRefused(absl::string_view error) {
    testing::FakeFilterCallbacks& callbacks = harness_.callbacks;
    ASSERT_TRUE(callbacks.replied);
    EXPECT_EQ(callbacks.reply.status, error == "invalid_request" ? 400 : 401);
    EXPECT_EQ(callbacks.continued, 0);
    EXPECT_EQ(status_, FilterStatus::kStopIteration);
    EXPECT_TRUE(callbacks.context().upstream_token.empty());
    const std::string challenge = *callbacks.reply.headers.Get("WWW-Authenticate");
    EXPECT_THAT(challenge, HasSubstr("resource_metadata=\"http://127.0.0.1:8002/.well-known/"
                                     "oauth-protected-resource/mcp\""));
    if (error.empty()) {
      EXPECT_THAT(challenge, ::testing::Not(HasSubstr("error=")));
    } else {
      EXPECT_THAT(challenge, HasSubstr(absl::StrCat("error=\"", error, "\"")));
    }
  }

  testing::FilterHarness harness_;
  std::unique_ptr<Filter> filter_;
  FilterStatus status_ = FilterStatus::kStopIteration;
  int grants_ = 0;
};

TEST_F(BearerSplitTest, ValidSealedTokenPassesTheUpstreamHalfOn) {
  oauth::MintedTokens minted = Mint("gho_upstream_secret");
  Run("Bearer " + minted.access_token);
  EXPECT_TRUE(PassedOn());
  EXPECT_FALSE(harness_.callbacks.replied);
  EXPECT_EQ(harness_.callbacks.context().upstream_token, "gho_upstream_secret");
  EXPECT_EQ(harness_.callbacks.context().user, "alice");
  EXPECT_EQ(harness_.callbacks.context().client_id, "client");
}

TEST_F(BearerSplitTest, SchemeIsCaseInsensitive) {
  oauth::MintedTokens minted = Mint("upstream");
  Run("bEaReR " + minted.access_token);
  EXPECT_TRUE(PassedOn());
}

TEST_F(BearerSplitTest, ValidPlainTokenPassesToo) {
  oauth::MintedTokens minted = Mint("plain_upstream", /*sealed=*/false);
  Run("Bearer " + minted.access_token);
  EXPECT_TRUE(PassedOn());
  EXPECT_EQ(harness_.callbacks.context().upstream_token, "plain_upstream");
}

TEST_F(BearerSplitTest, NoTokenGetsAChallengeWithoutError) {
  Run("");
  ExpectRefused("");
}

TEST_F(BearerSplitTest, RefusesMalformedTokens) {
  for (const std::string& header :
       {std::string("Basic dXNlcjpwYXNz"), std::string("Bearer"), std::string("Bearer "),
        std::string("Bearer !!!not-base64!!!"), "Bearer " + crypto::Base64UrlEncode("nocolon"),
        "Bearer " + crypto::Base64UrlEncode(":onlyupstream"), "Bearer " + std::string(5000, 'A')}) {
    Run(header);
    ExpectRefused("invalid_token");
  }
}

TEST_F(BearerSplitTest, RefusesUnknownExpiredAndRefreshTokens) {
  Run("Bearer " + token::EncodePair(crypto::RandomToken(), "upstream"));
  ExpectRefused("invalid_token");
  oauth::MintedTokens minted = Mint("upstream");
  Run("Bearer " + minted.refresh_token);  // a refresh token is not an access token
  ExpectRefused("invalid_token");
  harness_.services.clock.Advance(harness_.services.config.tokens.access_ttl + absl::Seconds(1));
  Run("Bearer " + minted.access_token);
  ExpectRefused("invalid_token");
}

TEST_F(BearerSplitTest, RefusesSwappedHalves) {
  oauth::MintedTokens first = Mint("upstream-one");
  oauth::MintedTokens second = Mint("upstream-two");
  std::string a;
  std::string b;
  token::SplitPair one = *token::DecodePair(first.access_token, a);
  token::SplitPair two = *token::DecodePair(second.access_token, b);
  // A valid gateway half with another token's (valid) sealed upstream half.
  Run("Bearer " + token::EncodePair(one.gateway_half, two.upstream_part));
  ExpectRefused("invalid_token");
  // And with a foreign plain upstream token.
  Run("Bearer " + token::EncodePair(one.gateway_half, "ghp_someone_elses_token"));
  ExpectRefused("invalid_token");
}

TEST_F(BearerSplitTest, PlainPairsMustMatchWhatWasIssued) {
  oauth::MintedTokens minted = Mint("plain_upstream", /*sealed=*/false);
  std::string scratch;
  token::SplitPair pair = *token::DecodePair(minted.access_token, scratch);
  Run("Bearer " + token::EncodePair(pair.gateway_half, "another_upstream"));
  ExpectRefused("invalid_token");
}

TEST_F(BearerSplitTest, NoControlCharacterEverReachesTheUpstream) {
  for (const std::string& upstream :
       {std::string("abc\r\nX-Injected: 1"), std::string("a b"), std::string("abc\0def", 7)}) {
    oauth::MintedTokens plain = Mint(upstream, /*sealed=*/false);
    Run("Bearer " + plain.access_token);
    ExpectRefused("invalid_token");
    oauth::MintedTokens sealed = Mint(upstream);
    Run("Bearer " + sealed.access_token);
    ExpectRefused("invalid_token");
  }
}

TEST_F(BearerSplitTest, RefusesTokensForAnotherResource) {
  oauth::MintedTokens minted = Mint("upstream", true, "https://other.example/mcp");
  Run("Bearer " + minted.access_token);
  ExpectRefused("invalid_token");
}

TEST_F(BearerSplitTest, RefusesTokensInTheQueryString) {
  oauth::MintedTokens minted = Mint("upstream");
  Run("", "access_token=" + minted.access_token);
  ExpectRefused("invalid_request");
  Run("Bearer " + minted.access_token, "x=1&access_token=" + minted.access_token);
  ExpectRefused("invalid_request");
}

TEST_F(BearerSplitTest, RevokedGrantsTokensAreRefused) {
  oauth::MintedTokens minted = Mint("upstream");
  harness_.store->RevokeGrant(minted.access.grant_id, [](absl::Status) {});
  Run("Bearer " + minted.access_token);
  ExpectRefused("invalid_token");
}

// A token that passed before is remembered with its record; a revocation or its expiry must
// refuse it at once all the same.
TEST_F(BearerSplitTest, ATokenThatPassedIsRefusedOnceRevoked) {
  oauth::MintedTokens minted = Mint("upstream");
  for (int request = 0; request < 3; ++request) {
    Run("Bearer " + minted.access_token);
    ASSERT_TRUE(PassedOn()) << request;
    EXPECT_EQ(harness_.callbacks.context().upstream_token, "upstream");
    ASSERT_NE(harness_.callbacks.context().token, nullptr);
    EXPECT_EQ(harness_.callbacks.context().token->grant_id, minted.access.grant_id);
  }
  harness_.store->RevokeGrant(minted.access.grant_id, [](absl::Status) {});
  Run("Bearer " + minted.access_token);
  ExpectRefused("invalid_token");
}

TEST_F(BearerSplitTest, ATokenThatPassedIsRefusedOnceExpired) {
  oauth::MintedTokens minted = Mint("upstream", /*sealed=*/false);
  for (int request = 0; request < 3; ++request) {
    Run("Bearer " + minted.access_token);
    ASSERT_TRUE(PassedOn()) << request;
  }
  harness_.services.clock.Advance(minted.access.expires_at - harness_.services.clock.Now());
  Run("Bearer " + minted.access_token);
  ExpectRefused("invalid_token");
}

// Another grant's revocation changes the store's generation: the token is looked up again, and
// still passes.
TEST_F(BearerSplitTest, AnotherGrantsRevocationLeavesATokenGood) {
  oauth::MintedTokens minted = Mint("upstream");
  oauth::MintedTokens other = Mint("other");
  Run("Bearer " + minted.access_token);
  ASSERT_TRUE(PassedOn());
  harness_.store->RevokeGrant(other.access.grant_id, [](absl::Status) {});
  for (int request = 0; request < 2; ++request) {
    Run("Bearer " + minted.access_token);
    ASSERT_TRUE(PassedOn()) << request;
    EXPECT_EQ(harness_.callbacks.context().upstream_token, "upstream");
  }
  Run("Bearer " + other.access_token);
  ExpectRefused("invalid_token");
}

TEST_F(BearerSplitTest, PreflightsPassWithoutAToken) {
  harness_.callbacks.context().request.method = "OPTIONS";
  absl::StatusOr<std::unique_ptr<Filter>> filter = harness_.Make(BearerSplitFactory());
  ASSERT_TRUE(filter.ok());
  EXPECT_EQ((*filter)->OnRequestHeaders(), FilterStatus::kContinue);
}

}  // namespace
}  // namespace gateway::filters

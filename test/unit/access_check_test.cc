// token::AccessCheck on its own, with this thread's memory of checked tokens on: a token seen
// before must be refused exactly when a first sight of it would be (revoked, expired, another
// key ring, another record), and the memory must give the same answers as the whole derivation
// when its entries are replaced under a check that waits for the store.

#include "source/common/token/access_check.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "source/common/crypto.h"
#include "source/common/oauth/token_issuer.h"

namespace gateway::token {
namespace {

constexpr absl::string_view kResource = "https://gateway.example/mcp";

class AccessCheckTest : public ::testing::Test {
 protected:
  void SetUp() override { RememberTokensOnThisThread(true); }
  void TearDown() override { RememberTokensOnThisThread(true); }  // and forget all

  // A minted pair for `upstream_token`: what the client presents, and the store's record.
  struct Minted {
    std::string authorization;
    std::shared_ptr<const store::TokenRecord> record;
  };
  Minted Mint(const std::string& upstream_token, bool sealed = true) {
    store::Grant grant;
    grant.grant_id = absl::StrCat("g", ++grants_);
    grant.user = "alice";
    grant.client_id = "client";
    grant.resource = std::string(kResource);
    grant.upstream_access_token = upstream_token;
    TokensConfig config;
    config.sealed = sealed;
    oauth::MintedTokens minted = oauth::MintTokens(grant, config, keys_, absl::Now());
    return Minted{absl::StrCat("Bearer ", minted.access_token),
                  std::make_shared<const store::TokenRecord>(minted.access)};
  }

  // Parses `authorization` and validates it against `record` (nullptr: the store has nothing).
  AccessError Check(const std::string& authorization,
                    const std::shared_ptr<const store::TokenRecord>& record, const KeyRing& keys,
                    std::string& upstream_token) {
    AccessCheck check;
    if (AccessError error = check.Parse(authorization); error != AccessError::kNone) {
      return error;
    }
    if (record != nullptr && check.token_hash() != record->token_hash) {
      return AccessError::kUnknown;  // the store would not have answered with this record
    }
    return check.Validate(record, /*generation=*/0, kResource, keys, upstream_token);
  }
  AccessError Check(const Minted& minted, std::string& upstream_token) {
    return Check(minted.authorization, minted.record, keys_, upstream_token);
  }

  // Checks `minted` against its record, looked up under the store's token generation
  // `generation`.
  void PassUnder(const Minted& minted, uint64_t generation) {
    AccessCheck check;
    ASSERT_EQ(check.Parse(minted.authorization), AccessError::kNone);
    std::string upstream;
    ASSERT_EQ(check.Validate(minted.record, generation, kResource, keys_, upstream),
              AccessError::kNone);
  }

  KeyRing keys_ = *KeyRing::Create({KeyRing::GenerateKey("k1")});
  int grants_ = 0;
};

TEST_F(AccessCheckTest, ARememberedTokenGivesTheSameAnswerBothFormats) {
  for (bool sealed : {true, false}) {
    const Minted minted = Mint("gho_upstream", sealed);
    for (int sight = 0; sight < 3; ++sight) {
      std::string upstream;
      EXPECT_EQ(Check(minted, upstream), AccessError::kNone) << sealed << " " << sight;
      EXPECT_EQ(upstream, "gho_upstream");
    }
  }
}

TEST_F(AccessCheckTest, ARememberedTokenIsRefusedOnceTheStoreHasNothing) {
  const Minted minted = Mint("gho_upstream");
  std::string upstream;
  ASSERT_EQ(Check(minted, upstream), AccessError::kNone);
  // Revoked or expired: the store answers nothing, and the memory does not answer instead.
  EXPECT_EQ(Check(minted.authorization, nullptr, keys_, upstream), AccessError::kUnknown);
  EXPECT_TRUE(upstream.empty());
  // A refresh token's record under the same hash is refused as well.
  auto refresh = std::make_shared<store::TokenRecord>(*minted.record);
  refresh->kind = store::TokenKind::kRefresh;
  EXPECT_EQ(Check(minted.authorization, refresh, keys_, upstream), AccessError::kUnknown);
  // And the token is still good against its own record.
  EXPECT_EQ(Check(minted, upstream), AccessError::kNone);
  EXPECT_EQ(upstream, "gho_upstream");
}

TEST_F(AccessCheckTest, ARememberedTokenIsCheckedAgainstTheRecordsResource) {
  const Minted minted = Mint("gho_upstream");
  std::string upstream;
  ASSERT_EQ(Check(minted, upstream), AccessError::kNone);
  auto elsewhere = std::make_shared<store::TokenRecord>(*minted.record);
  elsewhere->resource = "https://other.example/mcp";
  EXPECT_EQ(Check(minted.authorization, elsewhere, keys_, upstream), AccessError::kOtherResource);
  EXPECT_TRUE(upstream.empty());
}

TEST_F(AccessCheckTest, ARememberedSealedTokenNeedsItsKeyInTheRing) {
  const Minted minted = Mint("gho_upstream");
  std::string upstream;
  ASSERT_EQ(Check(minted, upstream), AccessError::kNone);
  // A reload that dropped the key the token was sealed with: the token is refused.
  const KeyRing rotated = *KeyRing::Create({KeyRing::GenerateKey("k2")});
  EXPECT_EQ(Check(minted.authorization, minted.record, rotated, upstream),
            AccessError::kHalvesMismatch);
  EXPECT_TRUE(upstream.empty());
  // A ring that kept it opens it still.
  const KeyRing kept = *KeyRing::Create({KeyRing::GenerateKey("k2"), keys_.current()});
  EXPECT_EQ(Check(minted.authorization, minted.record, kept, upstream), AccessError::kNone);
  EXPECT_EQ(upstream, "gho_upstream");
}

TEST_F(AccessCheckTest, ARememberedPlainTokenMustMatchTheRecordsUpstreamHash) {
  const Minted minted = Mint("plain_upstream", /*sealed=*/false);
  std::string upstream;
  ASSERT_EQ(Check(minted, upstream), AccessError::kNone);
  auto other = std::make_shared<store::TokenRecord>(*minted.record);
  other->upstream_part_hash = crypto::SecretHash("another_upstream");
  EXPECT_EQ(Check(minted.authorization, other, keys_, upstream), AccessError::kHalvesMismatch);
  EXPECT_TRUE(upstream.empty());
  // A sealed record under the same hash (no upstream hash): the plain part does not unseal.
  auto sealed = std::make_shared<store::TokenRecord>(*minted.record);
  sealed->upstream_part_hash.clear();
  EXPECT_EQ(Check(minted.authorization, sealed, keys_, upstream), AccessError::kHalvesMismatch);
}

TEST_F(AccessCheckTest, ARememberedGatewayHalfWithAnotherUpstreamPartIsNotRemembered) {
  for (bool sealed : {true, false}) {
    const Minted minted = Mint("gho_upstream", sealed);
    const Minted other = Mint("gho_other", sealed);
    std::string upstream;
    ASSERT_EQ(Check(minted, upstream), AccessError::kNone);
    std::string scratch_a;
    std::string scratch_b;
    const SplitPair mine = *DecodePair(minted.authorization.substr(7), scratch_a);
    const SplitPair theirs = *DecodePair(other.authorization.substr(7), scratch_b);
    // The same gateway half (the same first characters, the same store record) with another
    // token's upstream part: a different text, so a first sight, and refused.
    const std::string forged = "Bearer " + EncodePair(mine.gateway_half, theirs.upstream_part);
    AccessCheck check;
    ASSERT_EQ(check.Parse(forged), AccessError::kNone);
    EXPECT_FALSE(check.remembered()) << sealed;
    EXPECT_EQ(check.token_hash(), minted.record->token_hash);
    EXPECT_EQ(check.Validate(minted.record, /*generation=*/0, kResource, keys_, upstream),
              AccessError::kHalvesMismatch)
        << sealed;
    EXPECT_TRUE(upstream.empty());
  }
}

TEST_F(AccessCheckTest, ATokenRefusedForItsUpstreamPartIsRefusedEveryTime) {
  for (bool sealed : {true, false}) {
    const Minted minted = Mint("gho_x\r\nX-Injected: 1", sealed);
    for (int sight = 0; sight < 2; ++sight) {
      AccessCheck check;
      ASSERT_EQ(check.Parse(minted.authorization), AccessError::kNone);
      EXPECT_FALSE(check.remembered());
      std::string upstream;
      EXPECT_EQ(check.Validate(minted.record, /*generation=*/0, kResource, keys_, upstream),
                AccessError::kBadUpstreamToken);
      EXPECT_TRUE(upstream.empty());
    }
  }
}

TEST_F(AccessCheckTest, AnEntryTakenByAnotherTokenWhileTheStoreAnswersIsDerivedAgain) {
  const Minted minted = Mint("gho_upstream");
  std::string upstream;
  ASSERT_EQ(Check(minted, upstream), AccessError::kNone);
  AccessCheck waiting;  // as bearer_split keeps it while a lookup is in flight
  ASSERT_EQ(waiting.Parse(minted.authorization), AccessError::kNone);
  ASSERT_TRUE(waiting.remembered());
  // Meanwhile other requests fill every entry of the memory with their own tokens.
  for (size_t i = 0; i < kRememberedTokens + kRememberedTokens / 2; ++i) {
    const Minted other = Mint(absl::StrCat("gho_other_", i));
    ASSERT_EQ(Check(other, upstream), AccessError::kNone);
  }
  EXPECT_EQ(waiting.Validate(minted.record, /*generation=*/0, kResource, keys_, upstream),
            AccessError::kNone);
  EXPECT_EQ(upstream, "gho_upstream");
}

TEST_F(AccessCheckTest, ACheckValidatedOnAnotherThreadDerivesAgain) {
  // Two tokens, each remembered by one thread; a check parsed on one thread and validated on the
  // other gets its own token's upstream half, not whatever the other thread's memory holds.
  const Minted mine = Mint("gho_mine");
  const Minted theirs = Mint("gho_theirs");
  std::string upstream;
  ASSERT_EQ(Check(mine, upstream), AccessError::kNone);
  AccessCheck check;
  ASSERT_EQ(check.Parse(mine.authorization), AccessError::kNone);
  ASSERT_TRUE(check.remembered());
  AccessError error = AccessError::kUnknown;
  std::string upstream_there;
  std::thread other([&] {
    std::string ignored;
    EXPECT_EQ(Check(theirs, ignored), AccessError::kNone);
    error = check.Validate(mine.record, /*generation=*/0, kResource, keys_, upstream_there);
  });
  other.join();
  EXPECT_EQ(error, AccessError::kNone);
  EXPECT_EQ(upstream_there, "gho_mine");
}

TEST_F(AccessCheckTest, ExpiredTokensAreForgottenBySweep) {
  const Minted minted = Mint("gho_upstream");
  std::string upstream;
  ASSERT_EQ(Check(minted, upstream), AccessError::kNone);
  const auto remembered = [&] {
    AccessCheck check;
    EXPECT_EQ(check.Parse(minted.authorization), AccessError::kNone);
    return check.remembered();
  };
  ForgetExpiredTokensOnThisThread(minted.record->expires_at - absl::Seconds(1));
  EXPECT_TRUE(remembered());
  ForgetExpiredTokensOnThisThread(minted.record->expires_at);
  EXPECT_FALSE(remembered());
}

TEST_F(AccessCheckTest, AnEntryReplacedWhileTheStoreAnswersIsDerivedAgain) {
  const Minted minted = Mint("gho_upstream");
  std::string upstream;
  ASSERT_EQ(Check(minted, upstream), AccessError::kNone);
  AccessCheck check;
  ASSERT_EQ(check.Parse(minted.authorization), AccessError::kNone);
  EXPECT_EQ(check.token_hash(), minted.record->token_hash);
  AccessCheck waiting = check;        // as bearer_split keeps it while a lookup is in flight
  RememberTokensOnThisThread(false);  // the memory forgets everything meanwhile
  RememberTokensOnThisThread(true);
  EXPECT_EQ(waiting.Validate(minted.record, /*generation=*/0, kResource, keys_, upstream),
            AccessError::kNone);
  EXPECT_EQ(upstream, "gho_upstream");
}

TEST_F(AccessCheckTest, MoreTokensThanTheMemoryHoldsAreAllCheckedRight) {
  std::vector<Minted> minted;
  const size_t count = kRememberedTokens + kRememberedTokens / 4;
  minted.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    minted.push_back(Mint(absl::StrCat("gho_", i), /*sealed=*/i % 2 == 0));
  }
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < count; ++i) {
      std::string upstream;
      ASSERT_EQ(Check(minted[i], upstream), AccessError::kNone) << round << " " << i;
      ASSERT_EQ(upstream, absl::StrCat("gho_", i));
    }
  }
}

TEST_F(AccessCheckTest, RemembersWhatPassedAndForgetsWhatTheStoreRefused) {
  const Minted minted = Mint("gho_upstream");
  const auto remembered = [&] {
    AccessCheck check;
    EXPECT_EQ(check.Parse(minted.authorization), AccessError::kNone);
    return check.remembered();
  };
  EXPECT_FALSE(remembered());
  std::string upstream;
  ASSERT_EQ(Check(minted, upstream), AccessError::kNone);
  EXPECT_TRUE(remembered());
  // Another text for the same token (the scheme's case, spaces) is the same token.
  AccessCheck check;
  ASSERT_EQ(check.Parse("bEARER  " + minted.authorization.substr(7) + " "), AccessError::kNone);
  EXPECT_TRUE(check.remembered());
  // A token that failed is not remembered; one the store no longer has is forgotten.
  const Minted other = Mint("gho_other");
  auto elsewhere = std::make_shared<store::TokenRecord>(*other.record);
  elsewhere->resource = "https://other.example/mcp";
  EXPECT_EQ(Check(other.authorization, elsewhere, keys_, upstream), AccessError::kOtherResource);
  EXPECT_EQ(Check(minted.authorization, nullptr, keys_, upstream), AccessError::kUnknown);
  EXPECT_FALSE(remembered());
  {
    AccessCheck check_other;
    ASSERT_EQ(check_other.Parse(other.authorization), AccessError::kNone);
    EXPECT_FALSE(check_other.remembered());
  }
  ASSERT_EQ(Check(minted, upstream), AccessError::kNone);
  EXPECT_TRUE(remembered());
  RememberTokensOnThisThread(false);
  ASSERT_EQ(Check(minted, upstream), AccessError::kNone);
  EXPECT_FALSE(remembered());
}

// The record a check passed against, vouched for while the store's generation stays the same.
TEST_F(AccessCheckTest, ARememberedRecordIsVouchedForOnlyUnderItsGenerationUntilItExpires) {
  const Minted minted = Mint("gho_upstream");
  const absl::Time now = minted.record->expires_at - absl::Minutes(1);
  const auto vouched = [&](uint64_t generation, absl::Time at) {
    AccessCheck check;
    EXPECT_EQ(check.Parse(minted.authorization), AccessError::kNone);
    return check.VouchedRecord(generation, at);
  };
  // Nothing before the token passed, nor after it passed without a generation.
  EXPECT_EQ(vouched(7, now), nullptr);
  std::string upstream;
  ASSERT_EQ(Check(minted, upstream), AccessError::kNone);
  EXPECT_EQ(vouched(0, now), nullptr);
  // Passed under generation 7: its record, under 7 only, and only before it expires.
  PassUnder(minted, 7);
  const std::shared_ptr<const store::TokenRecord>* record = vouched(7, now);
  ASSERT_NE(record, nullptr);
  EXPECT_EQ(*record, minted.record);
  EXPECT_EQ(vouched(8, now), nullptr);
  EXPECT_EQ(vouched(0, now), nullptr);
  EXPECT_EQ(vouched(7, minted.record->expires_at), nullptr);
  // Looked up again under another generation, it is vouched for under that one instead.
  PassUnder(minted, 9);
  EXPECT_NE(vouched(9, now), nullptr);
  EXPECT_EQ(vouched(7, now), nullptr);
  // Refused by the store (revoked): forgotten, record and all.
  EXPECT_EQ(Check(minted.authorization, nullptr, keys_, upstream), AccessError::kUnknown);
  EXPECT_EQ(vouched(9, now), nullptr);
}

TEST_F(AccessCheckTest, AVouchedRecordIsValidatedLikeALookedUpOne) {
  const Minted minted = Mint("gho_upstream");
  const absl::Time now = minted.record->expires_at - absl::Minutes(1);
  PassUnder(minted, 7);
  // Validates the record vouched for under generation 7 with `keys`, for `resource`.
  const auto validate_vouched = [&](const KeyRing& keys, absl::string_view resource,
                                    std::string& upstream) {
    AccessCheck check;
    EXPECT_EQ(check.Parse(minted.authorization), AccessError::kNone);
    const std::shared_ptr<const store::TokenRecord>* record = check.VouchedRecord(7, now);
    EXPECT_NE(record, nullptr);
    return record == nullptr ? AccessError::kUnknown
                             : check.Validate(*record, 7, resource, keys, upstream);
  };
  // With the ring the token was sealed with, its upstream half.
  std::string upstream;
  EXPECT_EQ(validate_vouched(keys_, kResource, upstream), AccessError::kNone);
  EXPECT_EQ(upstream, "gho_upstream");
  // Not for another resource.
  EXPECT_EQ(validate_vouched(keys_, "https://other.example/mcp", upstream),
            AccessError::kOtherResource);
  // A reload that dropped the token's key: derived again, and refused.
  const KeyRing rotated = *KeyRing::Create({KeyRing::GenerateKey("k2")});
  EXPECT_EQ(validate_vouched(rotated, kResource, upstream), AccessError::kHalvesMismatch);
  EXPECT_TRUE(upstream.empty());
  // One that kept it: derived again and remembered anew (the entry's own record with it).
  const KeyRing kept = *KeyRing::Create({KeyRing::GenerateKey("k2"), keys_.current()});
  EXPECT_EQ(validate_vouched(kept, kResource, upstream), AccessError::kNone);
  EXPECT_EQ(upstream, "gho_upstream");
  EXPECT_EQ(validate_vouched(kept, kResource, upstream), AccessError::kNone);
  EXPECT_EQ(upstream, "gho_upstream");
}

TEST_F(AccessCheckTest, NoRecordIsVouchedForOnAnotherThread) {
  const Minted minted = Mint("gho_upstream");
  const absl::Time now = minted.record->expires_at - absl::Minutes(1);
  PassUnder(minted, 7);
  AccessCheck check;
  ASSERT_EQ(check.Parse(minted.authorization), AccessError::kNone);
  const std::shared_ptr<const store::TokenRecord>* there = &minted.record;
  std::thread other([&] { there = check.VouchedRecord(7, now); });
  other.join();
  EXPECT_EQ(there, nullptr);
  EXPECT_NE(check.VouchedRecord(7, now), nullptr);
}

TEST_F(AccessCheckTest, ATokenTooLongToRememberIsCheckedEveryTime) {
  const std::string upstream_token(300, 'u');
  const Minted minted = Mint(upstream_token);
  for (int sight = 0; sight < 2; ++sight) {
    AccessCheck check;
    ASSERT_EQ(check.Parse(minted.authorization), AccessError::kNone);
    EXPECT_FALSE(check.remembered());
    std::string upstream;
    EXPECT_EQ(check.Validate(minted.record, /*generation=*/0, kResource, keys_, upstream),
              AccessError::kNone);
    EXPECT_EQ(upstream, upstream_token);
  }
}

TEST_F(AccessCheckTest, WithTheMemoryOffEveryCheckDerives) {
  RememberTokensOnThisThread(false);
  const Minted minted = Mint("gho_upstream");
  for (int sight = 0; sight < 2; ++sight) {
    std::string upstream;
    EXPECT_EQ(Check(minted, upstream), AccessError::kNone);
    EXPECT_EQ(upstream, "gho_upstream");
  }
  std::string upstream;
  EXPECT_EQ(Check("Bearer " + EncodePair("half", "part"), minted.record, keys_, upstream),
            AccessError::kUnknown);
}

}  // namespace
}  // namespace gateway::token

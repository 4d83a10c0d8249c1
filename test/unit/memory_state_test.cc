// What MemoryState tells its journal: every change, in order, and the changes of one operation
// marked as one group (the sqlite writer commits a group whole, so a crash never leaves half a
// rotation on the disk: a rotated refresh token whose successor was lost would revoke the family
// of a client that did nothing wrong).

#include "source/common/store/memory_state.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/support/fake_clock.h"
#include "test/support/store_answer.h"

namespace gateway::store {
namespace {

using ::testing::ElementsAre;

// Writes down what it is told, one line per call.
class RecordingJournal : public Journal {
 public:
  void PutClient(const Client& client) override { Note("put clients", client.client_id); }
  void PutFlow(const Flow& flow) override { Note("put flows", flow.flow_id); }
  void PutCode(const Code& code, bool taken) override {
    Note(taken ? "put codes (taken)" : "put codes", code.code_hash);
  }
  void PutGrant(const Grant& grant) override { Note("put grants", grant.grant_id); }
  void PutToken(const TokenRecord& token) override { Note("put tokens", token.token_hash); }
  void PutConsent(const Consent& consent) override { Note("put consents", consent.client_id); }
  void PutMeta(const std::string& key, const std::string&) override { Note("put meta", key); }
  void Erase(Table table, const std::string& key) override {
    Note(absl::StrCat("erase ", TableName(table)), key);
  }
  void BeginGroup() override { lines.push_back("begin"); }
  void EndGroup() override { lines.push_back("end"); }

  std::vector<std::string> lines;

 private:
  void Note(const std::string& what, const std::string& key) {
    lines.push_back(absl::StrCat(what, " ", key));
  }
};

class MemoryStateTest : public ::testing::Test {
 protected:
  MemoryStateTest() : state_(clock_, StoreLimits{}) {
    state_.SetJournal(&journal_);
    Grant grant;
    grant.grant_id = "g1";
    grant.client_id = "c1";
    grant.expires_at = clock_.Now() + absl::Hours(24);
    EXPECT_TRUE(state_.PutGrant(grant).ok());
    Code code;
    code.code_hash = "code1";
    code.client_id = "c1";
    code.grant_id = "g1";
    code.expires_at = clock_.Now() + absl::Minutes(1);
    EXPECT_TRUE(state_.PutCode(code).ok());
    journal_.lines.clear();
  }

  TokenRecord Token(std::string hash, TokenKind kind) {
    return testing::TestToken(std::move(hash), kind, clock_.Now() + absl::Hours(1));
  }

  testing::FakeClock clock_;
  RecordingJournal journal_;
  MemoryState state_;
};

TEST_F(MemoryStateTest, ARedemptionIsOneGroup) {
  absl::StatusOr<RedeemOutcome> redeemed =
      state_.RedeemCode("code1", Token("a1", TokenKind::kAccess), Token("r1", TokenKind::kRefresh));
  ASSERT_TRUE(redeemed.ok());
  EXPECT_EQ(*redeemed, RedeemOutcome::kRedeemed);
  EXPECT_THAT(journal_.lines, ElementsAre("begin", "put codes (taken) code1", "put tokens a1",
                                          "put tokens r1", "end"));
}

TEST_F(MemoryStateTest, ARotationIsOneGroup) {
  ASSERT_TRUE(state_.PutToken(Token("r1", TokenKind::kRefresh)).ok());
  journal_.lines.clear();
  EXPECT_EQ(state_.RotateRefresh("r1", Token("a2", TokenKind::kAccess),
                                 Token("r2", TokenKind::kRefresh), "sealed response"),
            RotateOutcome::kRotated);
  EXPECT_THAT(journal_.lines,
              ElementsAre("begin", "put tokens r1", "put tokens a2", "put tokens r2", "end"));
}

TEST_F(MemoryStateTest, ARevocationIsOneGroup) {
  ASSERT_TRUE(state_.PutToken(Token("a1", TokenKind::kAccess)).ok());
  ASSERT_TRUE(state_.PutToken(Token("r1", TokenKind::kRefresh)).ok());
  journal_.lines.clear();
  state_.RevokeGrant("g1");
  EXPECT_THAT(journal_.lines,
              ElementsAre("begin", "erase grants g1", "erase tokens a1", "erase tokens r1", "end"));
}

TEST_F(MemoryStateTest, AnOperationThatChangesNothingTellsNothingButAnEmptyGroup) {
  // A replayed rotation changes nothing: the journal sees no change (an empty group commits
  // nothing).
  ASSERT_TRUE(state_.PutToken(Token("r1", TokenKind::kRefresh)).ok());
  ASSERT_EQ(state_.RotateRefresh("r1", Token("a2", TokenKind::kAccess),
                                 Token("r2", TokenKind::kRefresh), "sealed response"),
            RotateOutcome::kRotated);
  journal_.lines.clear();
  EXPECT_EQ(state_.RotateRefresh("r1", Token("a3", TokenKind::kAccess),
                                 Token("r3", TokenKind::kRefresh), "sealed response"),
            RotateOutcome::kReplayed);
  EXPECT_THAT(journal_.lines, ElementsAre("begin", "end"));
}

}  // namespace
}  // namespace gateway::store

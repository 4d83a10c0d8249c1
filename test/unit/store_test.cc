// The store contract, run against every backend: what the memory backend does, the sqlite one
// does too (plus surviving a restart, tested in sqlite_store_test.cc).

#include <memory>
#include <optional>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/common/store/memory_store.h"
#include "source/common/store/redis_store.h"
#include "source/common/store/sqlite_store.h"
#include "source/common/token/key_ring.h"
#include "source/dispatcher.h"
#include "test/support/child_process.h"
#include "test/support/fake_clock.h"
#include "test/support/redis_server.h"
#include "test/support/store_answer.h"

namespace gateway::store {
namespace {

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  StoreTest()
      : dispatcher_("test"), keys_(*token::KeyRing::Create({token::KeyRing::GenerateKey("k")})) {
    if (GetParam() == "redis") {
      redis_ = std::make_unique<testing::RedisServer>();
      redis_->Start();
    }
    Reset(StoreLimits{});
  }

  // Whether records expire by Redis's own clock, which the tests' fake clock does not move
  // (redis_store_test.cc covers that expiry with real time).
  bool ExpiryIsRedis() const { return GetParam() == "redis"; }

  void Reset(StoreLimits limits) {
    store_.reset();
    backend_.reset();
    if (GetParam() == "sqlite") {
      absl::StatusOr<std::unique_ptr<SqliteStoreBackend>> opened = SqliteStoreBackend::Open(
          {absl::StrCat(dir_.path(), "/state-", ++files_, ".db"), false}, clock_, limits, keys_);
      ASSERT_TRUE(opened.ok()) << opened.status();
      backend_ = std::move(*opened);
    } else if (GetParam() == "redis") {
      RedisOptions options;
      options.endpoint.port = redis_->port();
      options.key_prefix = absl::StrCat("test-", ++files_, ":");  // a fresh store each time
      backend_ = std::make_unique<RedisStoreBackend>(options, clock_, limits, keys_);
    } else {
      backend_ = std::make_unique<MemoryStoreBackend>(clock_, limits);
    }
    store_ = backend_->ForWorker(dispatcher_);
  }

  template <typename T>
  T Value(const std::function<void(Callback<T>)>& call) {
    absl::StatusOr<T> result = testing::StoreAnswer<T>(dispatcher_, call, GetParam() == "memory");
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? std::move(*result) : T();
  }

  absl::Status Done(const std::function<void(DoneCallback)>& call) {
    return testing::StoreDone(dispatcher_, call, GetParam() == "memory");
  }

  TokenRecord Token(std::string hash, TokenKind kind, std::string grant_id,
                    absl::Duration ttl = absl::Hours(1)) {
    return testing::TestToken(std::move(hash), kind, clock_.Now() + ttl, std::move(grant_id));
  }

  std::shared_ptr<const TokenRecord> GetToken(const std::string& hash) {
    return Value<std::shared_ptr<const TokenRecord>>(
        [&](auto done) { store_->GetToken(hash, std::move(done)); });
  }

  // Grant "g1" and its code "h1", valid for a minute.
  void PutGrantWithCode() {
    Grant grant;
    grant.grant_id = "g1";
    grant.expires_at = clock_.Now() + absl::Hours(1);
    ASSERT_TRUE(Done([&](auto done) { store_->PutGrant(grant, done); }).ok());
    Code code;
    code.code_hash = "h1";
    code.grant_id = "g1";
    code.expires_at = clock_.Now() + absl::Seconds(60);
    ASSERT_TRUE(Done([&](auto done) { store_->PutCode(code, done); }).ok());
  }

  // Redeems `code_hash` for the pair `access`/`refresh` of grant "g1".
  RedeemOutcome Redeem(const std::string& code_hash, const std::string& access,
                       const std::string& refresh) {
    return Value<RedeemOutcome>([&](auto done) {
      store_->RedeemCode(code_hash, Token(access, TokenKind::kAccess, "g1"),
                         Token(refresh, TokenKind::kRefresh, "g1"), done);
    });
  }

  testing::FakeClock clock_;
  std::unique_ptr<testing::RedisServer> redis_;
  Dispatcher dispatcher_;
  testing::TempDir dir_;
  token::KeyRing keys_;
  int files_ = 0;
  std::unique_ptr<StoreBackend> backend_;
  std::unique_ptr<Store> store_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("memory", "sqlite", "redis"),
                         [](const auto& info) { return info.param; });

TEST_P(StoreTest, ACodeIsRedeemedOnceAndAReplayIsRecognised) {
  PutGrantWithCode();
  // Looking at a code does not use it.
  for (int look = 0; look < 2; ++look) {
    CodeTake seen = Value<CodeTake>([&](auto done) { store_->GetCode("h1", done); });
    ASSERT_TRUE(seen.code.has_value());
    EXPECT_EQ(seen.code->grant_id, "g1");
    EXPECT_FALSE(seen.reused);
  }
  EXPECT_EQ(Redeem("h1", "a1", "r1"), RedeemOutcome::kRedeemed);
  EXPECT_NE(GetToken("a1"), nullptr);
  EXPECT_NE(GetToken("r1"), nullptr);
  EXPECT_EQ(Redeem("h1", "a2", "r2"), RedeemOutcome::kReplayed);
  EXPECT_EQ(GetToken("a2"), nullptr);  // nothing stored by a replay
  CodeTake replay = Value<CodeTake>([&](auto done) { store_->GetCode("h1", done); });
  EXPECT_FALSE(replay.code.has_value());
  EXPECT_TRUE(replay.reused);
  EXPECT_EQ(replay.grant_id, "g1");
  CodeTake forged = Value<CodeTake>([&](auto done) { store_->GetCode("nope", done); });
  EXPECT_FALSE(forged.code.has_value());
  EXPECT_FALSE(forged.reused);
  EXPECT_EQ(Redeem("nope", "a3", "r3"), RedeemOutcome::kUnknown);
}

TEST_P(StoreTest, ACodeWhoseGrantWasRevokedIssuesNothing) {
  PutGrantWithCode();
  ASSERT_TRUE(Done([&](auto done) { store_->RevokeGrant("g1", done); }).ok());
  EXPECT_EQ(Redeem("h1", "a1", "r1"), RedeemOutcome::kUnknown);
  EXPECT_EQ(GetToken("a1"), nullptr);
}

TEST_P(StoreTest, ExpiredCodesAreGone) {
  PutGrantWithCode();
  clock_.Advance(absl::Seconds(61));
  EXPECT_FALSE(Value<CodeTake>([&](auto done) { store_->GetCode("h1", done); }).code);
  EXPECT_EQ(Redeem("h1", "a1", "r1"), RedeemOutcome::kUnknown);
}

TEST_P(StoreTest, UpstreamStateFindsItsFlowOnce) {
  Flow flow;
  flow.flow_id = "f1";
  flow.client_id = "c1";
  flow.expires_at = clock_.Now() + absl::Minutes(10);
  ASSERT_TRUE(Done([&](auto done) { store_->PutFlow(flow, done); }).ok());
  flow.upstream_state = "up-state";
  ASSERT_TRUE(Done([&](auto done) { store_->PutFlow(flow, done); }).ok());
  auto taken = Value<std::optional<Flow>>(
      [&](auto done) { store_->TakeFlowByUpstreamState("up-state", done); });
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->client_id, "c1");
  EXPECT_FALSE(Value<std::optional<Flow>>(
      [&](auto done) { store_->TakeFlowByUpstreamState("up-state", done); }));
  EXPECT_FALSE(Value<std::optional<Flow>>([&](auto done) { store_->GetFlow("f1", done); }));
}

TEST_P(StoreTest, TokensExpireAndRevokingAGrantRemovesItsTokens) {
  ASSERT_TRUE(Done([&](auto done) {
                store_->PutToken(Token("a1", TokenKind::kAccess, "g1", absl::Minutes(5)), done);
              }).ok());
  ASSERT_TRUE(Done([&](auto done) {
                store_->PutToken(Token("r1", TokenKind::kRefresh, "g1", absl::Hours(24)), done);
              }).ok());
  ASSERT_TRUE(
      Done([&](auto done) { store_->PutToken(Token("a2", TokenKind::kAccess, "g2"), done); }).ok());
  ASSERT_NE(GetToken("a1"), nullptr);
  EXPECT_EQ(GetToken("a1")->user, "alice");
  clock_.Advance(absl::Minutes(6));
  EXPECT_EQ(GetToken("a1"), nullptr);
  EXPECT_NE(GetToken("r1"), nullptr);
  ASSERT_TRUE(Done([&](auto done) { store_->RevokeGrant("g1", done); }).ok());
  EXPECT_EQ(GetToken("r1"), nullptr);
  EXPECT_NE(GetToken("a2"), nullptr);  // another grant's token is untouched
}

TEST_P(StoreTest, RefreshRotationHappensOnceThenReportsReplays) {
  ASSERT_TRUE(Done([&](auto done) {
                store_->PutToken(Token("r1", TokenKind::kRefresh, "g1"), done);
              }).ok());
  RotateOutcome first = Value<RotateOutcome>([&](auto done) {
    store_->RotateRefresh("r1", Token("a2", TokenKind::kAccess, "g1"),
                          Token("r2", TokenKind::kRefresh, "g1"), "", done);
  });
  EXPECT_EQ(first, RotateOutcome::kRotated);
  EXPECT_EQ(GetToken("r1")->successor_hash, "r2");
  EXPECT_NE(GetToken("a2"), nullptr);
  RotateOutcome replay = Value<RotateOutcome>([&](auto done) {
    store_->RotateRefresh("r1", Token("a3", TokenKind::kAccess, "g1"),
                          Token("r3", TokenKind::kRefresh, "g1"), "", done);
  });
  EXPECT_EQ(replay, RotateOutcome::kReplayed);
  EXPECT_EQ(GetToken("r3"), nullptr);  // nothing stored by a replay
  RotateOutcome unknown = Value<RotateOutcome>([&](auto done) {
    store_->RotateRefresh("a2", Token("a4", TokenKind::kAccess, "g1"),
                          Token("r4", TokenKind::kRefresh, "g1"), "", done);
  });
  EXPECT_EQ(unknown, RotateOutcome::kUnknown);  // an access token cannot be rotated
}

TEST_P(StoreTest, LimitsAnswerResourceExhaustedAndSweepingFreesRoom) {
  StoreLimits limits;
  limits.max_clients = 2;
  limits.client_idle_ttl = absl::Hours(1);
  Reset(limits);
  for (const char* id : {"c1", "c2"}) {
    Client client;
    client.client_id = id;
    client.last_used_at = clock_.Now();
    ASSERT_TRUE(Done([&](auto done) { store_->PutClient(client, done); }).ok());
  }
  Client third;
  third.client_id = "c3";
  third.last_used_at = clock_.Now();
  EXPECT_EQ(Done([&](auto done) { store_->PutClient(third, done); }).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(Value<std::optional<Client>>([&](auto done) { store_->GetClient("c3", done); }));
  clock_.Advance(absl::Minutes(30));
  store_->TouchClient("c1");
  clock_.Advance(absl::Minutes(31));  // c2 idle for 61 minutes, c1 for 31
  EXPECT_TRUE(Done([&](auto done) { store_->PutClient(third, done); }).ok());
  EXPECT_TRUE(Value<std::optional<Client>>([&](auto done) { store_->GetClient("c1", done); }));
  if (!ExpiryIsRedis()) {
    EXPECT_FALSE(Value<std::optional<Client>>([&](auto done) { store_->GetClient("c2", done); }));
  }
}

TEST_P(StoreTest, AttemptCountersUseFixedWindows) {
  for (int expected = 1; expected <= 3; ++expected) {
    EXPECT_EQ(Value<int64_t>(
                  [&](auto done) { store_->CountAttempt("login:alice", absl::Minutes(1), done); }),
              expected);
  }
  if (!ExpiryIsRedis()) {
    clock_.Advance(absl::Minutes(1));
    EXPECT_EQ(Value<int64_t>(
                  [&](auto done) { store_->CountAttempt("login:alice", absl::Minutes(1), done); }),
              1);
  }
  store_->ResetAttempts("login:alice");
  EXPECT_EQ(Value<int64_t>(
                [&](auto done) { store_->CountAttempt("login:alice", absl::Minutes(1), done); }),
            1);
}

TEST_P(StoreTest, WorkersShareOneState) {
  std::unique_ptr<Store> other = backend_->ForWorker(dispatcher_);
  ASSERT_TRUE(
      Done([&](auto done) { store_->PutToken(Token("a1", TokenKind::kAccess, "g1"), done); }).ok());
  EXPECT_NE(Value<std::shared_ptr<const TokenRecord>>(
                [&](auto done) { other->GetToken("a1", std::move(done)); }),
            nullptr);
}

TEST_P(StoreTest, ALeaseHasOneHolderUntilReleasedOrLapsed) {
  const std::string first = Value<std::string>(
      [&](auto done) { store_->AcquireLease("refresh/g1", absl::Seconds(30), done); });
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(Value<std::string>(
                [&](auto done) { store_->AcquireLease("refresh/g1", absl::Seconds(30), done); }),
            "");
  // Another key is another lease.
  EXPECT_NE(Value<std::string>(
                [&](auto done) { store_->AcquireLease("refresh/g2", absl::Seconds(30), done); }),
            "");
  store_->ReleaseLease("refresh/g1", "not-the-holder");
  EXPECT_EQ(Value<std::string>(
                [&](auto done) { store_->AcquireLease("refresh/g1", absl::Seconds(30), done); }),
            "");
  store_->ReleaseLease("refresh/g1", first);
  const std::string second = Value<std::string>(
      [&](auto done) { store_->AcquireLease("refresh/g1", absl::Seconds(30), done); });
  ASSERT_FALSE(second.empty());
  EXPECT_NE(second, first);
  if (ExpiryIsRedis()) {
    return;
  }
  clock_.Advance(absl::Seconds(31));  // a holder that died lets go by itself
  EXPECT_NE(Value<std::string>(
                [&](auto done) { store_->AcquireLease("refresh/g1", absl::Seconds(30), done); }),
            "");
}

TEST_P(StoreTest, ConsentAndMetaRoundTrip) {
  Consent consent{"alice", "c1", "mcp:tools", clock_.Now()};
  ASSERT_TRUE(Done([&](auto done) { store_->PutConsent(consent, done); }).ok());
  auto found =
      Value<std::optional<Consent>>([&](auto done) { store_->GetConsent("alice", "c1", done); });
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->scope, "mcp:tools");
  EXPECT_FALSE(
      Value<std::optional<Consent>>([&](auto done) { store_->GetConsent("bob", "c1", done); }));
  ASSERT_TRUE(Done([&](auto done) { store_->PutMeta("upstream", "{}", done); }).ok());
  EXPECT_EQ(
      *Value<std::optional<std::string>>([&](auto done) { store_->GetMeta("upstream", done); }),
      "{}");
}

}  // namespace
}  // namespace gateway::store

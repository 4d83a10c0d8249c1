// The redis backend beyond the store contract (store_test.cc): two replicas sharing one real
// redis-server, revocation reaching the other replica within the cache bound, expiry by Redis's
// own clock, and Redis stopping, hanging and coming back. Real time throughout: Redis expires
// keys by its clock, so these tests use the system clock and short lifetimes.

#include "source/common/store/redis_store.h"

#include <memory>
#include <optional>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/common/token/key_ring.h"
#include "source/dispatcher.h"
#include "test/support/redis_server.h"
#include "test/support/store_answer.h"

namespace gateway::store {
namespace {

class RedisStoreTest : public ::testing::Test {
 protected:
  RedisStoreTest()
      : dispatcher_("test"), keys_(*token::KeyRing::Create({token::KeyRing::GenerateKey("k")})) {
    redis_.Start();
  }

  // One gateway process: its backend and one worker's store.
  struct Replica {
    std::unique_ptr<RedisStoreBackend> backend;
    std::unique_ptr<Store> store;
  };
  Replica MakeReplica(absl::Duration cache_ttl = absl::Seconds(5),
                      absl::Duration timeout = absl::Seconds(2)) {
    RedisOptions options;
    options.endpoint.port = redis_.port();
    options.endpoint.timeout = timeout;
    options.token_cache_ttl = cache_ttl;
    Replica replica;
    replica.backend = std::make_unique<RedisStoreBackend>(options, clock_, StoreLimits{}, keys_);
    replica.store = replica.backend->ForWorker(dispatcher_);
    return replica;
  }

  template <typename T>
  absl::StatusOr<T> Answer(const std::function<void(Callback<T>)>& call) {
    return testing::StoreAnswer<T>(dispatcher_, call);
  }
  template <typename T>
  T Value(const std::function<void(Callback<T>)>& call) {
    absl::StatusOr<T> result = Answer<T>(call);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? std::move(*result) : T();
  }
  absl::Status Done(const std::function<void(DoneCallback)>& call) {
    return testing::StoreDone(dispatcher_, call);
  }
  std::shared_ptr<const TokenRecord> GetToken(Store& store, const std::string& hash) {
    return Value<std::shared_ptr<const TokenRecord>>(
        [&](auto done) { store.GetToken(hash, std::move(done)); });
  }

  // Repeats `check` (on the loop) until it holds or `limit` passes; how long it took.
  std::optional<absl::Duration> Within(absl::Duration limit, const std::function<bool()>& check) {
    const absl::Time start = absl::Now();
    while (absl::Now() - start < limit) {
      if (check()) {
        return absl::Now() - start;
      }
      std::unique_ptr<Timer> tick = dispatcher_.CreateTimer([this] { dispatcher_.Exit(); });
      tick->Enable(absl::Milliseconds(20));
      dispatcher_.Run();
    }
    return std::nullopt;
  }

  TokenRecord Token(std::string hash, TokenKind kind, absl::Duration ttl = absl::Hours(1)) {
    return testing::TestToken(std::move(hash), kind, clock_.Now() + ttl);
  }

  Grant SomeGrant() {
    Grant grant;
    grant.grant_id = "g1";
    grant.user = "alice";
    grant.client_id = "c1";
    grant.upstream_access_token = "gho_secret";
    grant.created_at = clock_.Now();
    grant.expires_at = clock_.Now() + absl::Hours(1);
    return grant;
  }

  SystemClock clock_;
  testing::RedisServer redis_;
  Dispatcher dispatcher_;
  token::KeyRing keys_;
};

TEST_F(RedisStoreTest, TwoReplicasShareEveryRecordAndEveryRaceHasOneWinner) {
  Replica a = MakeReplica();
  Replica b = MakeReplica();
  ASSERT_TRUE(a.backend->Check().ok());
  Client client;
  client.client_id = "c1";
  client.redirect_uris = {"http://127.0.0.1:9/cb"};
  client.last_used_at = clock_.Now();
  ASSERT_TRUE(Done([&](auto done) { a.store->PutClient(client, done); }).ok());
  std::optional<Client> seen =
      Value<std::optional<Client>>([&](auto done) { b.store->GetClient("c1", done); });
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->redirect_uris, client.redirect_uris);

  ASSERT_TRUE(Done([&](auto done) { a.store->PutGrant(SomeGrant(), done); }).ok());
  std::optional<Grant> grant =
      Value<std::optional<Grant>>([&](auto done) { b.store->GetGrant("g1", done); });
  ASSERT_TRUE(grant.has_value());
  EXPECT_EQ(grant->upstream_access_token, "gho_secret");

  // A code redeemed at A is a replay at B.
  Code code;
  code.code_hash = "code-1";
  code.grant_id = "g1";
  code.expires_at = clock_.Now() + absl::Minutes(1);
  ASSERT_TRUE(Done([&](auto done) { a.store->PutCode(code, done); }).ok());
  EXPECT_TRUE(Value<CodeTake>([&](auto done) { b.store->GetCode("code-1", done); }).code);
  EXPECT_EQ(Value<RedeemOutcome>([&](auto done) {
              a.store->RedeemCode("code-1", Token("a0", TokenKind::kAccess),
                                  Token("r0", TokenKind::kRefresh), done);
            }),
            RedeemOutcome::kRedeemed);
  EXPECT_NE(GetToken(*b.store, "a0"), nullptr);
  EXPECT_EQ(Value<RedeemOutcome>([&](auto done) {
              b.store->RedeemCode("code-1", Token("a9", TokenKind::kAccess),
                                  Token("r9", TokenKind::kRefresh), done);
            }),
            RedeemOutcome::kReplayed);
  CodeTake replay = Value<CodeTake>([&](auto done) { b.store->GetCode("code-1", done); });
  EXPECT_TRUE(replay.reused);
  EXPECT_FALSE(replay.code.has_value());

  // A refresh token rotated at A is a replay at B, and B sees the rotation at once.
  ASSERT_TRUE(
      Done([&](auto done) { a.store->PutToken(Token("r1", TokenKind::kRefresh), done); }).ok());
  EXPECT_EQ(Value<RotateOutcome>([&](auto done) {
              a.store->RotateRefresh("r1", Token("a2", TokenKind::kAccess),
                                     Token("r2", TokenKind::kRefresh), "sealed", done);
            }),
            RotateOutcome::kRotated);
  std::shared_ptr<const TokenRecord> rotated = GetToken(*b.store, "r1");
  ASSERT_NE(rotated, nullptr);
  EXPECT_EQ(rotated->successor_hash, "r2");
  EXPECT_EQ(rotated->successor_response, "sealed");
  EXPECT_EQ(Value<RotateOutcome>([&](auto done) {
              b.store->RotateRefresh("r1", Token("a3", TokenKind::kAccess),
                                     Token("r3", TokenKind::kRefresh), "", done);
            }),
            RotateOutcome::kReplayed);
  EXPECT_NE(GetToken(*b.store, "a2"), nullptr);

  // One lease holder across replicas.
  const std::string holder = Value<std::string>(
      [&](auto done) { a.store->AcquireLease("refresh/g1", absl::Seconds(30), done); });
  ASSERT_FALSE(holder.empty());
  EXPECT_EQ(Value<std::string>(
                [&](auto done) { b.store->AcquireLease("refresh/g1", absl::Seconds(30), done); }),
            "");
  b.store->ReleaseLease("refresh/g1", "someone-else");
  a.store->ReleaseLease("refresh/g1", holder);
  // The release goes over A's connection, the next acquire over B's: B gets it once the
  // release has landed.
  EXPECT_TRUE(Within(absl::Seconds(2), [&] {
    return !Value<std::string>([&](auto done) {
              b.store->AcquireLease("refresh/g1", absl::Seconds(30), done);
            }).empty();
  }));
}

TEST_F(RedisStoreTest, ARevocationReachesTheOtherReplicaWithinTheCacheBound) {
  constexpr absl::Duration kCacheTtl = absl::Milliseconds(300);
  Replica a = MakeReplica(kCacheTtl);
  Replica b = MakeReplica(kCacheTtl);
  ASSERT_TRUE(Done([&](auto done) { a.store->PutGrant(SomeGrant(), done); }).ok());
  ASSERT_TRUE(
      Done([&](auto done) { a.store->PutToken(Token("a1", TokenKind::kAccess), done); }).ok());
  ASSERT_NE(GetToken(*a.store, "a1"), nullptr);
  ASSERT_NE(GetToken(*b.store, "a1"), nullptr);  // now in B's cache
  ASSERT_TRUE(Done([&](auto done) { a.store->RevokeGrant("g1", done); }).ok());
  EXPECT_EQ(GetToken(*a.store, "a1"), nullptr);  // at once where it was revoked
  std::optional<absl::Duration> took =
      Within(absl::Seconds(5), [&] { return GetToken(*b.store, "a1") == nullptr; });
  ASSERT_TRUE(took.has_value()) << "the other replica never saw the revocation";
  EXPECT_LE(*took, kCacheTtl + absl::Milliseconds(700));  // slack: a loaded machine
}

TEST_F(RedisStoreTest, RedisExpiresRecordsCountersAndLeasesByItsOwnClock) {
  Replica a = MakeReplica(absl::ZeroDuration());
  ASSERT_TRUE(Done([&](auto done) {
                a.store->PutToken(Token("short", TokenKind::kAccess, absl::Milliseconds(300)),
                                  done);
              }).ok());
  ASSERT_NE(GetToken(*a.store, "short"), nullptr);
  EXPECT_TRUE(Within(absl::Seconds(3), [&] { return GetToken(*a.store, "short") == nullptr; }));

  EXPECT_EQ(
      Value<int64_t>([&](auto done) { a.store->CountAttempt("k", absl::Milliseconds(300), done); }),
      1);
  EXPECT_EQ(
      Value<int64_t>([&](auto done) { a.store->CountAttempt("k", absl::Milliseconds(300), done); }),
      2);
  EXPECT_TRUE(Within(absl::Seconds(3), [&] {
    return Value<int64_t>([&](auto done) {
             a.store->CountAttempt("k", absl::Milliseconds(300), done);
           }) == 1;  // a new window
  }));

  ASSERT_FALSE(Value<std::string>([&](auto done) {
                 a.store->AcquireLease("l", absl::Milliseconds(300), done);
               }).empty());
  EXPECT_TRUE(Within(absl::Seconds(3), [&] {
    return !Value<std::string>([&](auto done) {
              a.store->AcquireLease("l", absl::Milliseconds(300), done);
            }).empty();  // the holder never released it: it lapsed
  }));
}

TEST_F(RedisStoreTest, RedisDownIsUnavailableAndTheStoreRecoversWhenItReturns) {
  Replica a = MakeReplica();
  ASSERT_TRUE(
      Done([&](auto done) { a.store->PutToken(Token("r1", TokenKind::kRefresh), done); }).ok());
  redis_.Stop();
  absl::Status down = Done([&](auto done) { a.store->PutGrant(SomeGrant(), done); });
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
  EXPECT_EQ(a.backend->Check().code(), absl::StatusCode::kUnavailable);
  // Calls while it is down fail at once instead of piling up.
  const absl::Time asked = absl::Now();
  EXPECT_EQ(Answer<std::shared_ptr<const TokenRecord>>(
                [&](auto done) { a.store->GetToken("r1", std::move(done)); })
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - asked, absl::Milliseconds(500));

  ASSERT_TRUE(redis_.Start());  // an empty Redis on the same port
  EXPECT_TRUE(Within(absl::Seconds(10), [&] {
    return Done([&](auto done) { a.store->PutGrant(SomeGrant(), done); }).ok();
  }));
  EXPECT_TRUE(Value<std::optional<Grant>>([&](auto done) { a.store->GetGrant("g1", done); }));
}

TEST_F(RedisStoreTest, ARedisThatHangsIsUnavailableWithinTheTimeout) {
  constexpr absl::Duration kTimeout = absl::Milliseconds(300);
  Replica a = MakeReplica(absl::ZeroDuration(), kTimeout);
  ASSERT_TRUE(Done([&](auto done) { a.store->PutGrant(SomeGrant(), done); }).ok());
  redis_.Pause();
  const absl::Time asked = absl::Now();
  absl::StatusOr<std::optional<Grant>> hung =
      Answer<std::optional<Grant>>([&](auto done) { a.store->GetGrant("g1", done); });
  const absl::Duration waited = absl::Now() - asked;
  EXPECT_EQ(hung.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_GE(waited, kTimeout - absl::Milliseconds(50));
  EXPECT_LT(waited, kTimeout + absl::Seconds(1));  // slack: a loaded machine
  redis_.Resume();
  EXPECT_TRUE(Within(absl::Seconds(10), [&] {
    absl::StatusOr<std::optional<Grant>> back =
        Answer<std::optional<Grant>>([&](auto done) { a.store->GetGrant("g1", done); });
    return back.ok() && back->has_value();
  }));
}

TEST_F(RedisStoreTest, TheUpstreamSecretsAreSealedInRedis) {
  Replica a = MakeReplica();
  ASSERT_TRUE(Done([&](auto done) { a.store->PutGrant(SomeGrant(), done); }).ok());
  ASSERT_TRUE(Done([&](auto done) {
                a.store->PutMeta("upstream_client", "client-secret-xyz", done);
              }).ok());
  // Read what Redis holds, raw, through a connection of our own.
  RedisEndpoint endpoint;
  endpoint.port = redis_.port();
  RedisConnection raw(dispatcher_, endpoint);
  auto raw_get = [&](const std::string& key) {
    return Value<std::string>([&](Callback<std::string> done) {
      raw.Command({"GET", key}, [done](absl::StatusOr<RedisValue> reply) {
        done(reply.ok() ? absl::StatusOr<std::string>(reply->string) : reply.status());
      });
    });
  };
  const std::string grant = raw_get("mcp-oauth-gateway:grant:g1");
  EXPECT_THAT(grant, ::testing::HasSubstr("alice"));
  EXPECT_THAT(grant, ::testing::Not(::testing::HasSubstr("gho_secret")));
  const std::string meta = raw_get("mcp-oauth-gateway:meta:upstream_client");
  EXPECT_FALSE(meta.empty());
  EXPECT_THAT(meta, ::testing::Not(::testing::HasSubstr("client-secret-xyz")));
}

TEST(RedisUrlTest, ParsesHostPortPasswordAndDatabase) {
  absl::StatusOr<RedisEndpoint> full = ParseRedisUrl("redis://:s3cret@redis.internal:6380/2");
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->host, "redis.internal");
  EXPECT_EQ(full->port, 6380);
  EXPECT_EQ(full->password, "s3cret");
  EXPECT_EQ(full->database, 2);
  absl::StatusOr<RedisEndpoint> bare = ParseRedisUrl("redis://[::1]");
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_EQ(bare->host, "::1");
  EXPECT_EQ(bare->port, 6379);
  EXPECT_FALSE(ParseRedisUrl("http://localhost:6379").ok());
  EXPECT_FALSE(ParseRedisUrl("redis://localhost:99999").ok());
  EXPECT_FALSE(ParseRedisUrl("redis://localhost/x").ok());
  EXPECT_FALSE(ParseRedisUrl("redis://").ok());
}

}  // namespace
}  // namespace gateway::store

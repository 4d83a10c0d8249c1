// The sqlite backend beyond the store contract (store_test.cc): what survives a restart, what the
// file holds, and what start-up says about files it cannot use.

#include "source/common/store/sqlite_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <optional>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/common/store/memory_store.h"
#include "source/common/token/key_ring.h"
#include "source/dispatcher.h"
#include "test/support/child_process.h"
#include "test/support/fake_clock.h"
#include "test/support/files.h"
#include "test/support/store_answer.h"

namespace gateway::store {
namespace {

using ::testing::HasSubstr;

using testing::ReadFile;

void RunSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error != nullptr ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  SqliteStoreTest()
      : dispatcher_("test"),
        keys_(*token::KeyRing::Create({token::KeyRing::GenerateKey("k1")})),
        path_(dir_.path() + "/state.db") {}

  absl::StatusOr<std::unique_ptr<SqliteStoreBackend>> Open(const token::KeyRing& keys) {
    return SqliteStoreBackend::Open({path_, true}, clock_, StoreLimits{}, keys);
  }

  // Opens the file as the gateway does at start (a failure fails the test).
  void Start() { Start(keys_); }
  void Start(const token::KeyRing& keys) {
    absl::StatusOr<std::unique_ptr<SqliteStoreBackend>> opened = Open(keys);
    ASSERT_TRUE(opened.ok()) << opened.status();
    backend_ = std::move(*opened);
    store_ = backend_->ForWorker(dispatcher_);
  }
  // Stops as the gateway does: workers first, then the backend.
  void Stop() {
    store_.reset();
    backend_.reset();
  }

  template <typename T>
  T Value(const std::function<void(Callback<T>)>& call) {
    absl::StatusOr<T> result = testing::StoreAnswer<T>(dispatcher_, call);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? std::move(*result) : T();
  }
  void Done(const std::function<void(DoneCallback)>& call) {
    absl::Status status = testing::StoreDone(dispatcher_, call);
    EXPECT_TRUE(status.ok()) << status;
  }

  Grant SomeGrant() {
    Grant grant;
    grant.grant_id = "g1";
    grant.user = "alice";
    grant.client_id = "c1";
    grant.scope = "mcp";
    grant.resource = "http://localhost:8002/mcp";
    grant.upstream_access_token = "gho_upstream-access-secret";
    grant.upstream_refresh_token = "ghr_upstream-refresh-secret";
    grant.upstream_expires_at = clock_.Now() + absl::Hours(8);
    grant.upstream_scope = "repo";
    grant.created_at = clock_.Now();
    grant.expires_at = clock_.Now() + absl::Hours(24 * 30);
    return grant;
  }

  TokenRecord Token(std::string hash, TokenKind kind, absl::Duration ttl = absl::Hours(1)) {
    TokenRecord token = testing::TestToken(std::move(hash), kind, clock_.Now() + ttl);
    token.resource = "http://localhost:8002/mcp";
    token.scope = "mcp";
    return token;
  }

  testing::FakeClock clock_;
  Dispatcher dispatcher_;
  testing::TempDir dir_;
  token::KeyRing keys_;
  const std::string path_;
  std::unique_ptr<SqliteStoreBackend> backend_;
  std::unique_ptr<Store> store_;
};

TEST_F(SqliteStoreTest, EverythingAcknowledgedSurvivesARestart) {
  Start();
  Client client;
  client.client_id = "c1";
  client.secret_hash = "hash-of-secret";
  client.auth_method = "client_secret_post";
  client.redirect_uris = {"http://127.0.0.1:9/cb", "https://app.example/cb"};
  client.client_name = "Claude";
  client.metadata_json = R"({"client_name":"Claude"})";
  client.created_at = client.last_used_at = clock_.Now();
  Done([&](auto done) { store_->PutClient(client, done); });
  Flow flow;
  flow.flow_id = "f1";
  flow.client_id = "c1";
  flow.upstream_state = "up-state";
  flow.upstream_code_verifier = "verifier";
  flow.expires_at = clock_.Now() + absl::Minutes(10);
  Done([&](auto done) { store_->PutFlow(flow, done); });
  Code code;
  code.code_hash = "code-1";
  code.grant_id = "g1";
  code.expires_at = clock_.Now() + absl::Minutes(1);
  Done([&](auto done) { store_->PutCode(code, done); });
  Done([&](auto done) { store_->PutGrant(SomeGrant(), done); });
  ASSERT_EQ(Value<RedeemOutcome>([&](auto done) {
              store_->RedeemCode("code-1", Token("a1", TokenKind::kAccess),
                                 Token("r0", TokenKind::kRefresh), done);
            }),
            RedeemOutcome::kRedeemed);
  Done([&](auto done) {
    store_->PutToken(Token("r1", TokenKind::kRefresh, absl::Hours(24)), done);
  });
  ASSERT_EQ(Value<RotateOutcome>([&](auto done) {
              store_->RotateRefresh("r1", Token("a2", TokenKind::kAccess),
                                    Token("r2", TokenKind::kRefresh, absl::Hours(24)),
                                    std::string("sealed\0response", 15), done);
            }),
            RotateOutcome::kRotated);
  Done([&](auto done) { store_->PutConsent(Consent{"alice", "c1", "mcp", clock_.Now()}, done); });
  Done([&](auto done) {
    store_->PutMeta("upstream_client", R"({"client_secret":"upstream-client-secret"})", done);
  });
  Stop();

  Start();
  EXPECT_EQ(backend_->loaded().clients, 1u);
  EXPECT_EQ(backend_->loaded().tokens, 5u);
  std::optional<Client> loaded_client;
  store_->GetClient("c1", [&](auto found) { loaded_client = *found; });
  ASSERT_TRUE(loaded_client.has_value());
  EXPECT_EQ(loaded_client->secret_hash, "hash-of-secret");
  EXPECT_EQ(loaded_client->redirect_uris, client.redirect_uris);
  EXPECT_EQ(loaded_client->metadata_json, client.metadata_json);
  EXPECT_EQ(loaded_client->created_at, client.created_at);
  // The flow is still findable by its upstream state, once.
  std::optional<Flow> loaded_flow = Value<std::optional<Flow>>(
      [&](auto done) { store_->TakeFlowByUpstreamState("up-state", done); });
  ASSERT_TRUE(loaded_flow.has_value());
  EXPECT_EQ(loaded_flow->upstream_code_verifier, "verifier");
  // A code redeemed before the restart is a replay after it.
  CodeTake again = Value<CodeTake>([&](auto done) { store_->GetCode("code-1", done); });
  EXPECT_TRUE(again.reused);
  EXPECT_EQ(again.grant_id, "g1");
  std::optional<Grant> grant;
  store_->GetGrant("g1", [&](auto found) { grant = *found; });
  ASSERT_TRUE(grant.has_value());
  EXPECT_EQ(grant->upstream_access_token, "gho_upstream-access-secret");
  EXPECT_EQ(grant->upstream_refresh_token, "ghr_upstream-refresh-secret");
  EXPECT_EQ(grant->upstream_expires_at, SomeGrant().upstream_expires_at);
  EXPECT_EQ(grant->expires_at, SomeGrant().expires_at);
  std::shared_ptr<const TokenRecord> rotated;
  store_->GetToken("r1", [&](auto found) { rotated = *found; });
  ASSERT_NE(rotated, nullptr);
  EXPECT_EQ(rotated->successor_hash, "r2");
  EXPECT_EQ(rotated->successor_response, std::string("sealed\0response", 15));
  EXPECT_TRUE(rotated->rotated_at.has_value());
  // The rotated refresh token is still rotated: using it again is a replay.
  EXPECT_EQ(Value<RotateOutcome>([&](auto done) {
              store_->RotateRefresh("r1", Token("a3", TokenKind::kAccess),
                                    Token("r3", TokenKind::kRefresh), "", done);
            }),
            RotateOutcome::kReplayed);
  std::shared_ptr<const TokenRecord> access;
  store_->GetToken("a2", [&](auto found) { access = *found; });
  ASSERT_NE(access, nullptr);
  EXPECT_EQ(access->resource, "http://localhost:8002/mcp");
  std::optional<Consent> consent;
  store_->GetConsent("alice", "c1", [&](auto found) { consent = *found; });
  ASSERT_TRUE(consent.has_value());
  EXPECT_EQ(consent->scope, "mcp");
  std::optional<std::string> meta;
  store_->GetMeta("upstream_client", [&](auto found) { meta = *found; });
  EXPECT_EQ(meta, R"({"client_secret":"upstream-client-secret"})");

  // Revocation is durable too.
  Done([&](auto done) { store_->RevokeGrant("g1", done); });
  Stop();
  Start();
  access = nullptr;
  store_->GetToken("a2", [&](auto found) { access = *found; });
  EXPECT_EQ(access, nullptr);
  EXPECT_EQ(backend_->loaded().grants, 0u);
}

TEST_F(SqliteStoreTest, TheFileIsPrivateAndHoldsNoUpstreamSecretInTheClear) {
  Start();
  Done([&](auto done) { store_->PutGrant(SomeGrant(), done); });
  Done([&](auto done) {
    store_->PutMeta("upstream_client", R"({"client_secret":"upstream-client-secret"})", done);
  });
  struct stat info;
  ASSERT_EQ(::stat(path_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);
  ASSERT_EQ(::stat((path_ + "-wal").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);
  const std::string bytes = ReadFile(path_) + ReadFile(path_ + "-wal");
  EXPECT_THAT(bytes, HasSubstr("alice"));  // the records are there...
  EXPECT_THAT(bytes, ::testing::Not(HasSubstr("upstream-access-secret")));  // ...sealed
  EXPECT_THAT(bytes, ::testing::Not(HasSubstr("upstream-refresh-secret")));
  EXPECT_THAT(bytes, ::testing::Not(HasSubstr("upstream-client-secret")));
}

TEST_F(SqliteStoreTest, ExpiredRecordsAreDroppedAtStartUp) {
  Start();
  Done([&](auto done) {
    store_->PutToken(Token("short", TokenKind::kAccess, absl::Minutes(5)), done);
  });
  Done([&](auto done) {
    store_->PutToken(Token("long", TokenKind::kRefresh, absl::Hours(5)), done);
  });
  Stop();
  clock_.Advance(absl::Minutes(10));
  Start();
  EXPECT_EQ(backend_->loaded().expired, 1u);
  EXPECT_EQ(backend_->loaded().tokens, 1u);
}

TEST_F(SqliteStoreTest, GrantsSealedWithAnotherKeyAreDroppedNotMisread) {
  Start();
  Done([&](auto done) { store_->PutGrant(SomeGrant(), done); });
  Done([&](auto done) { store_->PutToken(Token("a1", TokenKind::kAccess), done); });
  Stop();
  token::KeyRing other = *token::KeyRing::Create({token::KeyRing::GenerateKey("k2")});
  Start(other);
  EXPECT_EQ(backend_->loaded().unsealable, 1u);
  EXPECT_EQ(backend_->loaded().grants, 0u);
  std::optional<Grant> grant = Grant();
  store_->GetGrant("g1", [&](auto found) { grant = *found; });
  EXPECT_FALSE(grant.has_value());
  // A ring that still holds the old key (rotation) reads everything.
  Stop();
  RunSql(path_, "SELECT 1");  // the file is free again once the gateway stops
  Start();
  EXPECT_EQ(backend_->loaded().grants, 0u);  // it was dropped for good
}

TEST_F(SqliteStoreTest, AFileNotADatabaseIsRefusedWithAClearMessage) {
  testing::TempDir dir;
  std::string path = dir.Write("state.db", std::string(3000, 'x'));
  ::chmod(path.c_str(), 0600);
  absl::StatusOr<std::unique_ptr<SqliteStoreBackend>> opened =
      SqliteStoreBackend::Open({path, true}, clock_, StoreLimits{}, keys_);
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr("is not a SQLite database"));
  EXPECT_EQ(ReadFile(path), std::string(3000, 'x'));  // untouched
}

TEST_F(SqliteStoreTest, ADamagedFileIsRefusedWithAClearMessage) {
  Start();
  for (int i = 0; i < 300; ++i) {
    Done([&](auto done) {
      store_->PutToken(Token(absl::StrCat("token-", i), TokenKind::kAccess), done);
    });
  }
  Stop();
  // Overwrite the middle of the file: B-tree pages of the records.
  const std::string bytes = ReadFile(path_);
  ASSERT_GT(bytes.size(), 4u * 4096);
  {
    std::fstream file(path_, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(2 * 4096);
    const std::string garbage(2 * 4096, '\x5a');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  absl::StatusOr<std::unique_ptr<SqliteStoreBackend>> opened = Open(keys_);
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr("is damaged"));
  EXPECT_THAT(opened.status().message(), HasSubstr("move it aside"));
}

TEST_F(SqliteStoreTest, ADamagedRecordIsRefusedWithAClearMessage) {
  Start();
  Done([&](auto done) { store_->PutToken(Token("a1", TokenKind::kAccess), done); });
  Stop();
  RunSql(path_, "UPDATE records SET value = '{\"token_hash\":\"a1\"}' WHERE kind = 'tokens'");
  absl::StatusOr<std::unique_ptr<SqliteStoreBackend>> opened = Open(keys_);
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr("a stored token is damaged: kind is missing"));
}

TEST_F(SqliteStoreTest, AnotherProgramsDatabaseIsRefused) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/other.db";
  RunSql(path, "CREATE TABLE notes (text TEXT)");
  ::chmod(path.c_str(), 0600);
  absl::StatusOr<std::unique_ptr<SqliteStoreBackend>> opened =
      SqliteStoreBackend::Open({path, true}, clock_, StoreLimits{}, keys_);
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr("of another program"));
}

TEST_F(SqliteStoreTest, AFileOpenToOthersOrInAMissingFolderIsRefused) {
  testing::TempDir dir;
  const std::string path = dir.Write("state.db", "");
  ::chmod(path.c_str(), 0644);
  absl::StatusOr<std::unique_ptr<SqliteStoreBackend>> opened =
      SqliteStoreBackend::Open({path, true}, clock_, StoreLimits{}, keys_);
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr("chmod 600"));
  opened = SqliteStoreBackend::Open({dir.path() + "/missing/state.db", true}, clock_, StoreLimits{},
                                    keys_);
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr("its folder does not exist"));
}

TEST_F(SqliteStoreTest, OneFileServesOneGateway) {
  Start();
  absl::StatusOr<std::unique_ptr<SqliteStoreBackend>> second = Open(keys_);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), HasSubstr("in use by another process"));
}

constexpr int kThreads = 4;
constexpr int kPerThread = 250;

TEST_F(SqliteStoreTest, ChangesFromManyThreadsAreAllWritten) {
  Start();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      Dispatcher dispatcher(absl::StrCat("w", t));
      std::unique_ptr<Store> store = backend_->ForWorker(dispatcher);
      int acknowledged = 0;
      for (int i = 0; i < kPerThread; ++i) {
        store->PutToken(Token(absl::StrCat("t", t, "-", i), TokenKind::kAccess),
                        [&](absl::Status status) {
                          EXPECT_TRUE(status.ok()) << status;
                          if (++acknowledged == kPerThread) {
                            dispatcher.Exit();
                          }
                        });
      }
      std::unique_ptr<Timer> give_up = dispatcher.CreateTimer([&] { dispatcher.Exit(); });
      give_up->Enable(absl::Seconds(20));
      if (acknowledged < kPerThread) {
        dispatcher.Run();
      }
      EXPECT_EQ(acknowledged, kPerThread);
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  Stop();
  Start();
  EXPECT_EQ(backend_->loaded().tokens, static_cast<size_t>(kThreads * kPerThread));
}

}  // namespace
}  // namespace gateway::store

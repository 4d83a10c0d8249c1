// State that survives: the gateway binary with the sqlite store, restarted cleanly and killed
// with SIGKILL under load, in front of the SDK-built demo upstream. Clients keep their
// registrations and tokens across both; nothing a client was told is lost.

#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/common/json.h"
#include "source/common/oauth/form.h"
#include "test/e2e/gateway_fixture.h"
#include "test/support/raw_http.h"

namespace gateway::e2e {
namespace {

using ::testing::HasSubstr;
using testing::HttpRequest;
using testing::Pkce;
using testing::RawResponse;

class PersistenceE2eTest : public GatewayFixture {
 protected:
  std::string SqliteYaml() const {
    return absl::StrCat("store: {type: sqlite, path: ", dir_.path(), "/state.db}\n");
  }

  // Whether the gateway still knows `client_id`: /authorize goes on to the login screen for a
  // known client and refuses an unknown one.
  bool Knows(const std::string& client_id) {
    Client client{client_id, ""};
    RawResponse authorize =
        Get("/authorize?" + AuthorizeQuery(client, testing::MakePkce(), "check"));
    return authorize.status == 302 && absl::StartsWith(authorize.Header("location"), "/login?");
  }

  int ToolsList(const std::string& access_token) {
    return Mcp(access_token, R"({"jsonrpc":"2.0","id":7,"method":"tools/list"})",
               Initialize(access_token))
        .status;
  }
};

TEST_F(PersistenceE2eTest, ARestartLosesNoClientGrantOrToken) {
  StartDemoUpstream();
  StartGateway(SqliteYaml());
  Client client;
  Tokens tokens = Login(&client);
  const std::string session = Initialize(tokens.access);
  Client idle = Register();  // registered, never used yet

  RestartGateway(SqliteYaml());
  EXPECT_THAT(gateway_->Output(), HasSubstr("2 clients, 1 grants, 2 tokens"));
  // The same access token, even on the session opened before the restart.
  EXPECT_EQ(Mcp(tokens.access, R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})", session).status,
            200);
  // The same refresh token, and the client registrations.
  Tokens refreshed = ParseTokens(TokenRequest({{"grant_type", "refresh_token"},
                                               {"refresh_token", tokens.refresh},
                                               {"client_id", client.id}}));
  EXPECT_EQ(ToolsList(refreshed.access), 200);
  EXPECT_TRUE(Knows(idle.id));
  // A second authorization of the same client, without registering again; the consent given
  // before the restart is remembered too.
  Pkce pkce = testing::MakePkce();
  Tokens again = Redeem(client, testing::QueryOf(Authorize(client, pkce, "after"))["code"], pkce);
  EXPECT_EQ(ToolsList(again.access), 200);

  // The file and its key are the gateway's alone.
  struct stat info;
  ASSERT_EQ(::stat((dir_.path() + "/state.db").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);
  ASSERT_EQ(::stat((dir_.path() + "/state.db.key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);

  // A revocation survives a restart as well.
  EXPECT_EQ(PostForm("/revoke", {{"token", refreshed.refresh}, {"client_id", client.id}}).status,
            200);
  RestartGateway(SqliteYaml());
  EXPECT_EQ(Mcp(refreshed.access, R"({"jsonrpc":"2.0","id":3,"method":"tools/list"})").status, 401);
  EXPECT_EQ(ToolsList(again.access), 200);  // another grant of the same client is untouched
}

TEST_F(PersistenceE2eTest, SigkillUnderLoadLosesNoAcknowledgedWrite) {
  StartDemoUpstream();
  // All from one address, far past the per-address registration limit: turned off here.
  StartGateway(SqliteYaml() + "registration: {max_per_address: 0}\n");
  // Ten clients that refresh over and over, and ninety that register over and over: a hundred
  // clients writing when the gateway is killed.
  constexpr int kRefreshers = 10;
  constexpr int kRegistrars = 90;
  struct Family {
    Client client;
    Tokens latest;  // the last pair the gateway acknowledged
    int refreshes = 0;
  };
  std::vector<Family> families(kRefreshers);
  for (Family& family : families) {
    family.latest = Login(&family.client);
  }
  std::mutex mutex;
  std::vector<std::string> registered;  // acknowledged with 201
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kRefreshers; ++i) {
    threads.emplace_back([&, i] {
      Family& family = families[i];
      while (!stop) {
        absl::StatusOr<RawResponse> response = testing::Send(
            port_, HttpRequest{"POST",
                               "/token",
                               {{"Content-Type", "application/x-www-form-urlencoded"}},
                               oauth::EncodeForm({{"grant_type", "refresh_token"},
                                                  {"refresh_token", family.latest.refresh},
                                                  {"client_id", family.client.id}})});
        if (!response.ok() || response->status != 200) {
          return;  // the gateway is gone
        }
        absl::StatusOr<rapidjson::Document> json = json::Parse(response->body);
        ASSERT_TRUE(json.ok());
        family.latest.access = (*json)["access_token"].GetString();
        family.latest.refresh = (*json)["refresh_token"].GetString();
        ++family.refreshes;
      }
    });
  }
  for (int i = 0; i < kRegistrars; ++i) {
    threads.emplace_back([&] {
      while (!stop) {
        absl::StatusOr<RawResponse> response = testing::Send(
            port_, HttpRequest{"POST",
                               "/register",
                               {{"Content-Type", "application/json"}},
                               absl::StrCat(R"({"redirect_uris":[")", kRedirect,
                                            R"("],"token_endpoint_auth_method":"none"})")});
        if (!response.ok() || response->status != 201) {
          return;
        }
        absl::StatusOr<rapidjson::Document> json = json::Parse(response->body);
        ASSERT_TRUE(json.ok());
        std::lock_guard<std::mutex> lock(mutex);
        registered.push_back((*json)["client_id"].GetString());
      }
    });
  }
  // Kill while the writes are in full flow.
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (registered.size() >= 500) {
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  gateway_->Signal(SIGKILL);
  EXPECT_EQ(gateway_->Wait(absl::Seconds(10)), 128 + SIGKILL);
  stop = true;
  for (std::thread& thread : threads) {
    thread.join();
  }
  int refreshes = 0;
  for (const Family& family : families) {
    refreshes += family.refreshes;
  }
  std::printf("acknowledged before SIGKILL: %zu registrations, %d refreshes\n", registered.size(),
              refreshes);
  EXPECT_GT(refreshes, 0);

  StartGateway(SqliteYaml());
  for (const std::string& client_id : registered) {
    EXPECT_TRUE(Knows(client_id)) << "acknowledged registration lost: " << client_id;
  }
  for (Family& family : families) {
    // The last acknowledged pair works. (If a refresh was committed but its response never
    // left, this refresh token was rotated already: within the grace period it gets that
    // refresh's tokens, so the family goes on either way.)
    EXPECT_EQ(ToolsList(family.latest.access), 200);
    Tokens next = ParseTokens(TokenRequest({{"grant_type", "refresh_token"},
                                            {"refresh_token", family.latest.refresh},
                                            {"client_id", family.client.id}}));
    EXPECT_EQ(ToolsList(next.access), 200);
  }
}

TEST_F(PersistenceE2eTest, StartUpStopsWithAClearMessageForAFileItCannotUse) {
  StartDemoUpstream();
  const std::string path = dir_.Write("state.db", "this is not a database, it is a note\n");
  ::chmod(path.c_str(), 0600);
  testing::ChildProcess gateway(
      GATEWAY_BINARY,
      {absl::StrCat(
          "--config=",
          dir_.Write("bad.yaml", absl::StrCat("upstream:\n", upstream_section_, SqliteYaml())))},
      dir_.path());
  EXPECT_EQ(gateway.Wait(absl::Seconds(10)), 1);
  EXPECT_THAT(gateway.Output(),
              HasSubstr(absl::StrCat("store.path ", path, " is not a SQLite database")));
}

}  // namespace
}  // namespace gateway::e2e

// Two gateway processes behind one public URL, sharing a real redis-server, in front of the
// SDK-built demo upstream: what one replica issues works at the other, races across replicas
// have one winner, and Redis stopping gives clear 503s and no crash.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/common/json.h"
#include "source/common/oauth/form.h"
#include "test/e2e/gateway_fixture.h"
#include "test/support/raw_http.h"
#include "test/support/redis_server.h"

namespace gateway::e2e {
namespace {

using testing::ChildProcess;
using ::testing::HasSubstr;
using testing::HttpRequest;
using testing::Pkce;
using testing::RawResponse;

constexpr absl::Duration kTokenCacheTtl = absl::Seconds(1);

class ReplicasE2eTest : public GatewayFixture {
 protected:
  void SetUp() override { ASSERT_TRUE(redis_.Start()); }

  void TearDown() override {
    if (replica_b_ != nullptr) {
      EXPECT_EQ(replica_b_->Stop(), 0) << replica_b_->Output();
    }
    GatewayFixture::TearDown();
  }

  std::string StoreYaml() const {
    return absl::StrCat("store: {type: redis, url: '", redis_.url(),
                        "', token_cache_ttl: ", absl::FormatDuration(kTokenCacheTtl),
                        ", timeout: 500ms}\n", "tokens: {key_file: ", dir_.path(), "/shared.key}\n",
                        // The load tests register hundreds of clients from one address.
                        "registration: {max_per_address: 0}\n");
  }

  // Replica A through the fixture; replica B beside it with A's public URL, as behind a load
  // balancer (the same issuer, the same resource).
  void StartReplicas() {
    StartGateway(StoreYaml());
    port_a_ = port_;
    const std::string yaml =
        absl::StrCat("listener: {port: 0, workers: 2, public_url: 'http://localhost:", port_a_,
                     "'}\n", "upstream:\n", upstream_section_,
                     "users: [{name: alice, password: wonderland}]\n", login_yaml_, StoreYaml());
    replica_b_ = std::make_unique<ChildProcess>(
        GATEWAY_BINARY,
        std::vector<std::string>{absl::StrCat("--config=", dir_.Write("replica-b.yaml", yaml))},
        dir_.path());
    port_b_ = replica_b_->WaitForPort();
  }

  // Runs `requests` against the replica on `port` (on this thread; others keep theirs).
  void At(uint16_t port, const std::function<void()>& requests) {
    port_override_ = port;
    requests();
    port_override_ = 0;
  }
  void AtB(const std::function<void()>& requests) { At(port_b_, requests); }

  RawResponse Send(uint16_t port, const std::string& target, const std::string& body,
                   const std::string& content_type = "application/x-www-form-urlencoded") {
    absl::StatusOr<RawResponse> response =
        testing::Send(port, HttpRequest{"POST", target, {{"Content-Type", content_type}}, body});
    return response.ok() ? *response : RawResponse();
  }

  testing::RedisServer redis_;
  std::unique_ptr<ChildProcess> replica_b_;
  uint16_t port_a_ = 0;
  uint16_t port_b_ = 0;
};

TEST_F(ReplicasE2eTest, WhatOneReplicaIssuesWorksAtTheOtherAndARevocationReachesIt) {
  StartDemoUpstream();
  StartReplicas();
  Client client;
  Tokens tokens = Login(&client);  // registered, authorized and redeemed at A
  AtB([&] {
    Initialize(tokens.access);
    // B refreshes what A issued...
    Tokens refreshed = ParseTokens(TokenRequest({{"grant_type", "refresh_token"},
                                                 {"refresh_token", tokens.refresh},
                                                 {"client_id", client.id}}));
    tokens = refreshed;
  });
  // ...and A honours what B issued, on a session either replica forwards.
  const std::string session = Initialize(tokens.access);
  AtB([&] {
    ASSERT_EQ(
        Mcp(tokens.access, R"({"jsonrpc":"2.0","id":5,"method":"tools/list"})", session).status,
        200);
  });
  // Revoked at A; B refuses the token within its cache bound.
  ASSERT_EQ(PostForm("/revoke", {{"token", tokens.refresh}, {"client_id", client.id}}).status, 200);
  EXPECT_EQ(Mcp(tokens.access, R"({"jsonrpc":"2.0","id":6,"method":"tools/list"})", session).status,
            401);
  const absl::Time revoked = absl::Now();
  int status = 0;
  AtB([&] {
    while (absl::Now() - revoked < absl::Seconds(10)) {
      status =
          Mcp(tokens.access, R"({"jsonrpc":"2.0","id":7,"method":"tools/list"})", session).status;
      if (status == 401) {
        break;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  });
  EXPECT_EQ(status, 401);
  EXPECT_LE(absl::Now() - revoked, kTokenCacheTtl + absl::Seconds(1));  // slack: a loaded machine
}

TEST_F(ReplicasE2eTest, RacesAcrossReplicasHaveOneWinner) {
  StartDemoUpstream(/*token_ttl_seconds=*/60);  // every gateway refresh refreshes upstream too
  StartReplicas();
  // One code, redeemed 50 times at once, half at each replica: one token pair.
  Client client = Register();
  Pkce pkce = testing::MakePkce();
  const std::string code = testing::QueryOf(Authorize(client, pkce, "s"))["code"];
  const std::string redeem = oauth::EncodeForm({{"grant_type", "authorization_code"},
                                                {"code", code},
                                                {"redirect_uri", kRedirect},
                                                {"code_verifier", pkce.verifier},
                                                {"client_id", client.id}});
  std::vector<RawResponse> redemptions(50);
  std::vector<std::thread> threads;
  for (int i = 0; i < 50; ++i) {
    threads.emplace_back(
        [&, i] { redemptions[i] = Send(i % 2 == 0 ? port_a_ : port_b_, "/token", redeem); });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  threads.clear();
  int successes = 0;
  RawResponse winner;
  for (const RawResponse& response : redemptions) {
    if (response.status == 200) {
      ++successes;
      winner = response;
    } else {
      EXPECT_EQ(response.status, 400) << response.body;
      EXPECT_THAT(response.body, HasSubstr("invalid_grant"));
    }
  }
  ASSERT_EQ(successes, 1);
  ParseTokens(winner);
  // (The 49 replays revoked that grant, as RFC 6749 section 4.1.2 asks.)

  // One refresh token, refreshed 50 times at once across both: one upstream refresh, one new
  // pair that every caller gets.
  Tokens first = Login(&client);
  const size_t upstream_before = UpstreamRefreshTokensIssued();
  const std::string refresh = oauth::EncodeForm({{"grant_type", "refresh_token"},
                                                 {"refresh_token", first.refresh},
                                                 {"client_id", client.id}});
  std::vector<RawResponse> refreshes(50);
  for (int i = 0; i < 50; ++i) {
    threads.emplace_back(
        [&, i] { refreshes[i] = Send(i % 2 == 0 ? port_a_ : port_b_, "/token", refresh); });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  for (const RawResponse& response : refreshes) {
    EXPECT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.body, refreshes[0].body);
  }
  EXPECT_EQ(UpstreamRefreshTokensIssued(), upstream_before + 1);
  Tokens second = ParseTokens(refreshes[0]);
  Initialize(second.access);
  AtB([&] { Initialize(second.access); });
}

// The demo upstream takes dynamic registrations, slowly here: replicas and workers sending users
// upstream at once (the consent forms are posted together) register the gateway there once
// between them, and every flow uses that one client.
TEST_F(ReplicasE2eTest, ReplicasRegisterAtTheUpstreamOnceBetweenThem) {
  StartDemoUpstream(3600, {"--registration-delay", "300"});
  login_yaml_ = "login: {max_failures: 20}\n";  // alice signs in six times at once
  StartReplicas();
  constexpr int kUsers = 6;
  // Every flow waits at its consent screen for the others (for a while: one failing early
  // must not hang the rest).
  absl::Mutex mutex;
  int at_consent = 0;
  auto line_up = [&] {
    absl::MutexLock lock(&mutex);
    ++at_consent;
    mutex.AwaitWithTimeout(absl::Condition(
                               +[](int* count) { return *count >= kUsers; }, &at_consent),
                           absl::Seconds(20));
  };
  std::vector<std::string> upstream_locations(kUsers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kUsers; ++i) {
    threads.emplace_back([&, i] {
      At(i % 2 == 0 ? port_a_ : port_b_,
         [&] { upstream_locations[i] = SignIn(Register(), testing::MakePkce(), "s", line_up); });
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  absl::StatusOr<rapidjson::Document> state = json::Parse(UpstreamState());
  ASSERT_TRUE(state.ok());
  ASSERT_EQ((*state)["registered_clients"].Size(), 1u) << UpstreamState();
  const std::string client_id = (*state)["registered_clients"][0].GetString();
  for (const std::string& location : upstream_locations) {
    EXPECT_EQ(testing::QueryOf(location)["client_id"], client_id) << location;
  }
}

TEST_F(ReplicasE2eTest, RedisDownGives503AndNoCrashAndServiceComesBackWithIt) {
  StartDemoUpstream();
  StartReplicas();
  const std::string registration = absl::StrCat(R"({"redirect_uris":[")", kRedirect,
                                                R"("],"token_endpoint_auth_method":"none"})");
  // Load on both replicas while Redis goes away and comes back.
  std::atomic<bool> stop{false};
  std::atomic<int> created{0};
  std::atomic<int> unavailable{0};
  std::atomic<int> other{0};
  std::vector<std::thread> load;
  for (int i = 0; i < 8; ++i) {
    load.emplace_back([&, i] {
      while (!stop) {
        RawResponse response =
            Send(i % 2 == 0 ? port_a_ : port_b_, "/register", registration, "application/json");
        if (response.status == 201) {
          ++created;
        } else if (response.status == 503 &&
                   absl::StrContains(response.body, "temporarily_unavailable")) {
          ++unavailable;
        } else {
          ++other;
        }
      }
    });
  }
  auto wait_for = [](const std::function<bool()>& check) {
    const absl::Time start = absl::Now();
    while (!check() && absl::Now() - start < absl::Seconds(15)) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    return check();
  };
  EXPECT_TRUE(wait_for([&] { return created > 20; }));
  redis_.Stop();
  EXPECT_TRUE(wait_for([&] { return unavailable > 20; }));
  // What a client sees while it is down: the OAuth error, with the code RFC 6749 names.
  RawResponse down = Send(port_b_, "/register", registration, "application/json");
  EXPECT_EQ(down.status, 503);
  EXPECT_THAT(down.body, HasSubstr(R"("error":"temporarily_unavailable")"));
  ASSERT_TRUE(redis_.Start());
  const int created_before = created;
  EXPECT_TRUE(wait_for([&] { return created > created_before + 20; }))
      << "the gateways did not recover when Redis came back";
  stop = true;
  for (std::thread& thread : load) {
    thread.join();
  }
  EXPECT_EQ(other.load(), 0);
  std::printf("registrations: %d created, %d answered 503 while Redis was down\n", created.load(),
              unavailable.load());
  // Both processes are still the same ones, and they stop cleanly (TearDown checks exit 0).
  EXPECT_EQ(gateway_->Wait(absl::ZeroDuration()), -1);
  EXPECT_EQ(replica_b_->Wait(absl::ZeroDuration()), -1);
}

}  // namespace
}  // namespace gateway::e2e

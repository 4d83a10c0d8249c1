// The OAuth endpoint filters one at a time: fake callbacks, the memory store seeded by the test,
// a fake clock. (The whole chain against real upstreams is in test/e2e/oauth_e2e_test.cc.)

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/common/crypto.h"
#include "source/common/json.h"
#include "source/common/oauth/form.h"
#include "source/filters/authorize.h"
#include "source/filters/dcr.h"
#include "source/filters/metadata.h"
#include "source/filters/token_exchange.h"
#include "test/support/browser.h"
#include "test/support/fake_filter_callbacks.h"

namespace gateway::filters {
namespace {

using ::testing::HasSubstr;

class OAuthFilterTest : public ::testing::Test {
 protected:
  // Runs `factory`'s filter on a request; feeds `body` when the filter asks for it.
  void Run(const FilterFactory& factory, const std::string& method, const std::string& target,
           const std::string& body = "",
           std::vector<std::pair<std::string, std::string>> headers = {}) {
    testing::FakeFilterCallbacks& callbacks = harness_->callbacks;
    callbacks.replied = false;
    callbacks.continued = 0;
    callbacks.context() = RequestContext();
    callbacks.context().request.method = method;
    callbacks.context().request.target = target;
    http::SplitTarget(callbacks.context().request);
    for (const auto& [name, value] : headers) {
      callbacks.context().request.headers.Add(name, value);
    }
    callbacks.context().body = body;
    absl::StatusOr<std::unique_ptr<Filter>> filter = harness_->Make(factory);
    ASSERT_TRUE(filter.ok()) << filter.status();
    filter_ = std::move(*filter);
    status_ = filter_->OnRequestHeaders();
    if (status_ == FilterStatus::kStopAndBufferBody) {
      status_ = filter_->OnRequestBody();
    }
  }

  const http::LocalReply& reply() { return harness_->callbacks.reply; }

  // Runs the worker's loop (timers, posted work) for `duration`.
  void RunLoopFor(absl::Duration duration) {
    std::unique_ptr<Timer> stop =
        harness_->dispatcher.CreateTimer([this] { harness_->dispatcher.Exit(); });
    stop->Enable(duration);
    harness_->dispatcher.Run();
  }

  std::string ErrorCode() {
    absl::StatusOr<rapidjson::Document> json = json::Parse(reply().body);
    if (!json.ok() || !json->HasMember("error")) {
      return "";
    }
    return (*json)["error"].GetString();
  }

  // A registered public client, a grant for it, and a code for that grant.
  struct Seeded {
    std::string client_id = "client-1";
    std::string code = crypto::RandomToken();
    testing::Pkce pkce;
    std::string grant_id = "grant-1";
  };
  Seeded Seed() {
    Seeded seeded;
    seeded.pkce.verifier = crypto::RandomToken();
    seeded.pkce.challenge = crypto::PkceS256Challenge(seeded.pkce.verifier);
    const absl::Time now = harness_->services.clock.Now();
    store::Client client;
    client.client_id = seeded.client_id;
    client.auth_method = "none";
    client.redirect_uris = {"http://127.0.0.1:9/cb"};
    client.last_used_at = now;
    harness_->store->PutClient(client, [](absl::Status) {});
    store::Grant grant;
    grant.grant_id = seeded.grant_id;
    grant.user = "alice";
    grant.client_id = seeded.client_id;
    grant.resource = harness_->services.config.ResourceUrl();
    grant.upstream_access_token = "upstream-at";
    grant.expires_at = now + absl::Hours(24);
    harness_->store->PutGrant(grant, [](absl::Status) {});
    store::Code code;
    code.code_hash = crypto::SecretHash(seeded.code);
    code.client_id = seeded.client_id;
    code.redirect_uri = "http://127.0.0.1:9/cb";
    code.code_challenge = seeded.pkce.challenge;
    code.resource = grant.resource;
    code.user = "alice";
    code.grant_id = seeded.grant_id;
    code.expires_at = now + absl::Seconds(60);
    harness_->store->PutCode(code, [](absl::Status) {});
    return seeded;
  }

  std::string RedeemBody(const Seeded& seeded, const std::string& verifier) {
    return oauth::EncodeForm({{"grant_type", "authorization_code"},
                              {"code", seeded.code},
                              {"redirect_uri", "http://127.0.0.1:9/cb"},
                              {"code_verifier", verifier},
                              {"client_id", seeded.client_id}});
  }

  bool GrantExists(const std::string& grant_id) {
    bool exists = false;
    harness_->store->GetGrant(grant_id, [&](absl::StatusOr<std::optional<store::Grant>> grant) {
      exists = grant.ok() && grant->has_value();
    });
    return exists;
  }

  // A fresh harness (store, clock, services) built from `config`.
  void Reset(Config config) {
    filter_.reset();
    harness_ = std::make_unique<testing::FilterHarness>(std::move(config));
  }

  std::unique_ptr<testing::FilterHarness> harness_ = std::make_unique<testing::FilterHarness>();
  std::unique_ptr<Filter> filter_;
  FilterStatus status_ = FilterStatus::kContinue;
};

TEST_F(OAuthFilterTest, MetadataDescribesTheGatewayFromItsPublicUrl) {
  Run(MetadataFactory(), "GET", "/.well-known/oauth-protected-resource/mcp");
  ASSERT_TRUE(harness_->callbacks.replied);
  absl::StatusOr<rapidjson::Document> resource = json::Parse(reply().body);
  ASSERT_TRUE(resource.ok());
  EXPECT_STREQ((*resource)["resource"].GetString(), "http://127.0.0.1:8002/mcp");
  EXPECT_STREQ((*resource)["authorization_servers"][0].GetString(), "http://127.0.0.1:8002");
  Run(MetadataFactory(), "GET", "/.well-known/openid-configuration");
  absl::StatusOr<rapidjson::Document> server = json::Parse(reply().body);
  ASSERT_TRUE(server.ok());
  EXPECT_STREQ((*server)["issuer"].GetString(), "http://127.0.0.1:8002");
  EXPECT_STREQ((*server)["token_endpoint"].GetString(), "http://127.0.0.1:8002/token");
  EXPECT_STREQ((*server)["code_challenge_methods_supported"][0].GetString(), "S256");
  EXPECT_TRUE((*server)["authorization_response_iss_parameter_supported"].GetBool());
  Run(MetadataFactory(), "OPTIONS", "/.well-known/oauth-authorization-server");
  EXPECT_EQ(reply().status, 204);
  Run(MetadataFactory(), "POST", "/.well-known/oauth-authorization-server");
  EXPECT_EQ(reply().status, 405);
  Run(MetadataFactory(), "GET", "/.well-known/something-else");
  EXPECT_EQ(status_, FilterStatus::kContinue);
  EXPECT_FALSE(harness_->callbacks.replied);
}

TEST_F(OAuthFilterTest, RegistrationEchoesMetadataAndStoresOnlyTheSecretHash) {
  Run(DcrFactory(), "POST", "/register",
      R"({"redirect_uris":["https://claude.ai/api/mcp/auth_callback"],)"
      R"("token_endpoint_auth_method":"client_secret_post","client_name":"Claude",)"
      R"("grant_types":["authorization_code","refresh_token"],"unknown_field":1})");
  ASSERT_EQ(reply().status, 201) << reply().body;
  absl::StatusOr<rapidjson::Document> body = json::Parse(reply().body);
  ASSERT_TRUE(body.ok());
  EXPECT_STREQ((*body)["redirect_uris"][0].GetString(), "https://claude.ai/api/mcp/auth_callback");
  EXPECT_STREQ((*body)["client_name"].GetString(), "Claude");
  EXPECT_STREQ((*body)["response_types"][0].GetString(), "code");
  EXPECT_FALSE(body->HasMember("unknown_field"));
  const std::string id = (*body)["client_id"].GetString();
  const std::string secret = (*body)["client_secret"].GetString();
  std::optional<store::Client> stored;
  harness_->store->GetClient(
      id, [&](absl::StatusOr<std::optional<store::Client>> client) { stored = **client; });
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->secret_hash, crypto::SecretHash(secret));
  EXPECT_THAT(stored->metadata_json, ::testing::Not(HasSubstr(secret)));
}

TEST_F(OAuthFilterTest, RegistrationRefusesBadMetadataWithItsRfc7591Code) {
  for (
      const auto& [body, code] : std::vector<std::pair<std::string, std::string>>{
          {"not json", "invalid_client_metadata"},
          {"[]", "invalid_client_metadata"},
          {"{}", "invalid_redirect_uri"},
          {R"json({"redirect_uris":["javascript:alert(1)"]})json", "invalid_redirect_uri"},
          {R"({"redirect_uris":["http://evil.example/cb"]})", "invalid_redirect_uri"},
          {R"({"redirect_uris":["https://a.example/cb#x"]})", "invalid_redirect_uri"},
          {R"({"redirect_uris":"https://a.example/cb"})", "invalid_redirect_uri"},
          {R"({"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt"})",
           "invalid_client_metadata"},
          {R"({"redirect_uris":["https://a.example/cb"],"grant_types":["implicit"]})",
           "invalid_client_metadata"},
          {R"({"redirect_uris":["https://a.example/cb"],"response_types":["token"]})",
           "invalid_client_metadata"},
          {R"({"redirect_uris":["https://a.example/cb"],"client_name":42})",
           "invalid_client_metadata"}}) {
    Run(DcrFactory(), "POST", "/register", body);
    EXPECT_EQ(reply().status, 400) << body;
    EXPECT_EQ(ErrorCode(), code) << body;
  }
  Run(DcrFactory(), "GET", "/register");
  EXPECT_EQ(reply().status, 405);
}

TEST_F(OAuthFilterTest, RegistrationWhenTheStoreIsFullIs429) {
  Config config = testing::TestConfig();
  config.store.limits.max_clients = 1;
  Reset(config);
  const std::string body = R"({"redirect_uris":["https://a.example/cb"]})";
  Run(DcrFactory(), "POST", "/register", body);
  EXPECT_EQ(reply().status, 201);
  Run(DcrFactory(), "POST", "/register", body);
  EXPECT_EQ(reply().status, 429);
}

TEST_F(OAuthFilterTest, AuthorizeStartsAFlowKeyedByTheGateway) {
  Seeded seeded = Seed();
  Run(AuthorizeFactory(), "GET",
      "/authorize?" + oauth::EncodeForm({{"response_type", "code"},
                                         {"client_id", seeded.client_id},
                                         {"redirect_uri", "http://127.0.0.1:9/cb"},
                                         {"state", "client-state"},
                                         {"code_challenge", seeded.pkce.challenge},
                                         {"code_challenge_method", "S256"}}));
  ASSERT_EQ(reply().status, 302) << reply().body;
  const std::string location = *reply().headers.Get("Location");
  ASSERT_TRUE(absl::StartsWith(location, "/login?flow="));
  const std::string flow_id = location.substr(12);
  EXPECT_NE(flow_id, "client-state");
  std::optional<store::Flow> flow;
  harness_->store->GetFlow(
      flow_id, [&](absl::StatusOr<std::optional<store::Flow>> found) { flow = **found; });
  ASSERT_TRUE(flow.has_value());
  EXPECT_EQ(flow->state, "client-state");
  EXPECT_EQ(flow->resource, "http://127.0.0.1:8002/mcp");
  EXPECT_EQ(flow->code_challenge, seeded.pkce.challenge);
}

TEST_F(OAuthFilterTest, CodeRedemptionIssuesStoredTokensOnce) {
  Seeded seeded = Seed();
  Run(TokenExchangeFactory(), "POST", "/token", RedeemBody(seeded, seeded.pkce.verifier));
  ASSERT_EQ(reply().status, 200) << reply().body;
  EXPECT_EQ(*reply().headers.Get("Cache-Control"), "no-store");
  absl::StatusOr<rapidjson::Document> tokens = json::Parse(reply().body);
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ((*tokens)["expires_in"].GetInt(), 3600);
  // Replayed: refused, and the grant (with the tokens just issued) is revoked.
  Run(TokenExchangeFactory(), "POST", "/token", RedeemBody(seeded, seeded.pkce.verifier));
  EXPECT_EQ(reply().status, 400);
  EXPECT_EQ(ErrorCode(), "invalid_grant");
  EXPECT_FALSE(GrantExists(seeded.grant_id));
}

TEST_F(OAuthFilterTest, CodeRedemptionChecksPkceClientAndRedirect) {
  Seeded seeded = Seed();
  Run(TokenExchangeFactory(), "POST", "/token", RedeemBody(seeded, crypto::RandomToken()));
  EXPECT_EQ(ErrorCode(), "invalid_grant");
  Seeded second = Seed();
  Run(TokenExchangeFactory(), "POST", "/token", RedeemBody(second, "too-short"));
  EXPECT_EQ(ErrorCode(), "invalid_grant");
  Seeded third = Seed();
  Run(TokenExchangeFactory(), "POST", "/token",
      oauth::EncodeForm({{"grant_type", "authorization_code"},
                         {"code", third.code},
                         {"redirect_uri", "http://127.0.0.1:9/other"},
                         {"code_verifier", third.pkce.verifier},
                         {"client_id", third.client_id}}));
  EXPECT_EQ(ErrorCode(), "invalid_grant");
}

TEST_F(OAuthFilterTest, ExpiredCodesAreRefused) {
  Seeded seeded = Seed();
  harness_->services.clock.Advance(absl::Seconds(61));
  Run(TokenExchangeFactory(), "POST", "/token", RedeemBody(seeded, seeded.pkce.verifier));
  EXPECT_EQ(ErrorCode(), "invalid_grant");
}

TEST_F(OAuthFilterTest, RefreshRotatesOnceAndAReplayRevokes) {
  Seeded seeded = Seed();
  Run(TokenExchangeFactory(), "POST", "/token", RedeemBody(seeded, seeded.pkce.verifier));
  absl::StatusOr<rapidjson::Document> first = json::Parse(reply().body);
  ASSERT_TRUE(first.ok());
  const std::string refresh = (*first)["refresh_token"].GetString();
  const std::string body = oauth::EncodeForm({{"grant_type", "refresh_token"},
                                              {"refresh_token", refresh},
                                              {"client_id", seeded.client_id}});
  Run(TokenExchangeFactory(), "POST", "/token", body);
  ASSERT_EQ(reply().status, 200) << reply().body;
  const std::string rotated = reply().body;
  EXPECT_EQ((*json::Parse(rotated))["refresh_token"].GetString() == refresh, false);
  // Within the grace period (a lost response), the same request gets the same tokens: the
  // family does not fork.
  harness_->services.clock.Advance(absl::Seconds(29));
  Run(TokenExchangeFactory(), "POST", "/token", body);
  ASSERT_EQ(reply().status, 200) << reply().body;
  EXPECT_EQ(reply().body, rotated);
  EXPECT_TRUE(GrantExists(seeded.grant_id));
  // After it, the old token coming back is a replay: the grant goes.
  harness_->services.clock.Advance(absl::Seconds(2));
  Run(TokenExchangeFactory(), "POST", "/token", body);
  EXPECT_EQ(ErrorCode(), "invalid_grant");
  EXPECT_FALSE(GrantExists(seeded.grant_id));
}

TEST_F(OAuthFilterTest, NoGraceOnceTheSuccessorWasRotatedToo) {
  Seeded seeded = Seed();
  Run(TokenExchangeFactory(), "POST", "/token", RedeemBody(seeded, seeded.pkce.verifier));
  const std::string first = (*json::Parse(reply().body))["refresh_token"].GetString();
  auto refresh_with = [&](const std::string& token) {
    Run(TokenExchangeFactory(), "POST", "/token",
        oauth::EncodeForm({{"grant_type", "refresh_token"},
                           {"refresh_token", token},
                           {"client_id", seeded.client_id}}));
  };
  refresh_with(first);
  ASSERT_EQ(reply().status, 200) << reply().body;
  const std::string second = (*json::Parse(reply().body))["refresh_token"].GetString();
  refresh_with(second);
  ASSERT_EQ(reply().status, 200) << reply().body;
  // `first` is within its grace period, but what it would get again is stale: a replay.
  refresh_with(first);
  EXPECT_EQ(ErrorCode(), "invalid_grant");
  EXPECT_FALSE(GrantExists(seeded.grant_id));
}

TEST_F(OAuthFilterTest, ARefreshWaitsWhileAnotherOfTheSameGrantRuns) {
  Seeded seeded = Seed();
  Run(TokenExchangeFactory(), "POST", "/token", RedeemBody(seeded, seeded.pkce.verifier));
  const std::string refresh = (*json::Parse(reply().body))["refresh_token"].GetString();
  // Someone else (another worker or replica) holds the grant's refresh lease.
  std::string holder;
  harness_->store->AcquireLease("refresh/" + seeded.grant_id, absl::Seconds(60),
                                [&](absl::StatusOr<std::string> got) { holder = *got; });
  ASSERT_FALSE(holder.empty());
  Run(TokenExchangeFactory(), "POST", "/token",
      oauth::EncodeForm({{"grant_type", "refresh_token"},
                         {"refresh_token", refresh},
                         {"client_id", seeded.client_id}}));
  RunLoopFor(absl::Milliseconds(200));
  EXPECT_FALSE(harness_->callbacks.replied) << "the refresh must wait for the lease";
  harness_->store->ReleaseLease("refresh/" + seeded.grant_id, holder);
  RunLoopFor(absl::Milliseconds(200));
  ASSERT_TRUE(harness_->callbacks.replied);
  EXPECT_EQ(reply().status, 200) << reply().body;
}

TEST_F(OAuthFilterTest, ARefreshTokenWorksOnlyForItsClient) {
  Seeded seeded = Seed();
  Run(TokenExchangeFactory(), "POST", "/token", RedeemBody(seeded, seeded.pkce.verifier));
  const std::string refresh = (*json::Parse(reply().body))["refresh_token"].GetString();
  store::Client other;
  other.client_id = "client-2";
  other.last_used_at = harness_->services.clock.Now();
  harness_->store->PutClient(other, [](absl::Status) {});
  Run(TokenExchangeFactory(), "POST", "/token",
      oauth::EncodeForm({{"grant_type", "refresh_token"},
                         {"refresh_token", refresh},
                         {"client_id", "client-2"}}));
  EXPECT_EQ(ErrorCode(), "invalid_grant");
  EXPECT_TRUE(GrantExists(seeded.grant_id));  // someone else's attempt does not revoke yours
}

TEST_F(OAuthFilterTest, RepeatedParametersAreInvalidRequests) {
  Seeded seeded = Seed();
  Run(TokenExchangeFactory(), "POST", "/token",
      RedeemBody(seeded, seeded.pkce.verifier) + "&code=" + seeded.code);
  EXPECT_EQ(reply().status, 400);
  EXPECT_EQ(ErrorCode(), "invalid_request");
}

}  // namespace
}  // namespace gateway::filters

// The gateway as an OAuth client of its upstream (UpstreamOAuth): discovery as the MCP
// authorization spec describes it, the RFC 9728 resource check, the 2025-03-26 fallbacks, the
// SSRF rule, scopes, and what a failed refresh reports; against a fake upstream on a real
// loopback socket.

#include "source/common/oauth/upstream_client.h"

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/support/fake_filter_callbacks.h"
#include "test/support/test_server.h"

namespace gateway::oauth {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// An upstream made of canned answers, by "METHOD path"; anything else is a 404. "{origin}" in a
// body or header is the origin the request was sent to (its Host), so one fake can be reached by
// two names. Every request is recorded.
class FakeUpstream {
 public:
  struct Answer {
    Answer(int status, std::string body, std::string content_type = "application/json",
           std::string www_authenticate = "")
        : status(status),
          body(std::move(body)),
          content_type(std::move(content_type)),
          www_authenticate(std::move(www_authenticate)) {}
    int status;
    std::string body;
    std::string content_type;
    std::string www_authenticate;
  };

  FakeUpstream()
      : server_(testing::RespondWith(
            [this](const http::RequestHead& head, const std::string&,
                   http::ResponseEncoder& encoder) { Respond(head, encoder); })) {}

  std::string origin() const { return absl::StrCat("http://127.0.0.1:", server_.port()); }
  uint16_t port() const { return server_.port(); }

  void On(const std::string& method_and_path, Answer answer) {
    absl::MutexLock lock(&mutex_);
    answers_.insert_or_assign(method_and_path, std::move(answer));
  }

  std::vector<std::string> requests() {
    absl::MutexLock lock(&mutex_);
    return requests_;
  }

 private:
  void Respond(const http::RequestHead& head, http::ResponseEncoder& encoder) {
    const std::string key = absl::StrCat(head.method, " ", head.target);
    Answer answer{404, R"({"error":"not_found"})"};
    {
      absl::MutexLock lock(&mutex_);
      requests_.push_back(key);
      auto found = answers_.find(key);
      if (found != answers_.end()) {
        answer = found->second;
      }
    }
    const std::string origin = absl::StrCat("http://", *head.headers.Get("host"));
    const std::string body = absl::StrReplaceAll(answer.body, {{"{origin}", origin}});
    http::ResponseHead response;
    response.status = answer.status;
    response.headers.Add("Content-Type", answer.content_type);
    response.headers.Add("Content-Length", absl::StrCat(body.size()));
    if (!answer.www_authenticate.empty()) {
      response.headers.Add("WWW-Authenticate",
                           absl::StrReplaceAll(answer.www_authenticate, {{"{origin}", origin}}));
    }
    encoder.EncodeHeaders(std::move(response), body.empty());
    if (!body.empty()) {
      encoder.EncodeData(body, /*end_stream=*/true);
    }
  }

  absl::Mutex mutex_;
  std::map<std::string, Answer> answers_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mutex_);
  testing::TestServer server_;
};

constexpr char kTenantMetadata[] =
    R"({"issuer":"{origin}/tenant","authorization_endpoint":"{origin}/tenant/authorize",)"
    R"("token_endpoint":"{origin}/tenant/token","registration_endpoint":"{origin}/tenant/register",)"
    R"("scopes_supported":["files:read","files:write","offline_access"],)"
    R"("token_endpoint_auth_methods_supported":["none"]})";
constexpr char kRegistered[] = R"({"client_id":"registered","token_endpoint_auth_method":"none"})";

class UpstreamOAuthTest : public ::testing::Test {
 protected:
  // The gateway's upstream configuration: `rs_path` on the fake, plus `more`.
  void Configure(const std::string& rs, std::function<void(UpstreamConfig&)> more = nullptr) {
    Config config = testing::TestConfig();
    config.upstream.rs = rs;
    if (more) {
      more(config.upstream);
    }
    harness_ = std::make_unique<testing::FilterHarness>(std::move(config));
  }

  absl::StatusOr<std::shared_ptr<const UpstreamSetup>> Prepare() {
    absl::StatusOr<std::shared_ptr<const UpstreamSetup>> result = absl::UnknownError("no answer");
    testing::LoopRunner runner(harness_->dispatcher);
    std::unique_ptr<Operation> operation =
        upstream().Prepare(harness_->client, *harness_->store,
                           [&](absl::StatusOr<std::shared_ptr<const UpstreamSetup>> setup) {
                             result = std::move(setup);
                             runner.Done();
                           });
    EXPECT_TRUE(runner.Run(absl::Seconds(20)));
    return result;
  }

  absl::StatusOr<UpstreamTokens> Refresh(const std::string& token_endpoint) {
    UpstreamSetup setup;
    setup.token_endpoint = token_endpoint;
    setup.client_id = "gateway";
    setup.auth_method = "none";
    absl::StatusOr<UpstreamTokens> result = absl::UnknownError("no answer");
    testing::LoopRunner runner(harness_->dispatcher);
    std::unique_ptr<Operation> operation =
        upstream().Refresh(harness_->client, setup, "upstream-refresh-token",
                           [&](absl::StatusOr<UpstreamTokens> tokens) {
                             result = std::move(tokens);
                             runner.Done();
                           });
    EXPECT_TRUE(runner.Run(absl::Seconds(20)));
    return result;
  }

  // An authorization server at {origin}/tenant that registers clients.
  void ServeTenant() {
    fake_.On("GET /.well-known/oauth-authorization-server/tenant", {200, kTenantMetadata});
    fake_.On("POST /tenant/register", {201, kRegistered});
  }

  UpstreamOAuth& upstream() { return *harness_->services.upstream; }

  FakeUpstream fake_;
  std::unique_ptr<testing::FilterHarness> harness_;
};

TEST_F(UpstreamOAuthTest, DiscoveryFollowsTheChallengeToMetadataAtAnyPathAndTakesItsScope) {
  fake_.On("POST /mcp", {401, R"({"error":"invalid_token"})", "application/json",
                         R"(Basic realm="x", Bearer error="invalid_token", scope="files:read", )"
                         R"(resource_metadata="{origin}/custom/prm.json")"});
  fake_.On("GET /custom/prm.json",
           {200, R"({"resource":"{origin}/mcp/","authorization_servers":["{origin}/tenant"],)"
                 R"("scopes_supported":["files:read","files:write"]})"});
  ServeTenant();
  Configure(fake_.origin() + "/mcp");
  absl::StatusOr<std::shared_ptr<const UpstreamSetup>> setup = Prepare();
  ASSERT_TRUE(setup.ok()) << setup.status();
  EXPECT_EQ((*setup)->authorize_endpoint, fake_.origin() + "/tenant/authorize");
  EXPECT_EQ((*setup)->client_id, "registered");
  EXPECT_EQ((*setup)->resource, fake_.origin() + "/mcp/");  // as published, a "/" aside
  EXPECT_EQ((*setup)->scopes, "files:read");  // the challenge's, before scopes_supported
  EXPECT_THAT(fake_.requests(), ElementsAre("POST /mcp", "GET /custom/prm.json",
                                            "GET /.well-known/oauth-authorization-server/tenant",
                                            "POST /tenant/register"));

  // Scopes a client may add through the gateway: those the upstream named, no others.
  EXPECT_EQ(upstream().ScopeFor(**setup, ""), "files:read");
  EXPECT_EQ(upstream().ScopeFor(**setup, "files:write gateway:own"), "files:read files:write");
  EXPECT_EQ(upstream().ScopeFor(**setup, "admin"), "files:read");
  upstream().NoteChallengeScope("files:read admin");  // a 403 insufficient_scope
  EXPECT_EQ(upstream().ScopeFor(**setup, "admin"), "files:read admin");
  upstream().NoteChallengeScope("bad\"scope");
  EXPECT_EQ(upstream().ScopeFor(**setup, "bad\"scope"), "files:read");
}

TEST_F(UpstreamOAuthTest, WithoutAChallengeTheWellKnownMetadataAndItsScopesServe) {
  fake_.On("POST /mcp", {401, "", "application/json", "Bearer"});
  fake_.On("GET /.well-known/oauth-protected-resource/mcp",
           {200, R"({"resource":"{origin}/mcp","authorization_servers":["{origin}/tenant"],)"
                 R"("scopes_supported":["files:read","files:write"]})"});
  ServeTenant();
  Configure(fake_.origin() + "/mcp");
  absl::StatusOr<std::shared_ptr<const UpstreamSetup>> setup = Prepare();
  ASSERT_TRUE(setup.ok()) << setup.status();
  EXPECT_EQ((*setup)->scopes, "files:read files:write");
  EXPECT_EQ(upstream().ScopeFor(**setup, "offline_access"),
            "files:read files:write offline_access");  // named by the authorization server
}

// RFC 9207: the issuer exactly as the metadata names it, and its promise of an `iss` in every
// authorization response, are kept for the check at the gateway's /upstream/callback.
TEST_F(UpstreamOAuthTest, TheIssuerIsKeptToCheckAuthorizationResponses) {
  fake_.On("POST /mcp", {401, "", "application/json", "Bearer"});
  fake_.On("GET /.well-known/oauth-protected-resource/mcp",
           {200, R"({"resource":"{origin}/mcp","authorization_servers":["{origin}/tenant"]})"});
  fake_.On("GET /.well-known/oauth-authorization-server/tenant",
           {200, absl::StrReplaceAll(
                     kTenantMetadata,
                     {{R"("issuer")", R"("authorization_response_iss_parameter_supported":true,)"
                                      R"("issuer")"}})});
  fake_.On("POST /tenant/register", {201, kRegistered});
  Configure(fake_.origin() + "/mcp");
  absl::StatusOr<std::shared_ptr<const UpstreamSetup>> setup = Prepare();
  ASSERT_TRUE(setup.ok()) << setup.status();
  const std::string issuer = fake_.origin() + "/tenant";
  EXPECT_EQ((*setup)->issuer, issuer);
  EXPECT_TRUE((*setup)->iss_parameter_supported);
  EXPECT_TRUE(AuthorizationResponseIssuerAccepted(**setup, true, issuer));
  EXPECT_FALSE(AuthorizationResponseIssuerAccepted(**setup, true, issuer + "/"));  // no normalizing
  EXPECT_FALSE(AuthorizationResponseIssuerAccepted(**setup, true, "https://evil.example"));
  EXPECT_FALSE(AuthorizationResponseIssuerAccepted(**setup, false, ""));  // promised, missing
}

TEST(AuthorizationResponseIssuerTest, AnIssIsComparedWheneverTheIssuerIsKnown) {
  UpstreamSetup quiet;  // metadata without the promise
  quiet.issuer = "https://as.example";
  EXPECT_TRUE(AuthorizationResponseIssuerAccepted(quiet, false, ""));
  EXPECT_TRUE(AuthorizationResponseIssuerAccepted(quiet, true, "https://as.example"));
  EXPECT_FALSE(AuthorizationResponseIssuerAccepted(quiet, true, "https://other.example"));
  UpstreamSetup configured;  // endpoints from the configuration (GitHub): nothing to compare to
  EXPECT_TRUE(AuthorizationResponseIssuerAccepted(configured, false, ""));
  EXPECT_TRUE(AuthorizationResponseIssuerAccepted(configured, true, "https://any.example"));
}

TEST_F(UpstreamOAuthTest, MetadataAboutAnotherResourceStopsDiscoveryBeforeTheAuthorizationServer) {
  fake_.On("POST /mcp", {401, "", "application/json",
                         R"(Bearer resource_metadata="{origin}/.well-known/evil")"});
  fake_.On(
      "GET /.well-known/evil",
      {200,
       R"({"resource":"https://evil.example/mcp","authorization_servers":["{origin}/tenant"]})"});
  ServeTenant();
  Configure(fake_.origin() + "/mcp");
  absl::StatusOr<std::shared_ptr<const UpstreamSetup>> setup = Prepare();
  EXPECT_EQ(setup.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(setup.status().message(), HasSubstr("\"https://evil.example/mcp\""));
  EXPECT_FALSE(IsTransient(setup.status()));
  EXPECT_THAT(fake_.requests(), ElementsAre("POST /mcp", "GET /.well-known/evil"));
}

TEST_F(UpstreamOAuthTest, WithConfiguredEndpointsAForeignResourceIsOnlyIgnored) {
  fake_.On("GET /.well-known/oauth-protected-resource/mcp",
           {200, R"({"resource":"https://evil.example/mcp","scopes_supported":["x"]})"});
  Configure(fake_.origin() + "/mcp", [&](UpstreamConfig& upstream) {
    upstream.authorize_endpoint = fake_.origin() + "/authorize";
    upstream.token_endpoint = fake_.origin() + "/token";
    upstream.client_id = "static";
  });
  absl::StatusOr<std::shared_ptr<const UpstreamSetup>> setup = Prepare();
  ASSERT_TRUE(setup.ok()) << setup.status();
  EXPECT_EQ((*setup)->resource, "");
  EXPECT_EQ((*setup)->scopes, "");
  // Configured endpoints: no probe of the MCP server.
  EXPECT_THAT(fake_.requests(), ElementsAre("GET /.well-known/oauth-protected-resource/mcp"));
}

TEST_F(UpstreamOAuthTest, WithoutResourceMetadataTheOriginIsTheAuthorizationServerAsIn20250326) {
  fake_.On("POST /mcp", {401, "", "application/json", "Bearer"});
  fake_.On(
      "GET /.well-known/oauth-authorization-server",
      {200, R"({"issuer":"{origin}/oauth","authorization_endpoint":"{origin}/oauth/authorize",)"
            R"("token_endpoint":"{origin}/oauth/token",)"
            R"("registration_endpoint":"{origin}/oauth/register"})"});
  fake_.On("POST /oauth/register", {201, kRegistered});
  Configure(fake_.origin() + "/mcp");
  absl::StatusOr<std::shared_ptr<const UpstreamSetup>> setup = Prepare();
  ASSERT_TRUE(setup.ok()) << setup.status();
  EXPECT_EQ((*setup)->token_endpoint, fake_.origin() + "/oauth/token");
  EXPECT_EQ((*setup)->resource, "");  // no metadata, no resource indicator
  EXPECT_THAT(fake_.requests(),
              ElementsAre("POST /mcp", "GET /.well-known/oauth-protected-resource/mcp",
                          "GET /.well-known/oauth-protected-resource",
                          "GET /.well-known/oauth-authorization-server", "POST /oauth/register"));
}

TEST_F(UpstreamOAuthTest, The20250326OriginMayNameOnlyAnIssuerOnItself) {
  fake_.On("POST /mcp", {401, "", "application/json", "Bearer"});
  fake_.On("GET /.well-known/oauth-authorization-server",
           {200, R"({"issuer":"https://elsewhere.example","authorization_endpoint":"{origin}/a",)"
                 R"("token_endpoint":"{origin}/t"})"});
  Configure(fake_.origin() + "/mcp");
  absl::StatusOr<std::shared_ptr<const UpstreamSetup>> setup = Prepare();
  EXPECT_EQ(setup.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(setup.status().message(), HasSubstr("names another issuer"));
}

TEST_F(UpstreamOAuthTest, DefaultEndpointsOnlyWhenTheOriginSaysItHasNoMetadata) {
  fake_.On("POST /mcp", {401, "", "application/json", "Bearer"});
  fake_.On("POST /register", {201, kRegistered});
  Configure(fake_.origin() + "/mcp");
  absl::StatusOr<std::shared_ptr<const UpstreamSetup>> setup = Prepare();
  ASSERT_TRUE(setup.ok()) << setup.status();
  EXPECT_EQ((*setup)->authorize_endpoint, fake_.origin() + "/authorize");
  EXPECT_EQ((*setup)->token_endpoint, fake_.origin() + "/token");
  EXPECT_EQ(fake_.requests().back(), "POST /register");

  // A server that asks for no authorization is not one of the 2025-03-26 spec: no guessing.
  FakeUpstream open;
  open.On("POST /mcp", {200, R"({"jsonrpc":"2.0","id":"x","result":{}})"});
  open.On("POST /register", {201, kRegistered});
  Configure(open.origin() + "/mcp");
  setup = Prepare();
  EXPECT_EQ(setup.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(setup.status().message(), HasSubstr("did not answer 401"));
  EXPECT_THAT(open.requests(), Not(::testing::Contains("POST /register")));

  // Nor is an origin in trouble one without metadata.
  FakeUpstream failing;
  failing.On("POST /mcp", {401, "", "application/json", "Bearer"});
  failing.On("GET /.well-known/oauth-authorization-server", {503, "down", "text/plain"});
  Configure(failing.origin() + "/mcp");
  setup = Prepare();
  EXPECT_EQ(setup.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(failing.requests(), Not(::testing::Contains("POST /register")));

  // Nor is one that cannot be reached.
  Configure("http://127.0.0.1:9/mcp");
  setup = Prepare();
  EXPECT_EQ(setup.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(IsTransient(setup.status()));
}

TEST_F(UpstreamOAuthTest, UrlsTheUpstreamNamesOnOtherHostsMustBePublic) {
  const std::string elsewhere = absl::StrCat("http://localhost:", fake_.port());
  fake_.On("POST /mcp", {401, "", "application/json", "Bearer"});
  fake_.On("GET /.well-known/oauth-protected-resource/mcp",
           {200, absl::StrCat(R"({"resource":"{origin}/mcp","authorization_servers":[")", elsewhere,
                              R"(/tenant"]})")});
  ServeTenant();
  Configure(fake_.origin() + "/mcp");  // 127.0.0.1; the upstream points at "localhost"
  absl::StatusOr<std::shared_ptr<const UpstreamSetup>> setup = Prepare();
  ASSERT_FALSE(setup.ok());
  EXPECT_THAT(setup.status().message(), HasSubstr("is not a public address"));
  EXPECT_THAT(setup.status().message(), HasSubstr("set upstream.as"));
  EXPECT_THAT(fake_.requests(),
              Not(::testing::Contains("GET /.well-known/oauth-authorization-server/tenant")));

  // Named in the configuration, the host is trusted.
  Configure(fake_.origin() + "/mcp",
            [&](UpstreamConfig& upstream) { upstream.as = elsewhere + "/tenant"; });
  setup = Prepare();
  ASSERT_TRUE(setup.ok()) << setup.status();
  EXPECT_EQ((*setup)->token_endpoint, elsewhere + "/tenant/token");
}

TEST_F(UpstreamOAuthTest, RefreshTellsAGoneGrantFromAnUpstreamInTroubleFromARefusal) {
  fake_.On("POST /ok", {200, R"({"access_token":"new","refresh_token":"r2","expires_in":60})"});
  fake_.On("POST /gone", {400, R"({"error":"invalid_grant","error_description":"expired"})"});
  fake_.On("POST /github-gone",
           {200, "error=bad_refresh_token", "application/x-www-form-urlencoded"});
  fake_.On("POST /down", {503, "<html>maintenance</html>", "text/html"});
  fake_.On("POST /busy", {500, R"({"error":"server_error"})"});
  fake_.On("POST /slow-down", {429, R"({"error":"slow_down"})"});
  fake_.On("POST /refused", {401, R"({"error":"invalid_client"})"});
  Configure(fake_.origin() + "/mcp");
  const std::string origin = fake_.origin();

  absl::StatusOr<UpstreamTokens> ok = Refresh(origin + "/ok");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->refresh_token, "r2");
  EXPECT_EQ(Refresh(origin + "/gone").status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Refresh(origin + "/github-gone").status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Refresh(origin + "/down").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Refresh(origin + "/busy").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Refresh(origin + "/slow-down").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Refresh(origin + "/refused").status().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<UpstreamTokens> unreachable = Refresh("http://127.0.0.1:9/token");
  EXPECT_EQ(unreachable.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(unreachable.status().message(), HasSubstr("cannot be reached"));
}

}  // namespace
}  // namespace gateway::oauth

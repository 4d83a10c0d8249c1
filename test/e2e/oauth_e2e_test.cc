// The OAuth chain end to end: the real gateway binary between a client driven over HTTP (no
// browser; forms read and submitted) and two real upstreams started by the test:
//   * tools/demo-upstream: an MCP server with its own OAuth authorization server, built from
//     @modelcontextprotocol/sdk (dynamic registration, rotating refresh tokens, SSE replies);
//   * test/upstreams/github_like.mjs: GitHub's OAuth App behaviour (pre-registered client,
//     form-encoded token responses, 200 with an error, no refresh tokens).

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/common/json.h"
#include "source/common/oauth/form.h"
#include "source/common/tls.h"
#include "test/e2e/gateway_fixture.h"
#include "test/support/browser.h"
#include "test/support/child_process.h"
#include "test/support/test_certificate.h"
#include "test/support/test_server.h"

namespace gateway::e2e {
namespace {

using testing::ChildProcess;
using ::testing::HasSubstr;
using testing::HttpRequest;
using ::testing::Not;
using testing::Pkce;
using testing::RawResponse;

class OAuthE2eTest : public GatewayFixture {
 protected:
  // The GitHub-like fake with `options`, as an upstream the gateway discovers: only its MCP URL
  // and the static client are configured.
  void StartDiscoveredGithubLikeUpstream(const std::vector<std::string>& options) {
    StartGithubLikeUpstream("", options);
    upstream_section_ = absl::StrCat("  rs: http://127.0.0.1:", upstream_port_, "/mcp\n",
                                     "  client_id: Iv1.gateway\n  client_secret: gh-secret\n");
  }
};

TEST_F(OAuthE2eTest, ClientThatKnowsOnlyTheMcpUrlDiscoversAuthorizesAndCallsTools) {
  StartDemoUpstream();
  StartGateway();
  // Discovery, as an MCP client does it: the 401 challenge, then the two metadata documents.
  RawResponse challenge = Get("/mcp");
  EXPECT_EQ(challenge.status, 401);
  const std::string prm_url =
      absl::StrCat("http://localhost:", port_, "/.well-known/oauth-protected-resource/mcp");
  EXPECT_EQ(challenge.Header("www-authenticate"),
            absl::StrCat("Bearer resource_metadata=\"", prm_url, "\""));
  RawResponse prm = Get("/.well-known/oauth-protected-resource/mcp");
  ASSERT_EQ(prm.status, 200);
  absl::StatusOr<rapidjson::Document> resource = json::Parse(prm.body);
  ASSERT_TRUE(resource.ok());
  EXPECT_EQ(JsonString(*resource, "resource"), absl::StrCat("http://localhost:", port_, "/mcp"));
  RawResponse server = Get("/.well-known/oauth-authorization-server");
  ASSERT_EQ(server.status, 200);
  EXPECT_THAT(server.body, HasSubstr(R"("code_challenge_methods_supported":["S256"])"));
  EXPECT_EQ(server.Header("access-control-allow-origin"), "*");

  Client client = Register();
  Pkce pkce = testing::MakePkce();
  const std::string redirect = Authorize(client, pkce, "client-state");
  ASSERT_TRUE(absl::StartsWith(redirect, kRedirect)) << redirect;
  std::map<std::string, std::string> result = testing::QueryOf(redirect);
  EXPECT_EQ(result["state"], "client-state");
  EXPECT_EQ(result["iss"], absl::StrCat("http://localhost:", port_));  // RFC 9207
  Tokens tokens = Redeem(client, result["code"], pkce);
  EXPECT_FALSE(tokens.access.empty());
  EXPECT_FALSE(tokens.refresh.empty());

  const std::string session = Initialize(tokens.access);
  RawResponse echo = Mcp(tokens.access,
                         R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{)"
                         R"("name":"echo","arguments":{"message":"through the gateway"}}})",
                         session);
  ASSERT_EQ(echo.status, 200);
  absl::StatusOr<rapidjson::Document> rpc = RpcResult(echo);
  ASSERT_TRUE(rpc.ok()) << echo.body;
  EXPECT_EQ((*rpc)["id"].GetInt(), 2);
  EXPECT_STREQ((*rpc)["result"]["content"][0]["text"].GetString(), "through the gateway");

  // The upstream saw only tokens it issued itself: never the gateway's, never the client's.
  const std::string state = UpstreamState();
  EXPECT_THAT(state, HasSubstr("\"received_bearer_tokens\":[\"demo-at-"));
  EXPECT_THAT(state, Not(HasSubstr(tokens.access)));
  EXPECT_THAT(tokens.access, Not(HasSubstr("demo-at-")));  // sealed: the client holds none
}

TEST_F(OAuthE2eTest, RefreshRotatesAndAReplayRevokesTheGrant) {
  StartDemoUpstream(/*token_ttl_seconds=*/60);
  StartGateway("tokens: {refresh_grace: 0s}\n");  // every repeat is a replay
  Client client;
  Tokens first = Login(&client);
  EXPECT_LE(first.expires_in, 60);  // min(gateway TTL, the upstream's 60 s)
  Tokens second = ParseTokens(TokenRequest({{"grant_type", "refresh_token"},
                                            {"refresh_token", first.refresh},
                                            {"client_id", client.id}}));
  EXPECT_NE(second.access, first.access);
  EXPECT_NE(second.refresh, first.refresh);
  Initialize(second.access);
  // The old refresh token again: refused, and the whole grant goes with it (RFC 9700 4.14).
  RawResponse replay = TokenRequest({{"grant_type", "refresh_token"},
                                     {"refresh_token", first.refresh},
                                     {"client_id", client.id}});
  EXPECT_EQ(replay.status, 400);
  EXPECT_THAT(replay.body, HasSubstr("invalid_grant"));
  EXPECT_EQ(Mcp(second.access, R"({"jsonrpc":"2.0","id":3,"method":"tools/list"})").status, 401);
}

TEST_F(OAuthE2eTest, FiftyParallelRefreshesOfOneTokenRefreshUpstreamOnceAndNeverFork) {
  // The upstream token lives 60 s, inside the gateway's refresh margin: every gateway refresh
  // refreshes upstream too, and the upstream rotates its refresh token each time.
  StartDemoUpstream(/*token_ttl_seconds=*/60);
  StartGateway();
  Client client;
  Tokens first = Login(&client);
  const size_t upstream_before = UpstreamRefreshTokensIssued();
  const std::string body = oauth::EncodeForm({{"grant_type", "refresh_token"},
                                              {"refresh_token", first.refresh},
                                              {"client_id", client.id}});
  std::vector<std::string> answers(50);
  RawResponse one;
  std::vector<std::thread> threads;
  for (int i = 0; i < 50; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<RawResponse> response = testing::Send(
          port_,
          HttpRequest{
              "POST", "/token", {{"Content-Type", "application/x-www-form-urlencoded"}}, body});
      answers[i] = response.ok() ? absl::StrCat(response->status, " ", response->body)
                                 : response.status().ToString();
      if (i == 0 && response.ok()) {
        one = *response;
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  // One winner refreshed upstream and rotated; the 49 others waited for it and got its answer.
  for (const std::string& answer : answers) {
    EXPECT_EQ(answer, answers[0]);
  }
  ASSERT_TRUE(absl::StartsWith(answers[0], "200 ")) << answers[0];
  EXPECT_EQ(UpstreamRefreshTokensIssued(), upstream_before + 1);
  Tokens second = ParseTokens(one);
  Initialize(second.access);
  // A client whose response was lost repeats the refresh: the same tokens, still one family.
  RawResponse repeat = TokenRequest({{"grant_type", "refresh_token"},
                                     {"refresh_token", first.refresh},
                                     {"client_id", client.id}});
  EXPECT_EQ(absl::StrCat(repeat.status, " ", repeat.body), answers[0]);
  // The family goes on from the one successor.
  Tokens third = ParseTokens(TokenRequest({{"grant_type", "refresh_token"},
                                           {"refresh_token", second.refresh},
                                           {"client_id", client.id}}));
  Initialize(third.access);
  EXPECT_EQ(UpstreamRefreshTokensIssued(), upstream_before + 2);
}

TEST_F(OAuthE2eTest, AnUpstreamThatCannotBeReachedAtRefreshGives503AndKeepsTheGrant) {
  StartDemoUpstream(/*token_ttl_seconds=*/60);  // due for an upstream refresh at once
  StartGateway();
  Client client;
  Tokens tokens = Login(&client);
  upstream_->Signal(SIGKILL);
  EXPECT_EQ(upstream_->Wait(absl::Seconds(10)), 128 + SIGKILL);
  RawResponse refresh = TokenRequest({{"grant_type", "refresh_token"},
                                      {"refresh_token", tokens.refresh},
                                      {"client_id", client.id}});
  EXPECT_EQ(refresh.status, 503) << refresh.body;
  EXPECT_THAT(refresh.body, HasSubstr(R"("error":"temporarily_unavailable")"));
  // Nothing was rotated or revoked: the same refresh token may try again, and the access token
  // still passes the gateway (the upstream being down is a 502, not a 401).
  RawResponse again = TokenRequest({{"grant_type", "refresh_token"},
                                    {"refresh_token", tokens.refresh},
                                    {"client_id", client.id}});
  EXPECT_EQ(again.status, 503) << again.body;
  EXPECT_EQ(Mcp(tokens.access, R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})").status, 502);
}

TEST_F(OAuthE2eTest, RevocationEndsTheGrantAndIsPassedUpstream) {
  StartDemoUpstream();
  StartGateway();
  Client client;
  Tokens tokens = Login(&client);
  Initialize(tokens.access);
  RawResponse revoked = PostForm("/revoke", {{"token", tokens.refresh}, {"client_id", client.id}});
  EXPECT_EQ(revoked.status, 200);
  RawResponse after = Mcp(tokens.access, R"({"jsonrpc":"2.0","id":4,"method":"tools/list"})");
  EXPECT_EQ(after.status, 401);
  EXPECT_THAT(after.Header("www-authenticate"), HasSubstr("error=\"invalid_token\""));
  EXPECT_THAT(UpstreamState(), HasSubstr("\"revoked_tokens\":[\"demo-rt-"));
  // Unknown tokens are fine to revoke (RFC 7009 section 2.2).
  EXPECT_EQ(PostForm("/revoke", {{"token", "garbage"}, {"client_id", client.id}}).status, 200);
}

TEST_F(OAuthE2eTest, GithubLikeUpstreamWithAStaticClientAndNoRefreshTokens) {
  StartGithubLikeUpstream();
  StartGateway();
  Client client;
  Tokens tokens = Login(&client);
  EXPECT_EQ(tokens.expires_in, 3600);  // GitHub gives no expiry: the gateway's own TTL
  const std::string session = Initialize(tokens.access);
  RawResponse whoami = Mcp(tokens.access,
                           R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{)"
                           R"("name":"whoami","arguments":{}}})",
                           session);
  EXPECT_EQ(whoami.status, 200);
  EXPECT_THAT(whoami.body, HasSubstr("octocat"));
  // No upstream refresh token: a refresh keeps the upstream access token and still works.
  Tokens refreshed = ParseTokens(TokenRequest({{"grant_type", "refresh_token"},
                                               {"refresh_token", tokens.refresh},
                                               {"client_id", client.id}}));
  EXPECT_EQ(Mcp(refreshed.access, R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{)"
                                  R"("protocolVersion":"2025-06-18","capabilities":{},)"
                                  R"("clientInfo":{"name":"e2e","version":"1"}}})")
                .status,
            200);
  EXPECT_THAT(UpstreamState(), HasSubstr("gho_"));
}

TEST_F(OAuthE2eTest, UpstreamDenialGoesBackToTheClientWithItsState) {
  StartGithubLikeUpstream();
  StartGateway();
  Client client = Register();
  const std::string redirect = Authorize(client, testing::MakePkce(), "keep-me", "deny");
  std::map<std::string, std::string> result = testing::QueryOf(redirect);
  EXPECT_EQ(result["error"], "access_denied");
  EXPECT_EQ(result["state"], "keep-me");
  EXPECT_EQ(result.count("code"), 0u);
}

TEST_F(OAuthE2eTest, AuthorizeRefusesWithoutRedirectingWhenClientOrRedirectUriIsUnknown) {
  StartDemoUpstream();
  StartGateway();
  RawResponse unknown = Get("/authorize?response_type=code&client_id=nobody&redirect_uri=" +
                            oauth::FormEncode(kRedirect));
  EXPECT_EQ(unknown.status, 400);
  EXPECT_FALSE(unknown.HasHeader("location"));
  EXPECT_THAT(unknown.Header("content-type"), HasSubstr("text/html"));
  Client client = Register();
  RawResponse foreign =
      Get(absl::StrCat("/authorize?response_type=code&client_id=", client.id,
                       "&redirect_uri=", oauth::FormEncode("https://evil.example/cb")));
  EXPECT_EQ(foreign.status, 400);
  EXPECT_FALSE(foreign.HasHeader("location"));
}

TEST_F(OAuthE2eTest, AuthorizeErrorsGoBackToTheRedirectUriWithState) {
  StartDemoUpstream();
  StartGateway();
  Client client = Register();
  Pkce pkce = testing::MakePkce();
  auto error_of = [&](const std::string& query) {
    RawResponse response = Get("/authorize?" + query);
    EXPECT_EQ(response.status, 302) << response.body;
    std::map<std::string, std::string> result = testing::QueryOf(response.Header("location"));
    EXPECT_EQ(result["state"], "st");
    return result["error"];
  };
  const std::string base = absl::StrCat(
      "client_id=", client.id, "&redirect_uri=", oauth::FormEncode(kRedirect), "&state=st");
  EXPECT_EQ(error_of(base + "&response_type=code"), "invalid_request");  // no PKCE
  EXPECT_EQ(error_of(base + "&response_type=code&code_challenge=" + pkce.challenge +
                     "&code_challenge_method=plain"),
            "invalid_request");
  EXPECT_EQ(error_of(base + "&response_type=token&code_challenge=" + pkce.challenge +
                     "&code_challenge_method=S256"),
            "unsupported_response_type");
  EXPECT_EQ(error_of(base + "&response_type=code&code_challenge=" + pkce.challenge +
                     "&code_challenge_method=S256&resource=" +
                     oauth::FormEncode("https://other.example/mcp")),
            "invalid_target");
}

TEST_F(OAuthE2eTest, TwoClientsWithTheSameStateNeverGetEachOthersCode) {
  StartDemoUpstream();
  StartGateway();
  Client a = Register("none", "A");
  Client b = Register("none", "B");
  Pkce pkce_a = testing::MakePkce();
  Pkce pkce_b = testing::MakePkce();
  // Both flows open before either finishes, with one `state`: flows are keyed by the gateway.
  RawResponse login_a = OpenLogin(a, pkce_a, "same");
  const std::string code_b = testing::QueryOf(Authorize(b, pkce_b, "same"))["code"];
  const std::string code_a = testing::QueryOf(Authorize(a, pkce_a, "same"))["code"];
  EXPECT_NE(code_a, code_b);
  // A's code for B: refused.
  RawResponse stolen = TokenRequest({{"grant_type", "authorization_code"},
                                     {"code", code_a},
                                     {"redirect_uri", kRedirect},
                                     {"code_verifier", pkce_a.verifier},
                                     {"client_id", b.id}});
  EXPECT_EQ(stolen.status, 400);
  EXPECT_THAT(stolen.body, HasSubstr("invalid_grant"));
  Redeem(b, code_b, pkce_b);
  Redeem(a, code_a, pkce_a);  // the refusal left A's code to A
  EXPECT_THAT(login_a.body, HasSubstr("A wants to use"));
}

TEST_F(OAuthE2eTest, TokenEndpointAnswersEachMistakeWithItsRfc6749Code) {
  StartDemoUpstream();
  StartGateway();
  Client client = Register();
  Pkce pkce = testing::MakePkce();
  const std::string code = testing::QueryOf(Authorize(client, pkce, "s"))["code"];
  auto error_of = [&](std::vector<std::pair<std::string, std::string>> form) {
    RawResponse response = TokenRequest(std::move(form));
    absl::StatusOr<rapidjson::Document> json = json::Parse(response.body);
    return absl::StrCat(response.status, " ", json.ok() ? JsonString(*json, "error") : "?");
  };
  EXPECT_EQ(error_of({{"grant_type", "password"}, {"client_id", client.id}}),
            "400 unsupported_grant_type");
  EXPECT_EQ(error_of({{"grant_type", "authorization_code"}, {"client_id", client.id}}),
            "400 invalid_request");
  EXPECT_EQ(error_of({{"grant_type", "authorization_code"}, {"client_id", "nobody"}}),
            "401 invalid_client");
  EXPECT_EQ(error_of({{"grant_type", "refresh_token"},
                      {"refresh_token", "bm90IGEgdG9rZW4"},
                      {"client_id", client.id}}),
            "400 invalid_grant");
  // A wrong verifier or redirect_uri is refused and leaves the code alone: whoever merely saw
  // the code cannot spoil it for its client, whose redemption then works, once.
  EXPECT_EQ(error_of({{"grant_type", "authorization_code"},
                      {"code", code},
                      {"redirect_uri", kRedirect},
                      {"code_verifier", testing::MakePkce().verifier},
                      {"client_id", client.id}}),
            "400 invalid_grant");
  EXPECT_EQ(error_of({{"grant_type", "authorization_code"},
                      {"code", code},
                      {"redirect_uri", "http://127.0.0.1:9/elsewhere"},
                      {"code_verifier", pkce.verifier},
                      {"client_id", client.id}}),
            "400 invalid_grant");
  std::vector<std::pair<std::string, std::string>> right = {{"grant_type", "authorization_code"},
                                                            {"code", code},
                                                            {"redirect_uri", kRedirect},
                                                            {"code_verifier", pkce.verifier},
                                                            {"client_id", client.id}};
  EXPECT_EQ(error_of(right), "200 ");
  EXPECT_EQ(error_of(right), "400 invalid_grant");
}

TEST_F(OAuthE2eTest, ConfidentialClientsMustAuthenticate) {
  StartDemoUpstream();
  StartGateway();
  Client client = Register("client_secret_basic");
  ASSERT_FALSE(client.secret.empty());
  Pkce pkce = testing::MakePkce();
  const std::string code = testing::QueryOf(Authorize(client, pkce, "s"))["code"];
  RawResponse wrong = TokenRequest({{"grant_type", "authorization_code"},
                                    {"code", code},
                                    {"redirect_uri", kRedirect},
                                    {"code_verifier", pkce.verifier},
                                    {"client_id", client.id},
                                    {"client_secret", "wrong"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_THAT(wrong.body, HasSubstr("invalid_client"));
  std::string basic;
  absl::Base64Escape(absl::StrCat(client.id, ":", client.secret), &basic);
  Tokens tokens = ParseTokens(TokenRequest({{"grant_type", "authorization_code"},
                                            {"code", code},
                                            {"redirect_uri", kRedirect},
                                            {"code_verifier", pkce.verifier}},
                                           {{"Authorization", "Basic " + basic}}));
  EXPECT_FALSE(tokens.access.empty());
}

TEST_F(OAuthE2eTest, LoginIsProtectedAgainstForgedFormsAndGuessing) {
  StartDemoUpstream();
  StartGateway();
  Client client = Register("none", "<script>alert(1)</script>");
  RawResponse login = OpenLogin(client, testing::MakePkce(), "s");
  EXPECT_EQ(login.Header("x-frame-options"), "DENY");
  EXPECT_THAT(login.body, Not(HasSubstr("<script>alert")));
  absl::StatusOr<testing::HtmlForm> form = testing::FirstForm(login.body);
  ASSERT_TRUE(form.ok());
  RawResponse forged = PostForm("/login/callback", {{"flow", form->inputs["flow"]},
                                                    {"csrf", "forged"},
                                                    {"username", "alice"},
                                                    {"password", "wonderland"}});
  EXPECT_EQ(forged.status, 403);
  int last = 0;
  for (int i = 0; i < 4; ++i) {
    last = PostForm("/login/callback", {{"flow", form->inputs["flow"]},
                                        {"csrf", form->inputs["csrf"]},
                                        {"username", "alice"},
                                        {"password", absl::StrCat("guess", i)}})
               .status;
  }
  EXPECT_EQ(last, 429);  // max_failures: 3 per user and address
  // Even the right password waits out the window now.
  EXPECT_EQ(PostForm("/login/callback", {{"flow", form->inputs["flow"]},
                                         {"csrf", form->inputs["csrf"]},
                                         {"username", "alice"},
                                         {"password", "wonderland"}})
                .status,
            429);
}

TEST_F(OAuthE2eTest, CallbackWithAnUnknownStateChangesNothing) {
  StartDemoUpstream();
  StartGateway();
  RawResponse forged = Get("/upstream/callback?code=stolen&state=made-up");
  EXPECT_EQ(forged.status, 400);
  EXPECT_FALSE(forged.HasHeader("location"));
  EXPECT_THAT(UpstreamState(), HasSubstr("\"issued_access_tokens\":[]"));  // no exchange made
}

TEST_F(OAuthE2eTest, FiftyParallelRedemptionsOfOneCodeGiveExactlyOneTokenPair) {
  StartDemoUpstream();
  StartGateway();
  Client client = Register();
  Pkce pkce = testing::MakePkce();
  const std::string code = testing::QueryOf(Authorize(client, pkce, "s"))["code"];
  const std::string body = oauth::EncodeForm({{"grant_type", "authorization_code"},
                                              {"code", code},
                                              {"redirect_uri", kRedirect},
                                              {"code_verifier", pkce.verifier},
                                              {"client_id", client.id}});
  std::atomic<int> successes{0};
  std::atomic<int> refusals{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 50; ++i) {
    threads.emplace_back([&] {
      absl::StatusOr<RawResponse> response = testing::Send(
          port_,
          HttpRequest{
              "POST", "/token", {{"Content-Type", "application/x-www-form-urlencoded"}}, body});
      if (response.ok() && response->status == 200) {
        ++successes;
      } else if (response.ok() && response->status == 400 &&
                 absl::StrContains(response->body, "invalid_grant")) {
        ++refusals;
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(successes.load(), 1);
  EXPECT_EQ(refusals.load(), 49);
}

TEST_F(OAuthE2eTest, DiscoversAnAuthorizationServerWhoseIssuerHasAPath) {
  StartGithubLikeUpstream();
  // Only the issuer: the gateway must find RFC 8414 metadata at
  // /.well-known/oauth-authorization-server/login/oauth, not after the path.
  upstream_section_ = absl::StrCat("  rs: http://127.0.0.1:", upstream_port_, "/mcp\n",
                                   "  as: http://127.0.0.1:", upstream_port_, "/login/oauth\n",
                                   "  client_id: Iv1.gateway\n  client_secret: gh-secret\n");
  StartGateway();
  Tokens tokens = Login();
  EXPECT_EQ(Mcp(tokens.access, R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{)"
                               R"("protocolVersion":"2025-06-18","capabilities":{},)"
                               R"("clientInfo":{"name":"e2e","version":"1"}}})")
                .status,
            200);
}

// MCP authorization (2025-06-18 on): the upstream's 401 challenge names its protected-resource
// metadata (RFC 9728 section 5.1), here at a path no well-known rule would find, and the scope it
// wants; the gateway asks the upstream for that scope.
TEST_F(OAuthE2eTest, UpstreamDiscoveryFollowsTheChallengeAndAsksForItsScope) {
  StartDiscoveredGithubLikeUpstream(
      {"--resource-metadata-path", "/custom/metadata.json", "--challenge-scope", "repo read:org"});
  StartGateway();
  Tokens tokens = Login();
  Initialize(tokens.access);
  const std::string state = UpstreamState();
  EXPECT_THAT(StateList(state, "metadata_requests"),
              ::testing::ElementsAre("/custom/metadata.json",
                                     "/.well-known/oauth-authorization-server/login/oauth"));
  EXPECT_THAT(StateList(state, "authorize_scopes"), ::testing::ElementsAre("repo read:org"));
}

// RFC 9728 section 3.3: metadata about another resource is refused, and nothing goes to the
// authorization server it names.
// RFC 9207 (mix-up attacks): an answer at the gateway's /upstream/callback whose `iss` is not
// the upstream's issuer, exactly as its metadata names it, ends the flow without exchanging the
// code; the right `iss` goes through.
TEST_F(OAuthE2eTest, AnUpstreamAnswerFromAnotherIssuerIsNeverExchanged) {
  StartDemoUpstream();
  StartGateway();
  absl::StatusOr<RawResponse> metadata = testing::GetUrl(
      absl::StrCat("http://127.0.0.1:", upstream_port_, "/.well-known/oauth-authorization-server"));
  ASSERT_TRUE(metadata.ok());
  absl::StatusOr<rapidjson::Document> json = json::Parse(metadata->body);
  ASSERT_TRUE(json.ok());
  const std::string issuer = JsonString(*json, "issuer");
  ASSERT_FALSE(issuer.empty());
  Client client = Register();
  // Another server, and this one but for a trailing "/" (no normalizing, RFC 9207 section 2.4).
  const std::string almost =
      absl::EndsWith(issuer, "/") ? std::string(absl::StripSuffix(issuer, "/")) : issuer + "/";
  for (const std::string& forged : {std::string("https://evil.example/"), almost}) {
    const std::string next = Authorize(client, testing::MakePkce(), "mixup", "allow",
                                       "&iss=" + oauth::FormEncode(forged));
    ASSERT_TRUE(absl::StartsWith(next, kRedirect)) << next;
    std::map<std::string, std::string> result = testing::QueryOf(next);
    EXPECT_EQ(result["error"], "server_error") << forged;
    EXPECT_EQ(result["state"], "mixup");
    EXPECT_EQ(result.count("code"), 0u);
  }
  EXPECT_EQ(UpstreamRefreshTokensIssued(), 0u);  // no forged answer's code was exchanged
  Pkce pkce = testing::MakePkce();
  const std::string next =
      Authorize(client, pkce, "right", "allow", "&iss=" + oauth::FormEncode(issuer));
  Redeem(client, testing::QueryOf(next)["code"], pkce);
  EXPECT_EQ(UpstreamRefreshTokensIssued(), 1u);
}

TEST_F(OAuthE2eTest, MetadataAboutAnotherResourceEndsTheFlowBeforeTheAuthorizationServer) {
  StartDiscoveredGithubLikeUpstream({"--prm-resource", "https://evil.example/mcp"});
  StartGateway();
  const std::string next = SignIn(Register(), testing::MakePkce(), "mismatch");
  ASSERT_TRUE(absl::StartsWith(next, kRedirect)) << next;
  std::map<std::string, std::string> result = testing::QueryOf(next);
  EXPECT_EQ(result["error"], "server_error");
  EXPECT_EQ(result["state"], "mismatch");
  const std::string state = UpstreamState();
  EXPECT_THAT(StateList(state, "metadata_requests"),
              ::testing::ElementsAre("/.well-known/oauth-protected-resource/mcp"));
  EXPECT_THAT(StateList(state, "authorize_scopes"), ::testing::IsEmpty());
  // The log line may trail the reply.
  EXPECT_TRUE(
      gateway_->WaitForOutput("is about the resource \"https://evil.example/mcp\", not "
                              "http://127.0.0.1:"))
      << gateway_->Output();
}

// SSRF: the upstream may not point the gateway at a private address on a host the configuration
// does not name (here "localhost", for an upstream configured as 127.0.0.1).
TEST_F(OAuthE2eTest, DiscoveredUrlsOnOtherHostsMustBePublic) {
  StartDiscoveredGithubLikeUpstream({"--prm-issuer-host", "localhost"});
  StartGateway();
  const std::string next = SignIn(Register(), testing::MakePkce(), "ssrf");
  ASSERT_TRUE(absl::StartsWith(next, kRedirect)) << next;
  EXPECT_EQ(testing::QueryOf(next)["error"], "temporarily_unavailable");
  EXPECT_THAT(StateList(UpstreamState(), "metadata_requests"),
              ::testing::ElementsAre("/.well-known/oauth-protected-resource/mcp"));
  EXPECT_TRUE(gateway_->WaitForOutput("is not a public address")) << gateway_->Output();
}

// Step-up (MCP authorization, "Scope Challenge Handling"): after the upstream's 403
// insufficient_scope, the client authorizes again asking for the scope the gateway's challenge
// passed on, and the gateway asks the upstream for it; a scope the upstream never named stays
// with the gateway.
TEST_F(OAuthE2eTest, StepUpAsksTheUpstreamForTheScopeItsChallengeNamed) {
  StartGithubLikeUpstream("", {"--tool-scope", "admin:org"});
  StartGateway();
  const std::string whoami =
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}})";
  Tokens first = Login();
  RawResponse denied = Mcp(first.access, whoami, Initialize(first.access));
  EXPECT_EQ(denied.status, 403);
  EXPECT_THAT(denied.Header("www-authenticate"),
              HasSubstr("error=\"insufficient_scope\", scope=\"repo read:user admin:org\""));

  scope_ = "repo read:user admin:org";
  Tokens second = Login();
  RawResponse allowed = Mcp(second.access, whoami, Initialize(second.access));
  EXPECT_EQ(allowed.status, 200) << allowed.body;
  EXPECT_THAT(allowed.body, HasSubstr("admin:org"));

  scope_ = "repo made:up";
  Login();
  EXPECT_THAT(
      StateList(UpstreamState(), "authorize_scopes"),
      ::testing::ElementsAre("repo read:user", "repo read:user admin:org", "repo read:user"));
}

TEST_F(OAuthE2eTest, ConsentIsRememberedPerUserAndClient) {
  StartDemoUpstream();
  StartGateway();
  Client client = Register();
  Authorize(client, testing::MakePkce(), "first");  // asks for consent, remembers it
  RawResponse login = OpenLogin(client, testing::MakePkce(), "second");
  absl::StatusOr<testing::HtmlForm> form = testing::FirstForm(login.body);
  ASSERT_TRUE(form.ok());
  RawResponse signed_in = PostForm(form->action, {{"flow", form->inputs["flow"]},
                                                  {"csrf", form->inputs["csrf"]},
                                                  {"username", "alice"},
                                                  {"password", "wonderland"}});
  EXPECT_EQ(signed_in.status, 302);  // straight on to the upstream, no consent screen
  EXPECT_TRUE(absl::StartsWith(signed_in.Header("location"),
                               absl::StrCat("http://127.0.0.1:", upstream_port_, "/")));
  // Another user has not consented: bob sees the screen.
  username_ = "bob";
  password_ = "builder";
  RawResponse bob_login = OpenLogin(client, testing::MakePkce(), "third");
  absl::StatusOr<testing::HtmlForm> bob_form = testing::FirstForm(bob_login.body);
  ASSERT_TRUE(bob_form.ok());
  RawResponse bob = PostForm(bob_form->action, {{"flow", bob_form->inputs["flow"]},
                                                {"csrf", bob_form->inputs["csrf"]},
                                                {"username", "bob"},
                                                {"password", "builder"}});
  EXPECT_EQ(bob.status, 200);
  EXPECT_THAT(bob.body, HasSubstr("Allow"));
}

TEST_F(OAuthE2eTest, EventStreamsNotificationsAndSessionEndThroughTheSdkServer) {
  StartDemoUpstream();
  StartGateway();
  Tokens tokens = Login();
  const std::string session = Initialize(tokens.access);
  // The standalone GET stream of the session.
  absl::StatusOr<testing::RawClient> stream = testing::RawClient::Connect(port_);
  ASSERT_TRUE(stream.ok());
  ASSERT_TRUE(stream->Send(absl::StrCat(
      "GET /mcp HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nMcp-Protocol-Version: "
      "2025-06-18\r\nMcp-Session-Id: ",
      session, "\r\nAuthorization: Bearer ", tokens.access, "\r\n\r\n")));
  absl::StatusOr<RawResponse> head = stream->ReadHead();
  ASSERT_TRUE(head.ok()) << head.status();
  ASSERT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("content-type"), "text/event-stream");
  // A tool that streams notifications on its own reply, then one on the GET stream.
  RawResponse notify = Mcp(tokens.access,
                           R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{)"
                           R"("name":"notify","arguments":{"count":2,"interval_ms":50}}})",
                           session);
  EXPECT_EQ(notify.status, 200);
  EXPECT_THAT(notify.body, HasSubstr("notification 1 of 2"));
  EXPECT_THAT(notify.body, HasSubstr("notification 2 of 2"));
  EXPECT_THAT(notify.body, HasSubstr("sent 2 notifications"));
  std::string received;
  for (int i = 0; i < 20 && !absl::StrContains(received, "standalone notification"); ++i) {
    received += stream->ReadSome(absl::Milliseconds(500));
  }
  EXPECT_THAT(received, HasSubstr("standalone notification"));
  // DELETE ends the session upstream.
  absl::StatusOr<RawResponse> ended =
      testing::Send(port_, HttpRequest{"DELETE",
                                       "/mcp",
                                       {{"Authorization", "Bearer " + tokens.access},
                                        {"Mcp-Session-Id", session},
                                        {"Mcp-Protocol-Version", "2025-06-18"}},
                                       ""});
  ASSERT_TRUE(ended.ok());
  EXPECT_EQ(ended->status, 200);
  EXPECT_EQ(Mcp(tokens.access, R"({"jsonrpc":"2.0","id":6,"method":"tools/list"})", session).status,
            404);
}

// A client ID metadata document served over TLS by the test, at https://localhost:PORT/app.json.
class MetadataDocumentServer {
 public:
  MetadataDocumentServer()
      : certificate_(*testing::MakeTestCertificate()),
        context_(*tls::CreateServerContext(certificate_.certificate_file, certificate_.key_file)),
        server_(testing::RespondWith([this](const http::RequestHead&, const std::string&,
                                            http::ResponseEncoder& encoder) {
                  testing::SendResponse(
                      encoder, 200,
                      absl::StrCat(R"({"client_id":")", url(), R"(","client_name":"Doc App",)",
                                   R"("redirect_uris":[")", kRedirect, R"("]})"),
                      "application/json");
                }),
                http::ConnectionLimits{}, context_.get()) {}

  std::string url() const {
    return absl::StrCat("https://localhost:", server_.port(), "/app.json");
  }
  const std::string& ca_file() const { return certificate_.certificate_file; }

 private:
  testing::TestCertificate certificate_;
  tls::SslCtxPtr context_;
  testing::TestServer server_;
};

TEST_F(OAuthE2eTest, ClientIdMetadataDocumentsNeedNoRegistration) {
  MetadataDocumentServer document;
  StartDemoUpstream();
  upstream_section_ += absl::StrCat("  ca_file: ", document.ca_file(), "\n");
  StartGateway("oauth: {allow_private_client_metadata: true}\n");
  EXPECT_THAT(Get("/.well-known/oauth-authorization-server").body,
              HasSubstr(R"("client_id_metadata_document_supported":true)"));
  Client client{document.url(), ""};
  Pkce pkce = testing::MakePkce();
  RawResponse login = OpenLogin(client, pkce, "doc");
  EXPECT_THAT(login.body, HasSubstr("Doc App (localhost) wants to use"));
  Tokens tokens = Redeem(client, testing::QueryOf(Authorize(client, pkce, "doc"))["code"], pkce);
  EXPECT_FALSE(tokens.access.empty());
  Initialize(tokens.access);
}

TEST_F(OAuthE2eTest, ClientIdMetadataDocumentsOnPrivateAddressesAreRefusedByDefault) {
  MetadataDocumentServer document;
  StartDemoUpstream();
  upstream_section_ += absl::StrCat("  ca_file: ", document.ca_file(), "\n");
  StartGateway();
  RawResponse refused =
      Get("/authorize?" + AuthorizeQuery(Client{document.url(), ""}, testing::MakePkce(), "doc"));
  EXPECT_EQ(refused.status, 400);
  EXPECT_FALSE(refused.HasHeader("location"));
  EXPECT_THAT(refused.body, HasSubstr("not a public address"));
}

}  // namespace
}  // namespace gateway::e2e

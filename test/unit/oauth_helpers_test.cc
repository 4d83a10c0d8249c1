// The small OAuth pieces in source/common/oauth/: forms, redirect URIs, client authentication,
// token minting, upstream token responses, discovery URLs, Bearer challenges, the resource check
// and the SSRF rule of upstream discovery.

#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/common/crypto.h"
#include "source/common/json.h"
#include "source/common/oauth/challenge.h"
#include "source/common/oauth/client_auth.h"
#include "source/common/oauth/client_metadata.h"
#include "source/common/oauth/form.h"
#include "source/common/oauth/pages.h"
#include "source/common/oauth/redirect_uri.h"
#include "source/common/oauth/registration.h"
#include "source/common/oauth/token_issuer.h"
#include "source/common/oauth/upstream_client.h"
#include "source/common/oauth/users.h"
#include "source/common/token/token_pair.h"
#include "source/dispatcher.h"
#include "test/support/files.h"

namespace gateway::oauth {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// SIGHUP replaces the users; checks from then on see the new list, hashed or plain.
TEST(UsersTest, ReplaceSwapsTheListForLaterChecks) {
  BlockingPool pool(1);
  Dispatcher dispatcher("test");
  Users users({{"alice", "wonderland"}}, pool);
  auto check = [&](const std::string& name, const std::string& password) {
    std::optional<bool> result;
    users.Verify(dispatcher, name, password, [&](bool match) {
      result = match;
      dispatcher.Exit();
    });
    dispatcher.Run();
    return result.value_or(false);
  };
  EXPECT_TRUE(check("alice", "wonderland"));
  users.Replace({{"carol", crypto::HashPassword("cheshire")}, {"dave", "plain"}});
  EXPECT_EQ(users.size(), 2u);
  EXPECT_EQ(users.plain_count(), 1);
  EXPECT_FALSE(check("alice", "wonderland"));
  EXPECT_TRUE(check("carol", "cheshire"));
  EXPECT_FALSE(check("carol", "wonderland"));
  EXPECT_TRUE(check("dave", "plain"));
}

TEST(FormTest, ParsesDecodesAndRefusesRepeats) {
  absl::StatusOr<Form> form = Form::Parse("a=1&b=x%20y+z&empty=&flag");
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->Get("a"), "1");
  EXPECT_EQ(form->Get("b"), "x y z");
  EXPECT_TRUE(form->Has("empty"));
  EXPECT_TRUE(form->Has("flag"));
  EXPECT_EQ(form->Get("missing"), "");
  EXPECT_THAT(Form::Parse("state=a&state=b").status().message(), HasSubstr("\"state\""));
  EXPECT_FALSE(Form::Parse("a=%zz").ok());
  EXPECT_FALSE(Form::Parse("a=%4").ok());
}

TEST(FormTest, EncodesForQueriesAndBodies) {
  EXPECT_EQ(EncodeForm({{"redirect_uri", "http://127.0.0.1:1/cb?x=1"}, {"state", "a b&c"}}),
            "redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcb%3Fx%3D1&state=a%20b%26c");
  EXPECT_EQ(AppendQuery("https://c.example/cb", {{"code", "x"}}), "https://c.example/cb?code=x");
  EXPECT_EQ(AppendQuery("https://c.example/cb?keep=1", {{"code", "x"}}),
            "https://c.example/cb?keep=1&code=x");
}

TEST(RedirectUriTest, AcceptsEveryRedirectUriRealClientsRegister) {
  absl::StatusOr<rapidjson::Document> fixtures = json::Parse(
      testing::ReadFile(GATEWAY_SOURCE_DIR "/test/fixtures/real-client-registrations.json"));
  ASSERT_TRUE(fixtures.ok()) << fixtures.status();
  int checked = 0;
  for (const auto& client : (*fixtures)["clients"].GetArray()) {
    std::vector<std::string> registered;
    for (const auto& uri : client["register"]["redirect_uris"].GetArray()) {
      registered.emplace_back(uri.GetString());
      EXPECT_TRUE(ValidateRedirectUri(uri.GetString()).ok()) << uri.GetString();
    }
    for (const auto& uri : client["authorize_redirect_uris"].GetArray()) {
      EXPECT_NE(FindRedirectUri(registered, uri.GetString()), nullptr)
          << client["name"].GetString() << ": " << uri.GetString();
      ++checked;
    }
  }
  EXPECT_GE(checked, 6);
}

TEST(RedirectUriTest, RefusesDangerousRedirectUris) {
  for (const char* uri :
       {"javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "http://evil.example/cb",
        "https://good.example/cb#frag", "https://user@good.example/cb", "/relative",
        "http://localhost.evil.com/cb", "VBScript:x", "https:///nohost", "https://a b/"}) {
    EXPECT_FALSE(ValidateRedirectUri(uri).ok()) << uri;
  }
  for (const char* uri :
       {"https://claude.ai/api/mcp/auth_callback", "http://127.0.0.1:1234/cb", "http://[::1]/cb",
        "http://localhost:8787/callback", "cursor://anysphere.cursor-mcp/oauth/callback",
        "com.example.app:/oauth2redirect"}) {
    EXPECT_TRUE(ValidateRedirectUri(uri).ok()) << uri;
  }
}

TEST(RedirectUriTest, MatchesExactlyExceptTheLoopbackPort) {
  EXPECT_TRUE(RedirectUriMatches("http://127.0.0.1/", "http://127.0.0.1:49152/"));
  EXPECT_TRUE(RedirectUriMatches("http://[::1]:1/cb", "http://[::1]:2/cb"));
  EXPECT_FALSE(RedirectUriMatches("http://127.0.0.1/cb", "http://127.0.0.1:5/cb/"));
  EXPECT_FALSE(RedirectUriMatches("http://127.0.0.1/cb", "http://localhost/cb"));
  EXPECT_FALSE(RedirectUriMatches("http://127.0.0.1/cb", "http://127.0.0.1/cb?x=1"));
  EXPECT_FALSE(RedirectUriMatches("https://a.example/cb", "https://a.example/cb/"));
  EXPECT_FALSE(RedirectUriMatches("https://a.example/cb", "https://A.example/cb"));
  EXPECT_FALSE(RedirectUriMatches("https://a.example:443/cb", "https://a.example:444/cb"));
  EXPECT_FALSE(RedirectUriMatches("https://a.example/cb", "https://a.example/cb@evil.example"));
}

TEST(ClientAuthTest, ReadsBasicOrFormButNotBoth) {
  http::HeaderMap basic;
  basic.Add("Authorization",
            "Basic " + absl::Base64Escape(FormEncode("id:1") + ":" + FormEncode("s3cret&")));
  absl::StatusOr<ClientCredentials> fromBasic = ReadClientCredentials(basic, *Form::Parse(""));
  ASSERT_TRUE(fromBasic.ok()) << fromBasic.status();
  EXPECT_EQ(fromBasic->client_id, "id:1");
  EXPECT_EQ(fromBasic->client_secret, "s3cret&");
  EXPECT_TRUE(fromBasic->basic);
  EXPECT_FALSE(ReadClientCredentials(basic, *Form::Parse("client_secret=x")).ok());
  absl::StatusOr<ClientCredentials> fromForm =
      ReadClientCredentials(http::HeaderMap(), *Form::Parse("client_id=c&client_secret=s"));
  ASSERT_TRUE(fromForm.ok());
  EXPECT_EQ(fromForm->client_secret, "s");
  EXPECT_EQ(ReadClientCredentials(http::HeaderMap(), *Form::Parse("")).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(ClientAuthTest, ConfidentialClientsNeedTheirSecretPublicOnesNone) {
  store::Client confidential;
  confidential.client_id = "c";
  confidential.secret_hash = crypto::SecretHash("right");
  EXPECT_TRUE(Authenticates(confidential, {"c", "right", false}));
  EXPECT_FALSE(Authenticates(confidential, {"c", "wrong", false}));
  EXPECT_FALSE(Authenticates(confidential, {"c", "", false}));
  EXPECT_FALSE(Authenticates(confidential, {"other", "right", false}));
  store::Client public_client;
  public_client.client_id = "p";
  EXPECT_TRUE(Authenticates(public_client, {"p", "", false}));
  EXPECT_FALSE(Authenticates(public_client, {"p", "anything", false}));
}

TEST(TokenIssuerTest, MintsSealedPairsBoundToTheirRecords) {
  token::KeyRing keys = *token::KeyRing::Create({token::KeyRing::GenerateKey("k")});
  store::Grant grant;
  grant.grant_id = "g1";
  grant.user = "alice";
  grant.client_id = "c1";
  grant.upstream_access_token = "gho_upstream";
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  grant.upstream_expires_at = now + absl::Minutes(10);
  MintedTokens minted = MintTokens(grant, TokensConfig{}, keys, now);
  EXPECT_EQ(minted.expires_in, absl::Minutes(10));  // min(1h, the upstream's 10 minutes)
  EXPECT_THAT(minted.access_token, Not(HasSubstr("gho_upstream")));
  std::string scratch;
  absl::StatusOr<token::SplitPair> pair = token::DecodePair(minted.access_token, scratch);
  ASSERT_TRUE(pair.ok());
  EXPECT_EQ(crypto::SecretHash(pair->gateway_half), minted.access.token_hash);
  EXPECT_EQ(*token::Unseal(keys, pair->upstream_part, pair->gateway_half), "gho_upstream");
  EXPECT_EQ(minted.access.grant_id, "g1");
  EXPECT_EQ(minted.access.kind, store::TokenKind::kAccess);
  EXPECT_EQ(minted.refresh.kind, store::TokenKind::kRefresh);
  EXPECT_EQ(minted.refresh.expires_at, now + absl::Hours(24 * 30));
  absl::StatusOr<rapidjson::Document> body = json::Parse(TokenResponseBody(minted, "mcp"));
  ASSERT_TRUE(body.ok());
  EXPECT_STREQ((*body)["token_type"].GetString(), "Bearer");
  EXPECT_EQ((*body)["expires_in"].GetInt(), 600);
  EXPECT_STREQ((*body)["scope"].GetString(), "mcp");
}

TEST(TokenIssuerTest, PlainPairsCarryTheUpstreamTokenAndItsHash) {
  token::KeyRing keys = *token::KeyRing::Create({token::KeyRing::GenerateKey("k")});
  store::Grant grant;
  grant.upstream_access_token = "gho_upstream";
  TokensConfig config;
  config.sealed = false;
  MintedTokens minted = MintTokens(grant, config, keys, absl::Now());
  std::string scratch;
  absl::StatusOr<token::SplitPair> pair = token::DecodePair(minted.access_token, scratch);
  ASSERT_TRUE(pair.ok());
  EXPECT_EQ(pair->upstream_part, "gho_upstream");
  EXPECT_EQ(minted.access.upstream_part_hash, crypto::SecretHash("gho_upstream"));
  EXPECT_EQ(minted.expires_in, absl::Hours(1));  // no upstream expiry: the gateway's TTL
  ASSERT_TRUE(token::DecodePair(minted.refresh_token, scratch).ok());  // no upstream refresh
}

http::FetchResponse Response(int status, std::string content_type, std::string body) {
  http::FetchResponse response;
  response.head.status = status;
  if (!content_type.empty()) {
    response.head.headers.Add("Content-Type", content_type);
  }
  response.body = std::move(body);
  return response;
}

TEST(UpstreamTokenResponseTest, ReadsJsonAndGithubsFormEncoding) {
  absl::StatusOr<UpstreamTokens> json = ParseTokenResponse(Response(
      200, "application/json; charset=utf-8",
      R"({"access_token":"a","refresh_token":"r","expires_in":"3600","token_type":"bearer"})"));
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->refresh_token, "r");
  EXPECT_EQ(json->expires_in, absl::Hours(1));
  absl::StatusOr<UpstreamTokens> form = ParseTokenResponse(Response(
      200, "application/x-www-form-urlencoded",
      "access_token=gho_16C7e42F292c6912E7710c838347Ae178B4a&scope=repo%2Cgist&token_type=bearer"));
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->access_token, "gho_16C7e42F292c6912E7710c838347Ae178B4a");
  EXPECT_EQ(form->scope, "repo,gist");
  EXPECT_FALSE(form->expires_in.has_value());
}

// Found by test/fuzz/registration_fuzzer: JSON nested a million deep (a 2 MB body) overflowed the
// stack of the parser, which recursed once per level.
TEST(JsonTest, DeepNestingIsRefusedWithoutOverflowingTheStack) {
  const std::string nested = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  std::string error_code;
  absl::StatusOr<ParsedRegistration> registration =
      ParseRegistration(absl::StrCat(R"({"redirect_uris":)", nested, "}"), &error_code);
  EXPECT_FALSE(registration.ok());
  EXPECT_EQ(error_code, "invalid_redirect_uri");
  EXPECT_EQ(ParseTokenResponse(Response(200, "application/json", nested)).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_FALSE(ParseClientMetadata("https://client.example/metadata.json", nested).ok());
}

// Found by test/fuzz/token_response_fuzzer: a number too large for int64 was converted anyway.
TEST(UpstreamTokenResponseTest, ReadsAnyNumberAsExpiry) {
  auto expiry = [](absl::string_view expires_in) {
    absl::StatusOr<UpstreamTokens> tokens = ParseTokenResponse(
        Response(200, "application/json",
                 absl::StrCat(R"({"access_token":"a","expires_in":)", expires_in, "}")));
    EXPECT_TRUE(tokens.ok()) << tokens.status();
    return tokens.ok() ? tokens->expires_in : std::nullopt;
  };
  EXPECT_EQ(expiry("28800"), absl::Hours(8));
  EXPECT_EQ(expiry("3599.9"), absl::Seconds(3599));
  EXPECT_EQ(expiry("1e300"), std::nullopt);
  EXPECT_EQ(expiry("-1e300"), std::nullopt);
  EXPECT_EQ(expiry("18446744073709551615"), std::nullopt);
  EXPECT_EQ(expiry("-5"), std::nullopt);
}

TEST(UpstreamTokenResponseTest, TreatsGithubs200WithAnErrorAsAnError) {
  absl::StatusOr<UpstreamTokens> tokens = ParseTokenResponse(Response(
      200, "application/x-www-form-urlencoded",
      "error=bad_verification_code&error_description=The+code+passed+is+incorrect+or+expired."));
  ASSERT_FALSE(tokens.ok());
  EXPECT_THAT(tokens.status().message(), HasSubstr("invalid_grant"));
  EXPECT_FALSE(ParseTokenResponse(Response(500, "text/html", "<html>")).ok());
  EXPECT_FALSE(ParseTokenResponse(Response(200, "application/json", "{}")).ok());
}

TEST(UpstreamTokenResponseTest, TellsAGoneGrantFromTroubleFromARefusal) {
  auto code = [](int status, std::string content_type, std::string body) {
    return ParseTokenResponse(Response(status, std::move(content_type), std::move(body)))
        .status()
        .code();
  };
  using absl::StatusCode;
  // The authorization is gone: authorize again.
  EXPECT_EQ(code(400, "application/json", R"({"error":"invalid_grant"})"),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(code(200, "application/x-www-form-urlencoded", "error=bad_refresh_token"),
            StatusCode::kPermissionDenied);
  // The upstream is in trouble: try again later.
  EXPECT_EQ(code(500, "text/html", "<html>"), StatusCode::kUnavailable);
  EXPECT_EQ(code(503, "application/json", R"({"error":"invalid_request"})"),
            StatusCode::kUnavailable);
  EXPECT_EQ(code(400, "application/json", R"({"error":"temporarily_unavailable"})"),
            StatusCode::kUnavailable);
  EXPECT_EQ(code(429, "text/plain", "slow down"), StatusCode::kUnavailable);
  EXPECT_EQ(code(200, "application/json", "{not json"), StatusCode::kUnavailable);
  // The upstream refuses the gateway itself.
  EXPECT_EQ(code(401, "application/json", R"({"error":"invalid_client"})"),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(code(200, "application/x-www-form-urlencoded", "error=incorrect_client_credentials"),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(code(404, "text/html", "<html>"), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(IsTransient(absl::DeadlineExceededError("slow")));
  EXPECT_FALSE(IsTransient(absl::PermissionDeniedError("invalid_grant: gone")));
}

TEST(BearerChallengeTest, ReadsTheBearerChallengeAmongOthers) {
  BearerChallengeParams params = ParseBearerChallenge(
      R"(Basic realm="a, b", Bearer error="insufficient_scope", )"
      R"(error_description="needs scope=\"x\"", scope="repo admin:org",)"
      R"( resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp")");
  EXPECT_TRUE(params.present);
  EXPECT_EQ(params.error, "insufficient_scope");
  EXPECT_EQ(params.scope, "repo admin:org");
  EXPECT_EQ(params.resource_metadata,
            "https://mcp.example/.well-known/oauth-protected-resource/mcp");
  // Unquoted values, any case of the scheme, a challenge after it that is not read.
  params = ParseBearerChallenge(R"(bearer error=invalid_token, scope=read, Negotiate abc==)");
  EXPECT_EQ(params.error, "invalid_token");
  EXPECT_EQ(params.scope, "read");
  // Another scheme's parameters are not the Bearer challenge's.
  params = ParseBearerChallenge(R"(Basic scope="stolen", Bearer realm="x")");
  EXPECT_TRUE(params.present);
  EXPECT_EQ(params.scope, "");
  EXPECT_FALSE(ParseBearerChallenge(R"(Basic realm="x")").present);
  // A scope with characters no scope-token has is dropped (it may go into the gateway's header).
  EXPECT_EQ(ParseBearerChallenge("Bearer scope=\"a\\\"b\"").scope, "");
  EXPECT_EQ(ParseBearerChallenge("Bearer scope=\"a\tb\"").scope, "");
  // Any of several WWW-Authenticate fields.
  http::HeaderMap headers;
  headers.Add("WWW-Authenticate", R"(Basic realm="x")");
  headers.Add("www-authenticate", R"(Bearer scope="s")");
  EXPECT_EQ(FindBearerChallenge(headers).scope, "s");
}

TEST(ResourceCheckTest, ComparesResourcesAsUrls) {
  EXPECT_TRUE(SameResource("https://api.example/mcp", "https://api.example/mcp/"));
  EXPECT_TRUE(SameResource("HTTPS://API.example:443/mcp", "https://api.example/mcp"));
  EXPECT_TRUE(SameResource("http://127.0.0.1:3000", "http://127.0.0.1:3000/"));
  EXPECT_FALSE(SameResource("https://evil.example/mcp", "https://api.example/mcp"));
  EXPECT_FALSE(SameResource("https://api.example/mcp/other", "https://api.example/mcp"));
  EXPECT_FALSE(SameResource("http://api.example/mcp", "https://api.example/mcp"));
  EXPECT_FALSE(SameResource("https://api.example:8443/mcp", "https://api.example/mcp"));
  EXPECT_FALSE(SameResource("", "https://api.example/mcp"));
}

TEST(UpstreamAddressPolicyTest, OnlyHostsTheConfigurationNamesMayBePrivate) {
  UpstreamConfig config;
  config.rs = "http://localhost:3000/mcp";
  config.token_endpoint = "https://login.internal/token";
  auto policy = [&](const char* url) { return UpstreamAddressPolicy(config, *ParseUrl(url)); };
  EXPECT_EQ(policy("http://localhost:3001/oauth"), http::AddressPolicy::kAny);
  EXPECT_EQ(policy("https://login.internal/register"), http::AddressPolicy::kAny);
  EXPECT_EQ(policy("http://127.0.0.1:3001/oauth"), http::AddressPolicy::kPublicOnly);
  EXPECT_EQ(policy("http://169.254.169.254/latest"), http::AddressPolicy::kPublicOnly);
  config.as = "http://127.0.0.1:3001";
  EXPECT_EQ(policy("http://127.0.0.1:3001/oauth"), http::AddressPolicy::kAny);
}

TEST(DiscoveryUrlTest, InsertsTheWellKnownSuffixBeforeThePath) {
  EXPECT_EQ(ProtectedResourceMetadataUrl(*ParseUrl("https://api.githubcopilot.com/mcp/")),
            "https://api.githubcopilot.com/.well-known/oauth-protected-resource/mcp");
  EXPECT_EQ(ProtectedResourceMetadataUrl(*ParseUrl("http://127.0.0.1:3001/")),
            "http://127.0.0.1:3001/.well-known/oauth-protected-resource");
  EXPECT_EQ(AuthorizationServerMetadataUrl(*ParseUrl("https://github.com/login/oauth")),
            "https://github.com/.well-known/oauth-authorization-server/login/oauth");
  EXPECT_EQ(OpenIdConfigurationAppendedUrl(*ParseUrl("https://accounts.example/tenant/")),
            "https://accounts.example/tenant/.well-known/openid-configuration");
}

TEST(PagesTest, EscapesEverythingAndForbidsFraming) {
  http::LocalReply page = RenderLogin(
      LoginPage{"flow\"", "csrf", "<script>alert(1)</script>", "x' onmouseover='y", "bad & worse"});
  EXPECT_THAT(page.body, Not(HasSubstr("<script>alert")));
  EXPECT_THAT(page.body, HasSubstr("&lt;script&gt;"));
  EXPECT_THAT(page.body, HasSubstr("x&#39; onmouseover=&#39;y"));
  EXPECT_THAT(page.body, HasSubstr("value=\"flow&quot;\""));
  EXPECT_EQ(*page.headers.Get("X-Frame-Options"), "DENY");
  EXPECT_THAT(*page.headers.Get("Content-Security-Policy"), HasSubstr("frame-ancestors 'none'"));
  EXPECT_EQ(*page.headers.Get("Cache-Control"), "no-store");
}

TEST(ClientMetadataTest, RecognisesMetadataDocumentUrls) {
  EXPECT_TRUE(IsClientMetadataUrl("https://app.example/oauth/client.json"));
  EXPECT_FALSE(IsClientMetadataUrl("https://app.example/"));
  EXPECT_FALSE(IsClientMetadataUrl("http://app.example/client.json"));
  EXPECT_FALSE(IsClientMetadataUrl("https://user@app.example/client.json"));
  EXPECT_FALSE(IsClientMetadataUrl("q1w2e3r4"));
}

TEST(ClientMetadataTest, ValidatesTheDocument) {
  const std::string url = "https://app.example/client.json";
  absl::StatusOr<store::Client> client = ParseClientMetadata(
      url, R"({"client_id":"https://app.example/client.json","client_name":"App",)"
           R"("redirect_uris":["http://127.0.0.1:3000/cb"]})");
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->client_id, url);
  EXPECT_EQ(client->client_name, "App (app.example)");  // the host vouches, not the name
  EXPECT_EQ(client->auth_method, "none");
  EXPECT_THAT(ParseClientMetadata(url, R"({"client_id":"https://evil.example/c.json",)"
                                       R"("redirect_uris":["http://127.0.0.1/cb"]})")
                  .status()
                  .message(),
              HasSubstr("not the URL it was fetched from"));
  EXPECT_FALSE(ParseClientMetadata(url, R"({"client_id":"https://app.example/client.json"})").ok());
  EXPECT_FALSE(ParseClientMetadata(url, R"({"client_id":"https://app.example/client.json",)"
                                        R"json("redirect_uris":["javascript:alert(1)"]})json")
                   .ok());
  EXPECT_FALSE(ParseClientMetadata(url, R"({"client_id":"https://app.example/client.json",)"
                                        R"("redirect_uris":["https://app.example/cb"],)"
                                        R"("token_endpoint_auth_method":"private_key_jwt"})")
                   .ok());
  EXPECT_FALSE(ParseClientMetadata(url, "not json").ok());
}

}  // namespace
}  // namespace gateway::oauth

// The security suite (issue 7): the real gateway binary, attacked end to end. Every case sends
// what an attacker would and asserts the exact outcome: the status, the OAuth error code and
// challenge, that nothing was stored (store limits of 1 show a refused request took no room),
// that the upstream was never contacted (the in-process upstream counts what reaches it), and
// that the gateway still serves its rightful client afterwards. The last case collects every
// secret issued during whole flows and finds none in the gateway's output or error bodies.
//
// The GitHub-like fake authorizes (a Node process, about 0.2 s to start); MCP requests go to an
// in-process upstream the test controls. Each case starts its own gateway, logging at debug.

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "source/common/crypto.h"
#include "source/common/json.h"
#include "source/common/oauth/form.h"
#include "source/common/token/token_pair.h"
#include "test/e2e/gateway_fixture.h"
#include "test/e2e/upstream_servers.h"
#include "test/support/files.h"

namespace gateway::e2e {
namespace {

using namespace std::string_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RawClient;

constexpr char kRpc[] = R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})";
constexpr char kAppRedirect[] = "https://app.example/cb";

// The "error" of a JSON error body, or "(not JSON)".
std::string ErrorOf(const RawResponse& response) {
  absl::StatusOr<rapidjson::Document> json = json::Parse(response.body);
  return json.ok() && json->IsObject() ? JsonString(*json, "error") : "(not JSON)";
}

// An OAuth error reply: `status` and `error` in its JSON body.
void ExpectError(const RawResponse& response, int status, absl::string_view error) {
  EXPECT_EQ(response.status, status) << response.body;
  EXPECT_EQ(ErrorOf(response), error) << response.body;
}

// A token as the client holds it, split into its halves.
struct Halves {
  std::string gateway;
  std::string upstream;
};
Halves Split(const std::string& token) {
  std::string scratch;
  absl::StatusOr<token::SplitPair> pair = token::DecodePair(token, scratch);
  EXPECT_TRUE(pair.ok()) << token;
  return pair.ok() ? Halves{std::string(pair->gateway_half), std::string(pair->upstream_part)}
                   : Halves{};
}

class AdversarialE2eTest : public GatewayFixture {
 protected:
  // The gateway in front of the GitHub-like authorization server, MCP requests going to
  // `resource_port` (the recording upstream_ when 0). `extra_yaml`: more top-level keys.
  void Start(absl::string_view extra_yaml = "", uint16_t resource_port = 0) {
    StartGithubLikeUpstream(absl::StrCat(
        "http://127.0.0.1:", resource_port != 0 ? resource_port : upstream_.port(), "/mcp"));
    StartGateway(
        absl::StrCat(ChainWith("{response_timeout: 1s}"), "log: {level: debug}\n", extra_yaml));
  }

  // Start() and a whole authorization for client_ (tokens_).
  void StartAndLogIn(absl::string_view extra_yaml = "", uint16_t resource_port = 0) {
    Start(extra_yaml, resource_port);
    tokens_ = Login(&client_);
  }

  // A gateway whose upstream is never reached (for what is refused before any upstream work).
  void StartWithoutUpstream(absl::string_view extra_yaml = "") {
    upstream_section_ = "  rs: http://127.0.0.1:9/mcp\n";
    StartGateway(absl::StrCat("log: {level: debug}\n", extra_yaml));
  }

  // MCP requests that reached the recording upstream.
  int Forwarded() const { return upstream_.received().count(); }

  RawResponse Send(const HttpRequest& request) {
    absl::StatusOr<RawResponse> response = testing::Send(Port(), request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : RawResponse();
  }

  // Sends `bytes` on a fresh connection; returns the first response (status 0 if none came)
  // and whether the gateway then closed the connection.
  std::pair<RawResponse, bool> SendRaw(const std::string& bytes) {
    absl::StatusOr<RawClient> client = RawClient::Connect(Port());
    EXPECT_TRUE(client.ok());
    EXPECT_TRUE(client->Send(bytes));
    absl::StatusOr<RawResponse> response = client->ReadResponse();
    if (!response.ok()) {
      return {RawResponse(), true};
    }
    return {*response, client->WaitForClose(absl::Seconds(5))};
  }

  // A GET event stream through the gateway with tokens_, read up to its first event.
  RawClient OpenEventStream() {
    absl::StatusOr<RawClient> client = RawClient::Connect(port_);
    EXPECT_TRUE(client.ok());
    EXPECT_TRUE(client->Send(absl::StrCat(
        "GET /mcp HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nAuthorization: Bearer ",
        tokens_.access, "\r\n\r\n")));
    absl::StatusOr<RawResponse> head = client->ReadHead();
    EXPECT_TRUE(head.ok() && head->status == 200) << head.status();
    EXPECT_THAT(client->ReadSome(absl::Seconds(5)), HasSubstr("event 1"));
    return std::move(*client);
  }

  // A 401 or 400 from the MCP endpoint, with its RFC 6750 challenge: `error` in it, or no
  // error at all when empty (a request without credentials, section 3.1).
  void ExpectChallenge(const RawResponse& response, int status, absl::string_view error) {
    EXPECT_EQ(response.status, status) << response.body;
    const std::string challenge = response.Header("www-authenticate");
    EXPECT_THAT(challenge, HasSubstr(absl::StrCat("resource_metadata=\"http://localhost:", port_,
                                                  "/.well-known/oauth-protected-resource/mcp\"")));
    if (error.empty()) {
      EXPECT_THAT(challenge, Not(HasSubstr("error=")));
    } else {
      EXPECT_THAT(challenge, HasSubstr(absl::StrCat("error=\"", error, "\"")));
      EXPECT_EQ(ErrorOf(response), error);
    }
  }

  // The gateway still serves: health, and the rightful client's token reaches the upstream.
  void ExpectStillServing() {
    EXPECT_EQ(Get("/healthz").status, 200);
    if (!tokens_.access.empty()) {
      const int before = Forwarded();
      RawResponse response = Mcp(tokens_.access, kRpc);
      EXPECT_EQ(response.status, 200) << response.body;
      EXPECT_EQ(Forwarded(), before + 1);
    }
  }

  // /register with these redirect URIs (a public client).
  RawResponse RegisterWith(const std::vector<std::string>& redirect_uris,
                           absl::string_view client_name = "App") {
    json::Writer body;
    body->StartObject();
    body.Key("redirect_uris");
    body->StartArray();
    for (const std::string& uri : redirect_uris) {
      body.String(uri);
    }
    body->EndArray();
    body.Key("token_endpoint_auth_method");
    body.String("none");
    body.Key("client_name");
    body.String(client_name);
    body->EndObject();
    return Send(
        HttpRequest{"POST", "/register", {{"Content-Type", "application/json"}}, body.Finish()});
  }

  // A fresh authorization up to the client's code: {code, verifier}.
  std::pair<std::string, Pkce> CodeFor(const Client& client, const std::string& state = "s") {
    Pkce pkce = testing::MakePkce();
    const std::string redirect = Authorize(client, pkce, state);
    EXPECT_TRUE(absl::StartsWith(redirect, kRedirect)) << redirect;
    return {testing::QueryOf(redirect)["code"], pkce};
  }

  std::vector<std::pair<std::string, std::string>> Redemption(const Client& client,
                                                              const std::string& code,
                                                              const std::string& verifier) {
    return {{"grant_type", "authorization_code"},
            {"code", code},
            {"redirect_uri", kRedirect},
            {"code_verifier", verifier},
            {"client_id", client.id}};
  }

  RawResponse RefreshRequest(const Client& client, const std::string& refresh_token) {
    return TokenRequest({{"grant_type", "refresh_token"},
                         {"refresh_token", refresh_token},
                         {"client_id", client.id}});
  }

  // `requests` copies of one request at once, each on its own connection: "STATUS BODY" each.
  std::vector<std::string> AllAtOnce(const HttpRequest& request, int requests) {
    std::vector<std::string> answers(requests);
    std::vector<std::thread> threads;
    for (int i = 0; i < requests; ++i) {
      threads.emplace_back([&, i] {
        absl::StatusOr<RawResponse> response = testing::Send(Port(), request);
        answers[i] = response.ok() ? absl::StrCat(response->status, " ", response->body)
                                   : response.status().ToString();
      });
    }
    for (std::thread& thread : threads) {
      thread.join();
    }
    return answers;
  }

  Seen seen_;
  ResourceServer upstream_{Recording(seen_)};
  Client client_;
  Tokens tokens_;
};

// --- Token tampering: every forged token is refused with 401 invalid_token (400
// invalid_request for a malformed request, RFC 6750 section 3.1) and never forwarded ---

// What a forger holds: its own pair, another user's, and a raw upstream token.
struct Forgery {
  Tokens mine;
  Halves my_halves;
  Halves other_halves;
  std::string raw_upstream_token;
};

struct TamperCase {
  const char* name;
  std::function<HttpRequest(const Forgery&)> request;
  int status;
  const char* error;  // in the challenge and the body; "" for a challenge without one
};
void PrintTo(const TamperCase& row, std::ostream* out) { *out << row.name; }

HttpRequest McpPost(std::string authorization, std::string target = "/mcp") {
  return HttpRequest{
      "POST",
      std::move(target),
      {{"Authorization", std::move(authorization)}, {"Content-Type", "application/json"}},
      kRpc};
}
HttpRequest Bearer(const std::string& token) { return McpPost("Bearer " + token); }
HttpRequest BearerPair(absl::string_view gateway, absl::string_view upstream) {
  return Bearer(token::EncodePair(gateway, upstream));
}
HttpRequest BearerRaw(absl::string_view decoded) {
  return Bearer(crypto::Base64UrlEncode(decoded));
}

const TamperCase kTamperCases[] = {
    {"SwappedHalves",
     [](const Forgery& f) { return BearerPair(f.my_halves.upstream, f.my_halves.gateway); }, 401,
     "invalid_token"},
    {"GatewayHalfWithAnotherTokensUpstreamHalf",
     [](const Forgery& f) { return BearerPair(f.my_halves.gateway, f.other_halves.upstream); }, 401,
     "invalid_token"},
    {"AnotherTokensGatewayHalfWithThisUpstreamHalf",
     [](const Forgery& f) { return BearerPair(f.other_halves.gateway, f.my_halves.upstream); }, 401,
     "invalid_token"},
    {"GatewayHalfWithARawUpstreamToken",
     [](const Forgery& f) { return BearerPair(f.my_halves.gateway, f.raw_upstream_token); }, 401,
     "invalid_token"},
    {"CrLfInTheGatewayHalf",
     [](const Forgery& f) {
       return BearerPair(f.my_halves.gateway + "\r\nX-Injected: 1", f.my_halves.upstream);
     },
     401, "invalid_token"},
    {"CrLfInTheUpstreamHalf",
     [](const Forgery& f) {
       return BearerPair(f.my_halves.gateway, f.my_halves.upstream + "\r\nX-Injected: 1");
     },
     401, "invalid_token"},
    {"CrLfAsTheWholeRawUpstreamHalf",
     [](const Forgery& f) { return BearerPair(f.my_halves.gateway, "gho_x\r\nX-Injected: 1"); },
     401, "invalid_token"},
    {"NulInTheGatewayHalf",
     [](const Forgery& f) {
       return BearerPair(f.my_halves.gateway + std::string(1, '\0'), f.my_halves.upstream);
     },
     401, "invalid_token"},
    {"NulInTheUpstreamHalf",
     [](const Forgery& f) {
       return BearerPair(f.my_halves.gateway, std::string(1, '\0') + f.my_halves.upstream);
     },
     401, "invalid_token"},
    {"NoColon",
     [](const Forgery& f) { return BearerRaw(f.my_halves.gateway + f.my_halves.upstream); }, 401,
     "invalid_token"},
    {"OnlyAColon", [](const Forgery&) { return BearerRaw(":"); }, 401, "invalid_token"},
    {"EmptyGatewayHalf", [](const Forgery& f) { return BearerRaw(":" + f.my_halves.upstream); },
     401, "invalid_token"},
    {"EmptyUpstreamHalf", [](const Forgery& f) { return BearerRaw(f.my_halves.gateway + ":"); },
     401, "invalid_token"},
    {"TwoColonsBetweenTheHalves",
     [](const Forgery& f) {
       return BearerRaw(absl::StrCat(f.my_halves.gateway, "::", f.my_halves.upstream));
     },
     401, "invalid_token"},
    {"ManyColons",
     [](const Forgery& f) {
       return BearerRaw(absl::StrCat(f.my_halves.gateway, ":", f.my_halves.upstream, ":",
                                     f.my_halves.upstream, ":::"));
     },
     401, "invalid_token"},
    {"LeadingColon",
     [](const Forgery& f) {
       return BearerRaw(absl::StrCat(":", f.my_halves.gateway, ":", f.my_halves.upstream));
     },
     401, "invalid_token"},
    {"NotBase64url",
     [](const Forgery& f) {
       std::string token = f.mine.access;
       token[token.size() / 2] = '*';
       return Bearer(token);
     },
     401, "invalid_token"},
    {"StandardBase64Alphabet",
     [](const Forgery& f) {
       return Bearer(absl::StrReplaceAll(f.mine.access, {{"-", "+"}, {"_", "/"}}) + "+/");
     },
     401, "invalid_token"},
    {"OneCharacterChanged",
     [](const Forgery& f) {
       std::string token = f.mine.access;
       char& last = token[token.size() - 2];
       last = last == 'A' ? 'B' : 'A';
       return Bearer(token);
     },
     401, "invalid_token"},
    {"Truncated",
     [](const Forgery& f) { return Bearer(f.mine.access.substr(0, f.mine.access.size() - 4)); },
     401, "invalid_token"},
    {"TrailingGarbage", [](const Forgery& f) { return Bearer(f.mine.access + "AAAA"); }, 401,
     "invalid_token"},
    {"Quoted", [](const Forgery& f) { return Bearer("\"" + f.mine.access + "\""); }, 401,
     "invalid_token"},
    {"FiveKilobytes",
     [](const Forgery& f) { return Bearer(f.mine.access + std::string(5000, 'A')); }, 401,
     "invalid_token"},
    {"RefreshTokenAsAccessToken", [](const Forgery& f) { return Bearer(f.mine.refresh); }, 401,
     "invalid_token"},
    {"BasicScheme", [](const Forgery& f) { return McpPost("Basic " + f.mine.access); }, 401,
     "invalid_token"},
    {"EmptyBearer", [](const Forgery&) { return McpPost("Bearer "); }, 401, "invalid_token"},
    {"NoAuthorization",
     [](const Forgery&) {
       return HttpRequest{"POST", "/mcp", {{"Content-Type", "application/json"}}, kRpc};
     },
     401, ""},
    {"AccessTokenInTheQuery",
     [](const Forgery& f) {
       return HttpRequest{"POST",
                          "/mcp?access_token=" + f.mine.access,
                          {{"Content-Type", "application/json"}},
                          kRpc};
     },
     400, "invalid_request"},
    {"AccessTokenInTheQueryAndTheHeader",
     [](const Forgery& f) {
       return McpPost("Bearer " + f.mine.access, "/mcp?x=1&access_token=" + f.mine.access);
     },
     400, "invalid_request"},
    {"TwoAuthorizationHeaders",
     [](const Forgery& f) {
       HttpRequest request = Bearer(f.mine.access);
       request.headers.emplace_back("Authorization", "Bearer " + f.mine.access);
       return request;
     },
     400, "invalid_request"},
};

class TamperedTokenTest : public AdversarialE2eTest,
                          public ::testing::WithParamInterface<TamperCase> {};

TEST_P(TamperedTokenTest, IsRefusedAndNeverForwarded) {
  StartAndLogIn();
  Forgery forgery;
  forgery.mine = tokens_;
  forgery.my_halves = Split(tokens_.access);
  forgery.other_halves = Split(Login().access);
  forgery.raw_upstream_token = StateList(UpstreamState(), "issued_access_tokens").front();
  ASSERT_TRUE(absl::StartsWith(forgery.raw_upstream_token, "gho_"));
  RawResponse response = Send(GetParam().request(forgery));
  ExpectChallenge(response, GetParam().status, GetParam().error);
  EXPECT_EQ(Forwarded(), 0);
  ExpectStillServing();  // nothing was revoked by the attempt
  // The upstream only ever saw the upstream token of the one real request.
  EXPECT_THAT(upstream_.received().authorizations(),
              ElementsAre("Bearer " + forgery.raw_upstream_token));
}

INSTANTIATE_TEST_SUITE_P(Adversarial, TamperedTokenTest, ::testing::ValuesIn(kTamperCases),
                         [](const auto& info) { return std::string(info.param.name); });

// tokens.format: plain (the original tool's pair, documented as weaker) binds the halves by hash
// instead of sealing: a client holding its own raw upstream token still cannot pair it, or
// anything else, with another gateway half.
TEST_F(AdversarialE2eTest, PlainTokensAreBoundToTheirOwnUpstreamHalfToo) {
  StartAndLogIn("tokens: {format: plain}\n");
  const Halves mine = Split(tokens_.access);
  ASSERT_TRUE(absl::StartsWith(mine.upstream, "gho_"));
  const Halves other = Split(Login().access);
  for (const HttpRequest& forged :
       {BearerPair(mine.gateway, other.upstream), BearerPair(other.gateway, mine.upstream),
        BearerPair(mine.upstream, mine.gateway),
        BearerPair(mine.gateway, mine.upstream + "\r\nX-Injected: 1")}) {
    ExpectChallenge(Send(forged), 401, "invalid_token");
  }
  EXPECT_EQ(Forwarded(), 0);
  ExpectStillServing();
}

TEST_F(AdversarialE2eTest, ABearerSchemeInAnyCaseIsAccepted) {
  StartAndLogIn();
  RawResponse response = Send(McpPost("bEaReR " + tokens_.access));
  EXPECT_EQ(response.status, 200) << response.body;  // RFC 9110 section 11.1
  EXPECT_EQ(Forwarded(), 1);
}

TEST_F(AdversarialE2eTest, ATokenOfSixtyFourKilobytesIs431AtOnce) {
  StartAndLogIn();
  const absl::Time start = absl::Now();
  auto [response, closed] =
      SendRaw(absl::StrCat("POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ",
                           std::string(64 << 10, 'A'), "\r\nContent-Length: 2\r\n\r\n{}"));
  ExpectError(response, 431, "invalid_request");
  EXPECT_TRUE(closed);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(Forwarded(), 0);
  ExpectStillServing();
}

TEST_F(AdversarialE2eTest, ARevokedTokenIsRefusedAndNeverForwarded) {
  StartAndLogIn();
  // Used first, so that the worker remembers it (and its record) when it is revoked.
  for (int request = 0; request < 2; ++request) {
    EXPECT_EQ(Mcp(tokens_.access, kRpc).status, 200) << request;
  }
  EXPECT_EQ(PostForm("/revoke", {{"token", tokens_.access}, {"client_id", client_.id}}).status,
            200);
  ExpectChallenge(Mcp(tokens_.access, kRpc), 401, "invalid_token");
  EXPECT_EQ(Forwarded(), 2);
}

// --- Redirect URIs at /register (RFC 7591 section 3.2.2: invalid_redirect_uri) ---

class RegisteredRedirectUriTest : public AdversarialE2eTest,
                                  public ::testing::WithParamInterface<const char*> {};

TEST_P(RegisteredRedirectUriTest, IsRefusedAndNothingIsStored) {
  StartWithoutUpstream("store: {max_clients: 1}\n");
  RawResponse refused = RegisterWith({GetParam()});
  ExpectError(refused, 400, "invalid_redirect_uri");
  EXPECT_THAT(refused.body, Not(HasSubstr("client_id")));
  // The refusal took no room: the one client allowed still registers, and then no other.
  EXPECT_EQ(RegisterWith({kRedirect}).status, 201);
  RawResponse full = RegisterWith({kRedirect});
  EXPECT_EQ(full.status, 429) << full.body;
}

// Registration is open to anyone, so each client address may register only so many clients in
// a window (registration.max_per_address); refusals take no room in the store.
TEST_F(AdversarialE2eTest, RegistrationsPerAddressAreLimited) {
  StartWithoutUpstream("store: {max_clients: 3}\nregistration: {max_per_address: 2, window: 1h}\n");
  auto register_from = [&](const char* source_ip, const std::string& body) {
    absl::StatusOr<RawClient> client = RawClient::Connect(Port(), "127.0.0.1", source_ip);
    EXPECT_TRUE(client.ok()) << client.status();
    EXPECT_TRUE(client->Send(
        absl::StrCat("POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: ",
                     body.size(), "\r\n\r\n", body)));
    absl::StatusOr<RawResponse> response = client->ReadResponse();
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : RawResponse();
  };
  const std::string valid = absl::StrCat(R"({"redirect_uris":[")", kRedirect,
                                         R"("],"token_endpoint_auth_method":"none"})");
  // Malformed registrations are refused before counting: they do not use up the allowance.
  for (int i = 0; i < 3; ++i) {
    ExpectError(register_from("127.0.0.1", "{not json"), 400, "invalid_client_metadata");
  }
  EXPECT_EQ(register_from("127.0.0.1", valid).status, 201);
  EXPECT_EQ(register_from("127.0.0.1", valid).status, 201);
  RawResponse limited = register_from("127.0.0.1", valid);
  ExpectError(limited, 429, "too_many_requests");
  EXPECT_EQ(limited.Header("retry-after"), "3600");
  EXPECT_THAT(limited.body, Not(HasSubstr("client_id")));
  EXPECT_TRUE(gateway_->WaitForOutput("registrations over the limit from 127.0.0.1"));
  // Another address has its own allowance, and the refused registration took no room: the store
  // (3 clients) has exactly one place left.
  EXPECT_EQ(register_from("127.0.0.2", valid).status, 201);
  RawResponse full = register_from("127.0.0.2", valid);
  EXPECT_EQ(full.status, 429) << full.body;
  EXPECT_THAT(full.body, HasSubstr("as many registered clients"));
  EXPECT_EQ(Get("/healthz").status, 200);
}

INSTANTIATE_TEST_SUITE_P(
    Adversarial, RegisteredRedirectUriTest,
    ::testing::Values("https://good.example@evil.example/cb", "http://127.0.0.1@evil.example/cb",
                      "http://localhost.evil.com/cb", "http://127.0.0.1.nip.io/cb",
                      "http:/\\evil.example/cb", "https:/\\evil.example/cb",
                      "http://evil.example%2F@127.0.0.1/cb", "http://evil.example/cb",
                      "javascript:alert(1)//", "JavaScript:alert(1)", "data:text/html,<script>",
                      "file:///etc/passwd", "https://app.example/cb#fragment",
                      "https://app.example/c b", "//evil.example/cb", "/cb", ""));

// --- Redirect URIs at /authorize: exact match only (loopback: any port), else an error page,
// never a redirect (RFC 6749 section 4.1.2.1), and no flow stored ---

class PresentedRedirectUriTest : public AdversarialE2eTest,
                                 public ::testing::WithParamInterface<const char*> {};

TEST_P(PresentedRedirectUriTest, GetsAnErrorPageAndNoRedirect) {
  StartWithoutUpstream("store: {max_flows: 1}\n");
  RawResponse registered = RegisterWith({kRedirect, kAppRedirect});
  ASSERT_EQ(registered.status, 201);
  Client client{JsonString(*json::Parse(registered.body), "client_id"), ""};
  Pkce pkce = testing::MakePkce();
  const std::string query = AuthorizeQuery(client, pkce, "st");
  RawResponse refused = Get(
      "/authorize?" +
      absl::StrReplaceAll(query, {{oauth::FormEncode(kRedirect), oauth::FormEncode(GetParam())}}));
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_FALSE(refused.HasHeader("location"));
  EXPECT_THAT(refused.Header("content-type"), HasSubstr("text/html"));
  EXPECT_THAT(refused.body, HasSubstr("not one this application registered"));
  // No flow was stored: the one allowed goes to the rightful request, and then no other.
  RawResponse allowed = Get("/authorize?" + query);
  EXPECT_EQ(allowed.status, 302);
  EXPECT_THAT(allowed.Header("location"), HasSubstr("/login?flow="));
  EXPECT_EQ(Get("/authorize?" + query).status, 429);
}

INSTANTIATE_TEST_SUITE_P(
    Adversarial, PresentedRedirectUriTest,
    ::testing::Values(
        "http://127.0.0.1:9999/cb/", "http://127.0.0.1:9999/CB", "HTTP://127.0.0.1:9999/cb",
        "http://127.0.0.1:9999/cb?x=1", "http://127.0.0.1:9999/cb#x",
        "http://127.0.0.1:9999@evil.example/cb", "http://evil.example@127.0.0.1:9999/cb",
        "http://127.0.0.1:9999/\\evil.example", "http://127.0.0.1:9999/cb%2F..%2F..%2Fevil",
        "http://127.0.0.1:9999%2F@evil.example/cb", "http://localhost.evil.com:9999/cb",
        "http://localhost:9999/cb", "https://app.example/cb/", "https://APP.example/cb",
        "https://app.example:443/cb", "https://app.example/cb?", "https://app.example.evil.com/cb",
        "https://app.example/cb%2F..%2Fevil", "https://app.example\\@evil.example/cb",
        "https://evil.example/cb"));

TEST_F(AdversarialE2eTest, ALoopbackRedirectUriMayUseAnyPort) {
  StartWithoutUpstream();
  Client client = Register();
  const std::string query = AuthorizeQuery(client, testing::MakePkce(), "st");
  RawResponse allowed = Get(
      "/authorize?" +
      absl::StrReplaceAll(
          query, {{oauth::FormEncode(kRedirect), oauth::FormEncode("http://127.0.0.1:41234/cb")}}));
  EXPECT_EQ(allowed.status, 302) << allowed.body;  // RFC 8252 section 7.3
  EXPECT_THAT(allowed.Header("location"), HasSubstr("/login?flow="));
}

// --- PKCE (RFC 7636; OAuth 2.1: S256 only) ---

struct AuthorizeCase {
  const char* name;
  std::vector<std::pair<std::string, std::string>> params;  // replace or add (value "" removes)
};
void PrintTo(const AuthorizeCase& row, std::ostream* out) { *out << row.name; }

class PkceDowngradeTest : public AdversarialE2eTest,
                          public ::testing::WithParamInterface<AuthorizeCase> {};

TEST_P(PkceDowngradeTest, IsRedirectedBackAsInvalidRequestWithoutAFlow) {
  StartWithoutUpstream("store: {max_flows: 1}\n");
  Client client = Register();
  Pkce pkce = testing::MakePkce();
  std::vector<std::pair<std::string, std::string>> params = {
      {"response_type", "code"},          {"client_id", client.id},
      {"redirect_uri", kRedirect},        {"state", "st"},
      {"code_challenge", pkce.challenge}, {"code_challenge_method", "S256"}};
  for (const auto& [name, value] : GetParam().params) {
    auto same = [&](const auto& param) { return param.first == name; };
    params.erase(std::remove_if(params.begin(), params.end(), same), params.end());
    if (!value.empty()) {
      params.emplace_back(name, value);
    }
  }
  RawResponse refused = Get("/authorize?" + oauth::EncodeForm(params));
  EXPECT_EQ(refused.status, 302) << refused.body;
  ASSERT_TRUE(absl::StartsWith(refused.Header("location"), kRedirect));
  std::map<std::string, std::string> result = testing::QueryOf(refused.Header("location"));
  EXPECT_EQ(result["error"], "invalid_request");
  EXPECT_EQ(result["state"], "st");
  EXPECT_EQ(result.count("code"), 0u);
  const std::string rightful = AuthorizeQuery(client, pkce, "st");
  EXPECT_EQ(Get("/authorize?" + rightful).status, 302);
  EXPECT_EQ(Get("/authorize?" + rightful).status, 429);  // the refusal stored no flow
}

const std::string kShortChallenge(42, 'a');
const std::string kLongChallenge(129, 'a');

INSTANTIATE_TEST_SUITE_P(
    Adversarial, PkceDowngradeTest,
    ::testing::Values(
        AuthorizeCase{"PlainMethod", {{"code_challenge_method", "plain"}}},
        AuthorizeCase{"NoMethod", {{"code_challenge_method", ""}}},
        AuthorizeCase{"LowerCaseMethod", {{"code_challenge_method", "s256"}}},
        AuthorizeCase{"NoChallenge", {{"code_challenge", ""}}},
        AuthorizeCase{"NoPkceAtAll", {{"code_challenge", ""}, {"code_challenge_method", ""}}},
        AuthorizeCase{"ShortChallenge", {{"code_challenge", kShortChallenge}}},
        AuthorizeCase{"LongChallenge", {{"code_challenge", kLongChallenge}}},
        AuthorizeCase{"ChallengeWithBase64Padding",
                      {{"code_challenge", std::string(43, 'a') + "="}}},
        AuthorizeCase{"ChallengeWithSpaces", {{"code_challenge", std::string(40, 'a') + "a b c"}}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(AdversarialE2eTest, ARepeatedParameterAtAuthorizeIsAnErrorPage) {
  StartWithoutUpstream();
  Client client = Register();
  const std::string query = AuthorizeQuery(client, testing::MakePkce(), "st");
  RawResponse refused = Get("/authorize?" + query + "&code_challenge_method=plain");
  EXPECT_EQ(refused.status, 400) << refused.body;  // RFC 6749 section 3.1: once each
  EXPECT_FALSE(refused.HasHeader("location"));
}

struct VerifierCase {
  const char* name;
  std::function<std::string(const Pkce&)> verifier;
  const char* error;
};
void PrintTo(const VerifierCase& row, std::ostream* out) { *out << row.name; }

class MalformedVerifierTest : public AdversarialE2eTest,
                              public ::testing::WithParamInterface<VerifierCase> {};

TEST_P(MalformedVerifierTest, IsRefusedAndLeavesTheCodeToItsClient) {
  Start();
  Client client = Register();
  auto [code, pkce] = CodeFor(client);
  RawResponse refused = TokenRequest(Redemption(client, code, GetParam().verifier(pkce)));
  ExpectError(refused, 400, GetParam().error);
  EXPECT_THAT(refused.body, Not(HasSubstr("access_token")));
  Tokens tokens = ParseTokens(TokenRequest(Redemption(client, code, pkce.verifier)));
  EXPECT_EQ(Mcp(tokens.access, kRpc).status, 200);
}

INSTANTIATE_TEST_SUITE_P(
    Adversarial, MalformedVerifierTest,
    ::testing::Values(
        VerifierCase{"Missing", [](const Pkce&) { return std::string(); }, "invalid_request"},
        VerifierCase{"Wrong", [](const Pkce&) { return testing::MakePkce().verifier; },
                     "invalid_grant"},
        VerifierCase{"TheChallengeItself", [](const Pkce& p) { return p.challenge; },
                     "invalid_grant"},
        VerifierCase{"TooShort", [](const Pkce& p) { return p.verifier.substr(0, 42); },
                     "invalid_grant"},
        VerifierCase{"TooLong", [](const Pkce& p) { return p.verifier + std::string(86, 'a'); },
                     "invalid_grant"},
        VerifierCase{"WithAReservedCharacter", [](const Pkce& p) { return p.verifier + "+"; },
                     "invalid_grant"},
        VerifierCase{"WithANul", [](const Pkce& p) { return p.verifier + std::string(1, '\0'); },
                     "invalid_grant"},
        VerifierCase{"WithTrailingSpace", [](const Pkce& p) { return p.verifier + " "; },
                     "invalid_grant"}),
    [](const auto& info) { return std::string(info.param.name); });

// --- Codes: single use, bound to their client; a replay revokes (RFC 6749 section 4.1.2) ---

TEST_F(AdversarialE2eTest, ACodeReplayIsRefusedAndRevokesWhatTheCodeGave) {
  Start();
  Client client = Register();
  auto [code, pkce] = CodeFor(client);
  Tokens tokens = ParseTokens(TokenRequest(Redemption(client, code, pkce.verifier)));
  EXPECT_EQ(Mcp(tokens.access, kRpc).status, 200);
  RawResponse replay = TokenRequest(Redemption(client, code, pkce.verifier));
  ExpectError(replay, 400, "invalid_grant");
  ExpectChallenge(Mcp(tokens.access, kRpc), 401, "invalid_token");
  EXPECT_EQ(ErrorOf(RefreshRequest(client, tokens.refresh)), "invalid_grant");
  EXPECT_EQ(Forwarded(), 1);
}

TEST_F(AdversarialE2eTest, AnotherClientCannotRedeemACodeNorSpoilIt) {
  Start();
  Client owner = Register("none", "Owner");
  Client thief = Register("none", "Thief");
  auto [code, pkce] = CodeFor(owner);
  RawResponse stolen = TokenRequest(Redemption(thief, code, pkce.verifier));
  ExpectError(stolen, 400, "invalid_grant");
  // A confidential client's code without its secret: the client is not authenticated.
  Client confidential = Register("client_secret_post", "Confidential");
  auto [secret_code, secret_pkce] = CodeFor(confidential);
  RawResponse anonymous = TokenRequest(Redemption(confidential, secret_code, secret_pkce.verifier));
  ExpectError(anonymous, 401, "invalid_client");
  // Both codes are still their owners'.
  EXPECT_EQ(Mcp(Redeem(owner, code, pkce).access, kRpc).status, 200);
  std::vector<std::pair<std::string, std::string>> with_secret =
      Redemption(confidential, secret_code, secret_pkce.verifier);
  with_secret.emplace_back("client_secret", confidential.secret);
  EXPECT_EQ(Mcp(ParseTokens(TokenRequest(with_secret)).access, kRpc).status, 200);
}

TEST_F(AdversarialE2eTest, AForgedCodeAndACodeForAnotherRedirectUriAreRefused) {
  Start();
  Client client = Register();
  auto [code, pkce] = CodeFor(client);
  EXPECT_EQ(ErrorOf(TokenRequest(Redemption(client, crypto::RandomToken(), pkce.verifier))),
            "invalid_grant");
  std::vector<std::pair<std::string, std::string>> moved = Redemption(client, code, pkce.verifier);
  moved[2].second = "http://127.0.0.1:41234/cb";  // loopback, another port: not the one authorized
  EXPECT_EQ(ErrorOf(TokenRequest(moved)), "invalid_grant");
  Redeem(client, code, pkce);
}

TEST_F(AdversarialE2eTest, TwentyParallelRedemptionsGiveOneWinnerWhoseTokensAreThenRevoked) {
  Start();
  Client client = Register();
  auto [code, pkce] = CodeFor(client);
  std::vector<std::string> answers =
      AllAtOnce(HttpRequest{"POST",
                            "/token",
                            {{"Content-Type", "application/x-www-form-urlencoded"}},
                            oauth::EncodeForm(Redemption(client, code, pkce.verifier))},
                20);
  int winners = 0;
  std::string access;
  for (const std::string& answer : answers) {
    if (absl::StartsWith(answer, "200 ")) {
      ++winners;
      access = JsonString(*json::Parse(answer.substr(4)), "access_token");
    } else {
      EXPECT_THAT(answer, HasSubstr("400 {\"error\":\"invalid_grant\""));
    }
  }
  EXPECT_EQ(winners, 1);
  // The others were replays: the grant, and the winner's tokens with it, are gone.
  ExpectChallenge(Mcp(access, kRpc), 401, "invalid_token");
  EXPECT_EQ(Forwarded(), 0);
}

// --- Refresh tokens: rotation, replay, binding to the client (RFC 9700 section 4.14) ---

TEST_F(AdversarialE2eTest, ARefreshReplayAfterRotationRevokesTheWholeFamily) {
  StartAndLogIn("tokens: {refresh_grace: 0s}\n");
  Tokens second = ParseTokens(RefreshRequest(client_, tokens_.refresh));
  RawResponse replay = RefreshRequest(client_, tokens_.refresh);
  ExpectError(replay, 400, "invalid_grant");
  ExpectChallenge(Mcp(second.access, kRpc), 401, "invalid_token");
  EXPECT_EQ(ErrorOf(RefreshRequest(client_, second.refresh)), "invalid_grant");
  EXPECT_EQ(Forwarded(), 0);
}

TEST_F(AdversarialE2eTest, AnotherClientCannotUseARefreshTokenNorSpoilIt) {
  StartAndLogIn();
  Client thief = Register("none", "Thief");
  RawResponse stolen = RefreshRequest(thief, tokens_.refresh);
  ExpectError(stolen, 400, "invalid_grant");
  RawResponse unknown = RefreshRequest(Client{"nobody", ""}, tokens_.refresh);
  ExpectError(unknown, 401, "invalid_client");
  Tokens refreshed = ParseTokens(RefreshRequest(client_, tokens_.refresh));
  EXPECT_EQ(Mcp(refreshed.access, kRpc).status, 200);
}

TEST_F(AdversarialE2eTest, ATamperedRefreshTokenIsRefusedAndSpoilsNothing) {
  StartAndLogIn();
  const Halves mine = Split(tokens_.refresh);
  const Halves other = Split(Login().refresh);
  for (const std::string& forged : {token::EncodePair(mine.upstream, mine.gateway),
                                    token::EncodePair(mine.gateway, other.upstream),
                                    token::EncodePair(other.gateway, mine.upstream), tokens_.access,
                                    tokens_.refresh + std::string(64 << 10, 'A')}) {
    RawResponse refused = RefreshRequest(client_, forged);
    EXPECT_EQ(refused.status, 400) << refused.body;
    EXPECT_EQ(ErrorOf(refused), "invalid_grant");
  }
  RawResponse wider = TokenRequest({{"grant_type", "refresh_token"},
                                    {"refresh_token", tokens_.refresh},
                                    {"client_id", client_.id},
                                    {"scope", "repo admin:org"}});
  EXPECT_EQ(ErrorOf(wider), "invalid_scope");
  EXPECT_EQ(Mcp(ParseTokens(RefreshRequest(client_, tokens_.refresh)).access, kRpc).status, 200);
}

TEST_F(AdversarialE2eTest, TwentyParallelRefreshesGetOneAnswerAndTheFamilyNeverForks) {
  StartAndLogIn();
  std::vector<std::string> answers =
      AllAtOnce(HttpRequest{"POST",
                            "/token",
                            {{"Content-Type", "application/x-www-form-urlencoded"}},
                            oauth::EncodeForm({{"grant_type", "refresh_token"},
                                               {"refresh_token", tokens_.refresh},
                                               {"client_id", client_.id}})},
                20);
  for (const std::string& answer : answers) {
    EXPECT_EQ(answer, answers[0]);
  }
  ASSERT_TRUE(absl::StartsWith(answers[0], "200 ")) << answers[0];
  absl::StatusOr<rapidjson::Document> json = json::Parse(answers[0].substr(4));
  ASSERT_TRUE(json.ok());
  const std::string access = JsonString(*json, "access_token");
  const std::string refresh = JsonString(*json, "refresh_token");
  EXPECT_EQ(Mcp(access, kRpc).status, 200);
  Tokens next = ParseTokens(RefreshRequest(client_, refresh));
  EXPECT_EQ(Mcp(next.access, kRpc).status, 200);
}

// --- The shared-state attack: flows are keyed by the gateway, never by the client's state ---

TEST_F(AdversarialE2eTest, TwoClientsWithOneStateEachGetOnlyTheirOwnCode) {
  Start();
  const std::string victim_uri = "http://127.0.0.1:9999/victim";
  const std::string attacker_uri = "http://127.0.0.1:9999/attacker";
  auto register_at = [&](const std::string& uri) {
    RawResponse registered = RegisterWith({uri});
    EXPECT_EQ(registered.status, 201);
    return Client{JsonString(*json::Parse(registered.body), "client_id"), ""};
  };
  Client victim = register_at(victim_uri);
  Client attacker = register_at(attacker_uri);
  auto open = [&](const Client& client, const std::string& uri, const Pkce& pkce) {
    return Get("/authorize?" + oauth::EncodeForm({{"response_type", "code"},
                                                  {"client_id", client.id},
                                                  {"redirect_uri", uri},
                                                  {"state", "shared"},
                                                  {"code_challenge", pkce.challenge},
                                                  {"code_challenge_method", "S256"}}))
        .Header("location");
  };
  Pkce victim_pkce = testing::MakePkce();
  Pkce attacker_pkce = testing::MakePkce();
  // Both flows open at once with one state; each walks screen 1 and screen 2.
  const std::string victim_login = open(victim, victim_uri, victim_pkce);
  const std::string attacker_login = open(attacker, attacker_uri, attacker_pkce);
  ASSERT_NE(victim_login, attacker_login);
  auto finish = [&](const std::string& login) {
    absl::StatusOr<testing::HtmlForm> form = testing::FirstForm(Get(login).body);
    EXPECT_TRUE(form.ok());
    RawResponse signed_in = PostForm(form->action, {{"flow", form->inputs["flow"]},
                                                    {"csrf", form->inputs["csrf"]},
                                                    {"username", "alice"},
                                                    {"password", "wonderland"}});
    absl::StatusOr<testing::HtmlForm> consent = testing::FirstForm(signed_in.body);
    EXPECT_TRUE(consent.ok()) << signed_in.body;
    RawResponse approved = PostForm(consent->action, {{"flow", consent->inputs["flow"]},
                                                      {"csrf", consent->inputs["csrf"]},
                                                      {"decision", "approve"}});
    absl::StatusOr<RawResponse> page = testing::GetUrl(approved.Header("location"));
    absl::StatusOr<testing::HtmlForm> upstream_form = testing::FirstForm(page->body);
    upstream_form->inputs["decision"] = "allow";
    std::vector<std::pair<std::string, std::string>> fields(upstream_form->inputs.begin(),
                                                            upstream_form->inputs.end());
    absl::StatusOr<RawResponse> done =
        testing::PostForm(upstream_port_, upstream_form->action, fields);
    return testing::GetUrl(done->Header("location"))->Header("location");
  };
  const std::string attacker_result = finish(attacker_login);
  const std::string victim_result = finish(victim_login);
  ASSERT_TRUE(absl::StartsWith(victim_result, victim_uri + "?")) << victim_result;
  ASSERT_TRUE(absl::StartsWith(attacker_result, attacker_uri + "?")) << attacker_result;
  const std::string victim_code = testing::QueryOf(victim_result)["code"];
  const std::string attacker_code = testing::QueryOf(attacker_result)["code"];
  EXPECT_NE(victim_code, attacker_code);
  // The victim's code is worth nothing to the attacker, with either redirect URI.
  for (const std::string& uri : {victim_uri, attacker_uri}) {
    RawResponse stolen = TokenRequest({{"grant_type", "authorization_code"},
                                       {"code", victim_code},
                                       {"redirect_uri", uri},
                                       {"code_verifier", attacker_pkce.verifier},
                                       {"client_id", attacker.id}});
    EXPECT_EQ(ErrorOf(stolen), "invalid_grant");
  }
  EXPECT_EQ(TokenRequest({{"grant_type", "authorization_code"},
                          {"code", victim_code},
                          {"redirect_uri", victim_uri},
                          {"code_verifier", victim_pkce.verifier},
                          {"client_id", victim.id}})
                .status,
            200);
}

TEST_F(AdversarialE2eTest, AReplayedUpstreamCallbackIsRefusedAndExchangesNothing) {
  Start();
  Client client = Register();
  auto [code, pkce] = CodeFor(client);
  ASSERT_FALSE(last_upstream_callback_.empty());
  EXPECT_EQ(StateList(UpstreamState(), "issued_access_tokens").size(), 1u);
  absl::StatusOr<RawResponse> replay = testing::GetUrl(last_upstream_callback_);
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->status, 400);
  EXPECT_FALSE(replay->HasHeader("location"));
  EXPECT_EQ(StateList(UpstreamState(), "issued_access_tokens").size(), 1u);
  Redeem(client, code, pkce);
}

// --- Screen 1: CSRF, escaping, framing, brute force ---

TEST_F(AdversarialE2eTest, SignInWithoutTheFlowsCsrfTokenIsRefused) {
  Start();
  Client client = Register();
  absl::StatusOr<testing::HtmlForm> mine =
      testing::FirstForm(OpenLogin(client, testing::MakePkce(), "s").body);
  absl::StatusOr<testing::HtmlForm> other =
      testing::FirstForm(OpenLogin(client, testing::MakePkce(), "t").body);
  ASSERT_TRUE(mine.ok() && other.ok());
  for (const std::string& csrf :
       {std::string(), std::string("forged"), other->inputs["csrf"], mine->inputs["flow"]}) {
    RawResponse forged = PostForm("/login/callback", {{"flow", mine->inputs["flow"]},
                                                      {"csrf", csrf},
                                                      {"username", "alice"},
                                                      {"password", "wonderland"}});
    EXPECT_EQ(forged.status, 403) << csrf;
    EXPECT_FALSE(forged.HasHeader("location"));
  }
  // Consent before signing in, and consent with a wrong token: refused as well.
  RawResponse early = PostForm(
      "/consent",
      {{"flow", mine->inputs["flow"]}, {"csrf", mine->inputs["csrf"]}, {"decision", "approve"}});
  EXPECT_EQ(early.status, 403);
  EXPECT_EQ(Get("/login/callback").status, 405);
  // The form itself still works.
  RawResponse signed_in = PostForm("/login/callback", {{"flow", mine->inputs["flow"]},
                                                       {"csrf", mine->inputs["csrf"]},
                                                       {"username", "alice"},
                                                       {"password", "wonderland"}});
  EXPECT_EQ(signed_in.status, 200);
  absl::StatusOr<testing::HtmlForm> consent = testing::FirstForm(signed_in.body);
  ASSERT_TRUE(consent.ok());
  EXPECT_NE(consent->inputs["csrf"], mine->inputs["csrf"]);  // a new form, a new token
  EXPECT_EQ(PostForm("/consent", {{"flow", consent->inputs["flow"]},
                                  {"csrf", mine->inputs["csrf"]},
                                  {"decision", "approve"}})
                .status,
            403);
  EXPECT_EQ(StateList(UpstreamState(), "authorize_scopes").size(), 0u);  // never sent upstream
}

TEST_F(AdversarialE2eTest, NamesStatesAndUserInputAreEscapedInEveryPage) {
  Start();
  const std::string script = "<script>alert(1)</script>";
  RawResponse registered = RegisterWith({kRedirect, "https://a<svg%20onload=alert(1)>.example/cb"},
                                        "\"><img src=x onerror=alert(1)>" + script);
  ASSERT_EQ(registered.status, 201) << registered.body;
  Client client{JsonString(*json::Parse(registered.body), "client_id"), ""};
  Pkce pkce = testing::MakePkce();
  const std::string state = "\"><script>alert(2)</script>&code=attacker&iss=evil";
  RawResponse login = OpenLogin(client, pkce, state);
  EXPECT_THAT(login.body, Not(HasSubstr("<script")));
  EXPECT_THAT(login.body, Not(HasSubstr("<img")));
  EXPECT_THAT(login.body, HasSubstr("&lt;script&gt;"));
  EXPECT_EQ(login.Header("x-frame-options"), "DENY");
  EXPECT_THAT(login.Header("content-security-policy"), HasSubstr("frame-ancestors 'none'"));
  EXPECT_EQ(login.Header("cache-control"), "no-store");
  absl::StatusOr<testing::HtmlForm> form = testing::FirstForm(login.body);
  ASSERT_TRUE(form.ok());
  // A user name that is markup comes back escaped with the error.
  RawResponse wrong = PostForm("/login/callback", {{"flow", form->inputs["flow"]},
                                                   {"csrf", form->inputs["csrf"]},
                                                   {"username", "\"><script>alert(3)</script>"},
                                                   {"password", "x"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_THAT(wrong.body, Not(HasSubstr("<script")));
  RawResponse consent = PostForm("/login/callback", {{"flow", form->inputs["flow"]},
                                                     {"csrf", form->inputs["csrf"]},
                                                     {"username", "alice"},
                                                     {"password", "wonderland"}});
  EXPECT_EQ(consent.status, 200);
  EXPECT_THAT(consent.body, Not(HasSubstr("<script")));
  EXPECT_THAT(consent.body, Not(HasSubstr("<img")));
  // The state goes back whole, as one parameter: it cannot add a code or an issuer.
  absl::StatusOr<testing::HtmlForm> decide = testing::FirstForm(consent.body);
  RawResponse denied = PostForm(
      "/consent",
      {{"flow", decide->inputs["flow"]}, {"csrf", decide->inputs["csrf"]}, {"decision", "deny"}});
  EXPECT_EQ(denied.status, 302);
  std::map<std::string, std::string> result = testing::QueryOf(denied.Header("location"));
  EXPECT_EQ(result["state"], state);
  EXPECT_EQ(result["error"], "access_denied");
  EXPECT_EQ(result.count("code"), 0u);
  EXPECT_EQ(result["iss"], absl::StrCat("http://localhost:", port_));
  // JSON error bodies stay JSON whatever they quote.
  RawResponse odd = TokenRequest({{"grant_type", "\"}<script>"}, {"client_id", client.id}});
  EXPECT_EQ(odd.Header("content-type"), "application/json");
  EXPECT_EQ(ErrorOf(odd), "unsupported_grant_type");
}

TEST_F(AdversarialE2eTest, GuessingPasswordsIsCutOffWith429ForTheUserAndTheAddress) {
  Start();
  Client client = Register();
  absl::StatusOr<testing::HtmlForm> form =
      testing::FirstForm(OpenLogin(client, testing::MakePkce(), "s").body);
  ASSERT_TRUE(form.ok());
  auto attempt = [&](const std::string& user, const std::string& password) {
    return PostForm("/login/callback", {{"flow", form->inputs["flow"]},
                                        {"csrf", form->inputs["csrf"]},
                                        {"username", user},
                                        {"password", password}})
        .status;
  };
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(attempt("alice", absl::StrCat("guess", i)), 401);  // max_failures: 3
  }
  const absl::Time start = absl::Now();
  EXPECT_EQ(attempt("alice", "guess3"), 429);
  EXPECT_EQ(attempt("alice", "wonderland"), 429);    // even the right password waits
  EXPECT_EQ(attempt("bob", "builder"), 429);         // and so does this address
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));  // refused without hashing anything
  EXPECT_EQ(StateList(UpstreamState(), "authorize_scopes").size(), 0u);
}

// --- Request smuggling: ambiguous framing is refused with 400 and a closed connection, and no
// part of it reaches the upstream (RFC 9112 sections 2.2, 5.2, 6.3) ---

struct SmugglingCase {
  const char* name;
  std::string request;  // TOKEN stands for a valid access token
};
void PrintTo(const SmugglingCase& row, std::ostream* out) { *out << row.name; }

class SmugglingTest : public AdversarialE2eTest,
                      public ::testing::WithParamInterface<SmugglingCase> {};

TEST_P(SmugglingTest, Is400AndClosedAndNeverForwarded) {
  StartAndLogIn();
  auto [response, closed] =
      SendRaw(absl::StrReplaceAll(GetParam().request, {{"TOKEN", tokens_.access}}));
  ExpectError(response, 400, "invalid_request");
  EXPECT_TRUE(closed);
  EXPECT_EQ(Forwarded(), 0);
  ExpectStillServing();
}

INSTANTIATE_TEST_SUITE_P(
    Adversarial, SmugglingTest,
    ::testing::Values(
        SmugglingCase{"ContentLengthThenTransferEncoding",
                      "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n"
                      "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX"},
        SmugglingCase{"TransferEncodingThenContentLength",
                      "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n"
                      "Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nX"},
        SmugglingCase{"TwoDifferentContentLengths",
                      "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n"
                      "Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}"},
        SmugglingCase{"TwoEqualContentLengths",
                      "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n"
                      "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}"},
        SmugglingCase{"ContentLengthList",
                      "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n"
                      "Content-Length: 2, 2\r\n\r\n{}"},
        SmugglingCase{"SignedContentLength",
                      "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n"
                      "Content-Length: +2\r\n\r\n{}"},
        SmugglingCase{"TransferEncodingNotChunkedLast",
                      "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n"
                      "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"},
        SmugglingCase{"TwoTransferEncodings",
                      "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n"
                      "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
        SmugglingCase{"ObsoleteLineFoldingInTransferEncoding",
                      "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n"
                      "Content-Length: 2\r\nTransfer-Encoding:\r\n chunked\r\n\r\n{}"},
        SmugglingCase{"BareCrInAHeader",
                      "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n"
                      "Mcp-Session-Id: a\rX-Injected: 1\r\nContent-Length: 2\r\n\r\n{}"},
        SmugglingCase{"BareCrEndsTheHead",
                      "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n"
                      "Content-Length: 2\r\r{}"},
        SmugglingCase{"NulInAHeader",
                      "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n"
                      "Mcp-Session-Id: a\0b\r\nContent-Length: 2\r\n\r\n{}"s},
        SmugglingCase{"SpaceBeforeTheColon",
                      "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n"
                      "Transfer-Encoding : chunked\r\nContent-Length: 2\r\n\r\n{}"},
        SmugglingCase{"HugeChunkSize",
                      "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n"
                      "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n{}\r\n0\r\n\r\n"},
        SmugglingCase{"HttpTwoPreface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"}),
    [](const auto& info) { return std::string(info.param.name); });

// RFC 9112 section 5.2: an obs-fold is refused, or replaced by spaces before the field is used
// or forwarded. The gateway replaces it: the upstream sees one field, and nothing injected.
TEST_F(AdversarialE2eTest, ObsoleteLineFoldingReachesTheUpstreamAsOneField) {
  StartAndLogIn();
  auto [response, closed] = SendRaw(
      absl::StrCat("POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ", tokens_.access,
                   "\r\nMcp-Session-Id: a\r\n X-Injected: 1\r\nContent-Length: 2\r\nConnection: "
                   "close\r\n\r\n{}"));
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Forwarded(), 1);
  absl::MutexLock lock(&seen_.mutex);
  EXPECT_EQ(*seen_.head.headers.Get("mcp-session-id"), "a X-Injected: 1");
  EXPECT_FALSE(seen_.head.headers.Has("x-injected"));
}

// RFC 9112 section 2.2 lets a recipient accept a bare LF as a line end; it does not have to, and
// a bare LF is where two parsers in a chain disagree. The gateway's parser (llhttp, strict) refuses
// it: 400, the connection closed, nothing forwarded.
TEST_F(AdversarialE2eTest, BareLineFeedsAreRefused) {
  StartAndLogIn();
  auto [response, closed] =
      SendRaw(absl::StrCat("POST /mcp HTTP/1.1\nHost: x\nAuthorization: Bearer ", tokens_.access,
                           "\nContent-Type: application/json\nContent-Length: 2\n\n{}"));
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_THAT(response.body, HasSubstr("invalid_request"));
  EXPECT_TRUE(closed);
  EXPECT_EQ(Forwarded(), 0);
}

// A body the gateway answers early (401 before reading it) is read and dropped, never parsed
// as a request of its own.
TEST_F(AdversarialE2eTest, TheBodyOfARefusedRequestIsNeverParsedAsARequest) {
  StartAndLogIn();
  const std::string inner = absl::StrCat("POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ",
                                         tokens_.access, "\r\nContent-Length: 2\r\n\r\n{}");
  absl::StatusOr<RawClient> client = RawClient::Connect(port_);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(
      client->Send(absl::StrCat("POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: ", inner.size(),
                                "\r\n\r\n", inner, "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")));
  absl::StatusOr<RawResponse> first = client->ReadResponse();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->status, 401);
  absl::StatusOr<RawResponse> second = client->ReadResponse();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->status, 404);
  EXPECT_EQ(Forwarded(), 0);
}

// --- Path tricks: nothing reaches the upstream without a valid token, and a token does not
// take a request outside the MCP endpoint upstream ---

struct PathCase {
  const char* target;
  int status;
};
void PrintTo(const PathCase& row, std::ostream* out) { *out << row.target; }

class PathTrickTest : public AdversarialE2eTest, public ::testing::WithParamInterface<PathCase> {};

TEST_P(PathTrickTest, WithoutATokenNeverReachesTheUpstream) {
  StartAndLogIn();
  RawResponse response =
      Send(HttpRequest{"POST", GetParam().target, {{"Content-Type", "application/json"}}, kRpc});
  EXPECT_EQ(response.status, GetParam().status) << GetParam().target << ": " << response.body;
  if (GetParam().status == 401) {
    ExpectChallenge(response, 401, "");
  }
  EXPECT_EQ(Forwarded(), 0);
  ExpectStillServing();
}

INSTANTIATE_TEST_SUITE_P(
    Adversarial, PathTrickTest,
    ::testing::Values(PathCase{"/mcp/../token", 401}, PathCase{"/mcp/%2e%2e/token", 401},
                      PathCase{"/mcp%2F..%2Ftoken", 401}, PathCase{"/mcp;x=1", 401},
                      PathCase{"/mcp?x=1", 401}, PathCase{"//mcp", 404}, PathCase{"/./mcp", 404},
                      PathCase{"/%6dcp", 404}, PathCase{"/MCP", 404},
                      PathCase{"/token/../mcp", 404}, PathCase{"/.well-known/../mcp", 404}));

class PathEscapeTest : public AdversarialE2eTest, public ::testing::WithParamInterface<PathCase> {};

TEST_P(PathEscapeTest, WithATokenStillNeverLeavesTheMcpEndpoint) {
  StartAndLogIn();
  RawResponse response = Send(McpPost("Bearer " + tokens_.access, GetParam().target));
  EXPECT_EQ(response.status, GetParam().status) << GetParam().target << ": " << response.body;
  EXPECT_EQ(ErrorOf(response), GetParam().status == 404 ? "not_found" : "invalid_request");
  EXPECT_EQ(Forwarded(), 0);
  ExpectStillServing();
}

INSTANTIATE_TEST_SUITE_P(
    Adversarial, PathEscapeTest,
    ::testing::Values(PathCase{"/mcp/../admin", 400}, PathCase{"/mcp/./../admin", 400},
                      PathCase{"/mcp/..", 400}, PathCase{"/mcp/%2e%2e/admin", 400},
                      PathCase{"/mcp/.%2E/admin", 400}, PathCase{"/mcp/..%2fadmin", 400},
                      PathCase{"/mcp/..%5cadmin", 400}, PathCase{"/mcp/..\\admin", 400},
                      PathCase{"/mcp%2F..%2Fadmin", 404}, PathCase{"/mcp../admin", 404},
                      PathCase{"/mcpadmin", 404}));

TEST_F(AdversarialE2eTest, SubPathsOfTheMcpEndpointAreForwardedAsThey) {
  StartAndLogIn();
  EXPECT_EQ(Send(McpPost("Bearer " + tokens_.access, "/mcp/messages?session=1")).status, 200);
  EXPECT_THAT(upstream_.received().targets(), ElementsAre("/mcp/messages?session=1"));
}

// --- Oversized requests: answered at once (RFC 9110 sections 15.5.14, 15.5.15, RFC 6585) ---

TEST_F(AdversarialE2eTest, OversizedHeadersUriAndBodyAreRefusedQuickly) {
  StartWithoutUpstream();
  const absl::Time start = absl::Now();
  // 100 KiB: past limits.max_header_bytes whatever its default.
  auto [many, many_closed] = SendRaw(absl::StrCat(
      "GET /healthz HTTP/1.1\r\nHost: x\r\n",
      absl::StrJoin(std::vector<std::string>(5000, "X-Filler: 0123456789"), "\r\n"), "\r\n\r\n"));
  EXPECT_EQ(many.status, 431);
  EXPECT_TRUE(many_closed);
  auto [one, one_closed] = SendRaw(absl::StrCat(
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ", std::string(100 << 10, 'a'), "\r\n\r\n"));
  EXPECT_EQ(one.status, 431);
  EXPECT_TRUE(one_closed);
  auto [uri, uri_closed] = SendRaw(absl::StrCat("GET /authorize?x=", std::string(16 << 10, 'a'),
                                                " HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(uri.status, 414);
  EXPECT_TRUE(uri_closed);
  // A declared body past the limit is refused from its head, before a byte of it is sent.
  auto [body, body_closed] = SendRaw(
      "POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 2000000\r\n\r\n");
  EXPECT_EQ(body.status, 413);
  EXPECT_TRUE(body_closed);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(AdversarialE2eTest, AChunkedBodyThatGrowsPastTheLimitIs413) {
  StartWithoutUpstream("limits: {max_request_body_bytes: 64KiB}\n");
  absl::StatusOr<RawClient> client = RawClient::Connect(port_);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(
      client->Send("POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk = absl::StrCat("4000\r\n", std::string(0x4000, ' '), "\r\n");
  for (int i = 0; i < 5; ++i) {
    client->Send(chunk);  // the fifth may meet a closed connection
  }
  absl::StatusOr<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(AdversarialE2eTest, AHeadThatTricklesInIsCutOffAt408) {
  StartWithoutUpstream("limits: {header_timeout: 500ms}\n");
  absl::StatusOr<RawClient> client = RawClient::Connect(port_);
  ASSERT_TRUE(client.ok());
  const absl::Time start = absl::Now();
  std::string head = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (char c : head) {
    if (!client->Send(std::string(1, c))) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(30));  // a slowloris client, on purpose
  }
  absl::StatusOr<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 408);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(Get("/healthz").status, 200);
}

// --- Upstream trouble: mapped to 502/504, never a hang, never a body that looks whole ---

TEST_F(AdversarialE2eTest, AnUpstreamThatIsDownIs502) {
  const uint16_t closed = *ReservePort(*Address::FromIp("127.0.0.1", 0));
  StartAndLogIn("", closed);
  RawResponse response = Mcp(tokens_.access, kRpc);
  ExpectError(response, 502, "bad_gateway");
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(AdversarialE2eTest, AnUpstreamThatNeverAnswersIs504AndIsLetGo) {
  Seen seen;
  ResourceServer silent(
      [&](http::ResponseEncoder&) { return std::make_unique<SilentStream>(seen); });
  StartAndLogIn("", silent.port());
  const absl::Time start = absl::Now();
  RawResponse response = Mcp(tokens_.access, kRpc);
  ExpectError(response, 504, "upstream_timeout");
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // response_timeout: 1s
  EXPECT_TRUE(seen.ended.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(AdversarialE2eTest, AnUpstreamHeadThatDribblesPastTheTimeoutIs504) {
  RawServer dribbler(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
      absl::Milliseconds(40));  // 3 s for the whole head
  StartAndLogIn("", dribbler.port());
  RawResponse response = Mcp(tokens_.access, kRpc);
  ExpectError(response, 504, "upstream_timeout");
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(AdversarialE2eTest, AnUpstreamThatDribblesItsBodyIsPassedOnByteByByte) {
  EventUpstream upstream;
  StartAndLogIn("", upstream.server.port());
  RawClient client = OpenEventStream();
  for (char c : std::string("data: slow\n\n")) {
    upstream.server.RunAndWait([&] { upstream.stream->EncodeData(std::string(1, c), false); });
    // The byte arrives at once, in a chunk of its own: nothing waits for more.
    const std::string chunk = absl::StrCat("1\r\n", std::string(1, c), "\r\n");
    std::string received;
    while (received.size() < chunk.size()) {
      const std::string more = client.ReadSome(absl::Seconds(5));
      ASSERT_FALSE(more.empty()) << "waiting for " << absl::CEscape(chunk);
      received += more;
    }
    EXPECT_EQ(received, chunk);
    // Meanwhile every other request is served.
    EXPECT_EQ(Get("/healthz").status, 200);
  }
}

struct UpstreamReply {
  const char* name;
  const char* bytes;
};
void PrintTo(const UpstreamReply& row, std::ostream* out) { *out << row.name; }

class BrokenUpstreamTest : public AdversarialE2eTest,
                           public ::testing::WithParamInterface<UpstreamReply> {};

TEST_P(BrokenUpstreamTest, Is502AndTheGatewayCarriesOn) {
  RawServer upstream(GetParam().bytes);
  StartAndLogIn("", upstream.port());
  RawResponse response = Mcp(tokens_.access, kRpc);
  ExpectError(response, 502, "bad_gateway");
  EXPECT_THAT(response.body, Not(HasSubstr("X-Injected")));
  EXPECT_EQ(Get("/healthz").status, 200);
}

INSTANTIATE_TEST_SUITE_P(
    Adversarial, BrokenUpstreamTest,
    ::testing::Values(
        UpstreamReply{"NotHttp", "SMTP READY\r\n\r\n\x01\x02\x03"},
        UpstreamReply{"ClosesWithoutAnswering", ""},
        UpstreamReply{"ContentLengthAndTransferEncoding",
                      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "0\r\n\r\n"},
        UpstreamReply{"TwoContentLengths",
                      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"},
        UpstreamReply{"BareCrInAHeader",
                      "HTTP/1.1 200 OK\r\nMcp-Session-Id: a\rX-Injected: 1\r\nContent-Length: "
                      "2\r\n\r\n{}"},
        UpstreamReply{"HeadCutShort", "HTTP/1.1 200 OK\r\nContent-Type: applic"}),
    [](const auto& info) { return std::string(info.param.name); });

class UpstreamCutMidBodyTest : public AdversarialE2eTest,
                               public ::testing::WithParamInterface<bool> {};

// The client must learn that the body was cut: the connection closes before the announced end.
TEST_P(UpstreamCutMidBodyTest, ClosesTheClientsConnectionBeforeTheBodyLooksWhole) {
  RawServer upstream(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
      "100\r\n\r\n{\"partial\"",
      absl::ZeroDuration(), /*reset=*/GetParam());
  StartAndLogIn("", upstream.port());
  absl::StatusOr<RawClient> client = RawClient::Connect(port_);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(client->Send(absl::StrCat("POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ",
                                        tokens_.access, "\r\nContent-Length: 2\r\n\r\n{}")));
  absl::StatusOr<RawResponse> response = client->ReadResponse();
  EXPECT_FALSE(response.ok() && response->status == 200 && response->body.size() == 100);
  EXPECT_TRUE(client->WaitForClose(absl::Seconds(5)));
  EXPECT_EQ(Get("/healthz").status, 200);
}

INSTANTIATE_TEST_SUITE_P(Adversarial, UpstreamCutMidBodyTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Reset" : "Closed"; });

TEST_F(AdversarialE2eTest, AnUpstreamResetMidEventStreamEndsTheClientsStream) {
  EventUpstream upstream;
  StartAndLogIn("", upstream.server.port());
  RawClient client = OpenEventStream();
  upstream.server.RunAndWait([&] { upstream.stream->Reset(); });
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(5)));
  EXPECT_EQ(Get("/healthz").status, 200);
}

// --- Clients that leave: their upstream requests are cancelled ---

TEST_F(AdversarialE2eTest, AClientThatLeavesMidStreamCancelsTheUpstreamStream) {
  EventUpstream upstream;
  StartAndLogIn("", upstream.server.port());
  OpenEventStream();  // and gone at once
  ASSERT_TRUE(upstream.seen.ended.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(upstream.seen.end_reason.load(), http::StreamEnd::kClientGone);
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(AdversarialE2eTest, AClientThatLeavesMidBodyNeverCompletesTheUpstreamRequest) {
  Seen seen;
  ResourceServer upstream(
      [&](http::ResponseEncoder&) { return std::make_unique<SilentStream>(seen); });
  StartAndLogIn("", upstream.port());
  {
    absl::StatusOr<RawClient> client = RawClient::Connect(port_);
    ASSERT_TRUE(client.ok());
    ASSERT_TRUE(client->Send(absl::StrCat("POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ",
                                          tokens_.access,
                                          "\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\":")));
    // The request is upstream before the client leaves (a fixed wait was not enough on a slow
    // machine: the gateway could see the close first and never send the request).
    ASSERT_TRUE(seen.arrived.WaitForNotificationWithTimeout(absl::Seconds(10)));
  }
  ASSERT_TRUE(seen.ended.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_NE(seen.end_reason.load(), http::StreamEnd::kComplete);
  EXPECT_EQ(Get("/healthz").status, 200);
}

// --- Item 4: no secret in any output. Whole flows run against a real upstream; every secret
// issued on the way is collected (tokens and both their halves, codes, PKCE verifiers, client
// secrets, passwords, the sealing key, the upstream's codes, tokens and client secret); none may
// appear in what the gateway printed at debug level, nor in any error body it sent. ---

// Whether `text` holds `secret`, or 16 characters of it in a row at any of its 8-character steps
// (so that a piece of a long token, cut short for a log line, counts as well).
bool Reveals(absl::string_view text, absl::string_view secret) {
  constexpr size_t kPiece = 16;
  if (secret.size() < 2 * kPiece) {
    return absl::StrContains(text, secret);
  }
  for (size_t at = 0; at + kPiece <= secret.size(); at += kPiece / 2) {
    if (absl::StrContains(text, secret.substr(at, kPiece))) {
      return true;
    }
  }
  return false;
}

class NoSecretInAnyOutputTest : public AdversarialE2eTest,
                                public ::testing::WithParamInterface<const char*> {
 protected:
  // Adds what `token` reveals: itself and both halves (the sealed one base64url-encoded).
  void NoteToken(const std::string& token) {
    secrets_.push_back(token);
    const Halves halves = Split(token);
    secrets_.push_back(halves.gateway);
    secrets_.push_back(crypto::Base64UrlEncode(halves.upstream));
  }
  void NoteTokens(const Tokens& tokens) {
    NoteToken(tokens.access);
    NoteToken(tokens.refresh);
  }
  // Keeps the body of an error reply for the final check, and returns the reply.
  RawResponse Noted(RawResponse response) {
    if (response.status >= 400) {
      error_bodies_.push_back(absl::StrCat(response.status, " ", response.body));
    }
    return response;
  }
  // One whole authorization of `client`, noting every secret on the way.
  Tokens Walk(const Client& client, std::vector<std::pair<std::string, std::string>> auth = {},
              std::vector<std::pair<std::string, std::string>> headers = {}) {
    Pkce pkce = testing::MakePkce();
    const std::string code = testing::QueryOf(Authorize(client, pkce, "st"))["code"];
    const std::map<std::string, std::string> upstream = testing::QueryOf(last_upstream_callback_);
    secrets_.insert(secrets_.end(),
                    {code, pkce.verifier, upstream.at("code"), upstream.at("state")});
    last_form_ = Redemption(client, code, pkce.verifier);
    last_form_.insert(last_form_.end(), auth.begin(), auth.end());
    last_headers_ = std::move(headers);
    Tokens tokens = ParseTokens(TokenRequest(last_form_, last_headers_));
    NoteTokens(tokens);
    return tokens;
  }
  // The last Walk()'s redemption again: an error body, and the end of that grant.
  void ReplayLastCode() { Noted(TokenRequest(last_form_, last_headers_)); }

  std::vector<std::string> secrets_;
  std::vector<std::string> error_bodies_;
  std::vector<std::pair<std::string, std::string>> last_form_;
  std::vector<std::pair<std::string, std::string>> last_headers_;
};

TEST_P(NoSecretInAnyOutputTest, NotInTheLogNorInAnyErrorBody) {
  // Upstream tokens that live 60 s: every gateway refresh refreshes upstream too.
  if (std::string(GetParam()) == "demo") {
    StartDemoUpstream(/*token_ttl_seconds=*/60);
  } else {
    StartGithubLikeUpstream("", {"--rotating-refresh-tokens", "--token-ttl", "60"});
  }
  const std::string key_file = absl::StrCat(dir_.path(), "/keys");
  const std::string access_file = absl::StrCat(dir_.path(), "/access.log");
  StartGateway(absl::StrCat("log: {level: debug, access: json, access_output: ", access_file,
                            "}\ntokens: {key_file: ", key_file,
                            ", refresh_grace: 0s}\nadmin: {port: 0}\n"));
  secrets_.insert(secrets_.end(), {"wonderland", "builder", "gh-secret"});

  Client public_client = Register("none", "Public");
  Client post_client = Register("client_secret_post", "Post");
  Client basic_client = Register("client_secret_basic", "Basic");
  secrets_.insert(secrets_.end(), {post_client.secret, basic_client.secret});
  std::string basic;
  absl::Base64Escape(absl::StrCat(basic_client.id, ":", basic_client.secret), &basic);

  // A mistyped password is a secret too.
  const std::string mistyped = "wonderlant-" + crypto::RandomToken().substr(0, 8);
  secrets_.push_back(mistyped);
  absl::StatusOr<testing::HtmlForm> form =
      testing::FirstForm(OpenLogin(public_client, testing::MakePkce(), "typo").body);
  ASSERT_TRUE(form.ok());
  Noted(PostForm("/login/callback", {{"flow", form->inputs["flow"]},
                                     {"csrf", form->inputs["csrf"]},
                                     {"username", "alice"},
                                     {"password", mistyped}}));

  Tokens first = Walk(public_client);
  ReplayLastCode();  // which revokes the grant
  Noted(Mcp(first.access, kRpc));
  Tokens basics = Walk(basic_client, {}, {{"Authorization", "Basic " + basic}});
  ReplayLastCode();
  Noted(Mcp(basics.access, kRpc));
  Tokens live = Walk(public_client);
  Tokens live_posted = Walk(post_client, {{"client_secret", post_client.secret}});

  const std::string session = Initialize(live.access);
  EXPECT_EQ(Mcp(live.access, kRpc, session).status, 200);
  // Refresh (upstream too), then a replay of the rotated token: an error, and the family ends.
  RawResponse refreshed = RefreshRequest(public_client, live.refresh);
  Tokens rotated = ParseTokens(refreshed);
  NoteTokens(rotated);
  EXPECT_EQ(Mcp(rotated.access, kRpc, session).status, 200);
  Noted(RefreshRequest(public_client, live.refresh));
  Noted(Mcp(rotated.access, kRpc, session));
  // Every wrong way of presenting what was issued.
  const Halves halves = Split(live_posted.access);
  for (const std::string& forged :
       {token::EncodePair(halves.upstream, halves.gateway), token::EncodePair(halves.gateway, ""),
        live_posted.access + "A", live_posted.refresh}) {
    Noted(Send(Bearer(forged)));
  }
  Noted(Send(McpPost("Bearer " + live_posted.access, "/mcp?access_token=" + live_posted.access)));
  Noted(RefreshRequest(public_client, live_posted.refresh));  // another client's
  Noted(TokenRequest({{"grant_type", "refresh_token"},
                      {"refresh_token", live_posted.refresh},
                      {"client_id", post_client.id},
                      {"client_secret", post_client.secret + "x"}}));
  Noted(TokenRequest(Redemption(post_client, first.refresh, "x")));
  EXPECT_EQ(PostForm("/revoke", {{"token", live_posted.refresh},
                                 {"client_id", post_client.id},
                                 {"client_secret", post_client.secret}})
                .status,
            200);
  Noted(Mcp(live_posted.access, kRpc));

  // What the upstream issued, and the gateway's own client secret there.
  const std::string state = UpstreamState();
  for (const char* list : {"issued_access_tokens", "issued_refresh_tokens"}) {
    std::vector<std::string> issued = StateList(state, list);
    EXPECT_FALSE(issued.empty()) << list;
    secrets_.insert(secrets_.end(), issued.begin(), issued.end());
  }
  if (std::string(GetParam()) == "demo") {
    std::vector<std::string> client_secrets = StateList(state, "client_secrets");
    EXPECT_EQ(client_secrets.size(), 1u);  // the gateway registered itself, once
    secrets_.insert(secrets_.end(), client_secrets.begin(), client_secrets.end());
  }
  // What an operator scrapes and reads: the metrics and the access log.
  const std::string metrics = ScrapeText();
  EXPECT_THAT(metrics, HasSubstr("gateway_tokens_refreshed_total 1"));
  EXPECT_EQ(gateway_->Stop(), 0);
  const std::string output = gateway_->Output();
  gateway_.reset();
  const std::string access_log = testing::ReadFile(access_file);
  EXPECT_THAT(access_log, HasSubstr(R"("route":"upstream_forward","path":"/mcp","status":200)"));
  EXPECT_THAT(access_log,
              HasSubstr(R"("path":"/upstream/callback")"));  // code and state in its query
  // The sealing key the gateway made: "<id> <secret>" after a comment line.
  std::ifstream keys(key_file);
  std::string comment;
  std::getline(keys, comment);
  std::string key_id;
  std::string key;
  keys >> key_id >> key;
  EXPECT_EQ(key.size(), 43u) << key;  // 256 bits, base64url
  secrets_.push_back(key);

  EXPECT_GT(secrets_.size(), 60u);
  EXPECT_GT(error_bodies_.size(), 10u);
  EXPECT_THAT(output, HasSubstr("debug request"));  // it did log every request
  for (const std::string& secret : secrets_) {
    ASSERT_GE(secret.size(), 6u);  // an empty or tiny "secret" would match anything
    EXPECT_FALSE(Reveals(output, secret)) << secret << " in\n" << output;
    EXPECT_FALSE(Reveals(access_log, secret)) << secret << " in the access log\n" << access_log;
    EXPECT_FALSE(Reveals(metrics, secret)) << secret << " in the metrics\n" << metrics;
    for (const std::string& body : error_bodies_) {
      EXPECT_FALSE(Reveals(body, secret)) << secret << " in " << body;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Adversarial, NoSecretInAnyOutputTest,
                         ::testing::Values("github_like", "demo"));

}  // namespace
}  // namespace gateway::e2e

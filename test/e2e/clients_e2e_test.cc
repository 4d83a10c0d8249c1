// Real MCP clients' registrations against the real gateway binary (in front of the SDK-built demo
// upstream). test/fixtures/real-client-registrations.json holds what Claude Desktop (through
// mcp-remote), Claude Code, Claude's connectors, VS Code, Cursor and the TypeScript SDK send to
// /register, and the redirect URIs each then uses at /authorize. For each client: the registration
// is accepted as sent and echoed (RFC 7591 section 3.2.1), and every one of its redirect URIs
// carries a whole authorization to a code, the code buys tokens, and the token opens an MCP
// session. What no client may register is refused.

#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/common/json.h"
#include "source/common/oauth/form.h"
#include "test/e2e/gateway_fixture.h"
#include "test/support/browser.h"
#include "test/support/files.h"

namespace gateway::e2e {
namespace {

using ::testing::HasSubstr;
using testing::HttpRequest;
using ::testing::Not;
using testing::Pkce;
using testing::RawResponse;

// One client of the fixture file.
struct RealClient {
  std::string name;
  std::string registration;  // the JSON body it POSTs to /register
  std::vector<std::string> authorize_redirect_uris;
};

// The fixture file, or a null document when it cannot be read (RealClients() is called while
// tests are registered, before any runs: the tests below report it).
rapidjson::Document Fixtures() {
  absl::StatusOr<rapidjson::Document> fixtures =
      json::Parse(testing::ReadFile(Source("test/fixtures/real-client-registrations.json")));
  const auto is_array = [&](const char* name) {
    const auto member = fixtures->FindMember(name);
    return member != fixtures->MemberEnd() && member->value.IsArray();
  };
  if (!fixtures.ok() || !fixtures->IsObject() || !is_array("clients") || !is_array("must_refuse")) {
    return rapidjson::Document();
  }
  return *std::move(fixtures);
}

std::vector<RealClient> RealClients() {
  std::vector<RealClient> clients;
  rapidjson::Document fixtures = Fixtures();
  if (!fixtures.IsObject()) {
    return clients;
  }
  for (const auto& entry : fixtures["clients"].GetArray()) {
    RealClient client{entry["name"].GetString(), json::Write(entry["register"]), {}};
    for (const auto& uri : entry["authorize_redirect_uris"].GetArray()) {
      client.authorize_redirect_uris.emplace_back(uri.GetString());
    }
    clients.push_back(std::move(client));
  }
  return clients;
}

// How gtest (and so ctest's test names) shows a client: by its name.
void PrintTo(const RealClient& client, std::ostream* out) { *out << client.name; }

// "mcp-remote 0.15.1 (Claude Desktop's ...)" → "mcp_remote_0_15_1_Claude_Desktop_s_..."
std::string TestName(const ::testing::TestParamInfo<RealClient>& info) {
  std::string name;
  for (const char c : info.param.name) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) {
      name += c;
    } else if (!name.empty() && name.back() != '_') {
      name += '_';
    }
  }
  while (!name.empty() && name.back() == '_') {
    name.pop_back();
  }
  return name;
}

class ClientsE2eTest : public GatewayFixture {
 protected:
  void SetUp() override {
    StartDemoUpstream();
    StartGateway();
  }

  RawResponse PostRegister(const std::string& body) {
    absl::StatusOr<RawResponse> response = testing::Send(
        port_, HttpRequest{"POST", "/register", {{"Content-Type", "application/json"}}, body});
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : RawResponse();
  }

  // The browser, from the gateway's /authorize to the first redirect to `redirect_uri`: the
  // gateway's login (and consent, approved and remembered, the first time), the demo upstream's
  // login, the gateway's /upstream/callback. Returns that redirect (the client's URI with the
  // code), or "" after a failure it has reported.
  std::string WalkToClient(const std::string& authorize_target, const std::string& redirect_uri) {
    uint16_t page_port = port_;
    HttpRequest request{"GET", authorize_target, {}, ""};
    std::vector<std::string> trail;
    for (int step = 0; step < 12; ++step) {
      trail.push_back(absl::StrCat(request.method, " :", page_port, request.target));
      absl::StatusOr<RawResponse> response = testing::Send(page_port, request);
      if (!response.ok()) {
        ADD_FAILURE() << response.status() << "\n" << absl::StrJoin(trail, "\n");
        return "";
      }
      if (response->status == 302 || response->status == 303) {
        const std::string location = response->Header("location");
        if (absl::StartsWith(location, redirect_uri)) {
          return location;
        }
        if (absl::StartsWith(location, "http://")) {  // another origin on this machine
          const size_t path = location.find('/', 7);
          const size_t colon = location.rfind(':', path);
          page_port =
              static_cast<uint16_t>(std::stoi(location.substr(colon + 1, path - colon - 1)));
          request = HttpRequest{"GET", location.substr(path), {}, ""};
        } else {
          request = HttpRequest{"GET", location, {}, ""};
        }
        continue;
      }
      absl::StatusOr<testing::HtmlForm> form = testing::FirstForm(response->body);
      if (response->status != 200 || !form.ok()) {
        ADD_FAILURE() << response->status << " " << response->body << "\n"
                      << absl::StrJoin(trail, "\n");
        return "";
      }
      std::map<std::string, std::string> fields = form->inputs;
      if (fields.count("username") > 0) {
        const bool gateway_page = page_port == port_;
        fields["username"] = gateway_page ? username_ : "demo";
        fields["password"] = gateway_page ? password_ : "demo-pass";
      } else {
        fields["decision"] = "approve";  // the consent screen
        fields["remember"] = "1";
      }
      request = HttpRequest{"POST",
                            form->action,
                            {{"Content-Type", "application/x-www-form-urlencoded"}},
                            oauth::EncodeForm({fields.begin(), fields.end()})};
    }
    ADD_FAILURE() << "no redirect to " << redirect_uri << " in 12 steps:\n"
                  << absl::StrJoin(trail, "\n");
    return "";
  }
};

class RealClientE2eTest : public ClientsE2eTest,
                          public ::testing::WithParamInterface<RealClient> {};

TEST_P(RealClientE2eTest, RegistersAuthorizesWithEachRedirectUriAndCallsMcp) {
  const RealClient& real = GetParam();
  RawResponse registered = PostRegister(real.registration);
  ASSERT_EQ(registered.status, 201) << registered.body;
  EXPECT_EQ(registered.Header("cache-control"), "no-store");
  absl::StatusOr<rapidjson::Document> sent = json::Parse(real.registration);
  absl::StatusOr<rapidjson::Document> echoed = json::Parse(registered.body);
  ASSERT_TRUE(sent.ok() && echoed.ok()) << registered.body;
  // Every field the client sent comes back as sent (the SDK client breaks without redirect_uris).
  for (const auto& field : sent->GetObject()) {
    const auto member = echoed->FindMember(field.name);
    ASSERT_NE(member, echoed->MemberEnd()) << field.name.GetString() << " not echoed";
    EXPECT_TRUE(member->value == field.value) << field.name.GetString() << ": " << registered.body;
  }
  const std::string auth_method = JsonString(*echoed, "token_endpoint_auth_method");
  Client client{JsonString(*echoed, "client_id"), JsonString(*echoed, "client_secret")};
  ASSERT_FALSE(client.id.empty());
  EXPECT_EQ(client.secret.empty(), auth_method == "none") << registered.body;

  const std::string client_name = JsonString(*sent, "client_name");
  for (const std::string& redirect_uri : real.authorize_redirect_uris) {
    SCOPED_TRACE(redirect_uri);
    const Pkce pkce = testing::MakePkce();
    std::vector<std::pair<std::string, std::string>> query = {
        {"response_type", "code"},
        {"client_id", client.id},
        {"redirect_uri", redirect_uri},
        {"state", "s-" + redirect_uri},
        {"code_challenge", pkce.challenge},
        {"code_challenge_method", "S256"},
        {"resource", absl::StrCat("http://localhost:", port_, "/mcp")}};
    if (const std::string scope = JsonString(*sent, "scope"); !scope.empty()) {
      query.emplace_back("scope", scope);
    }
    const std::string authorize_target = "/authorize?" + oauth::EncodeForm(query);

    // Up to the login page, which names the client asking.
    RawResponse authorize = Get(authorize_target);
    ASSERT_EQ(authorize.status, 302) << authorize.body;
    ASSERT_TRUE(absl::StartsWith(authorize.Header("location"), "/login?flow="));
    RawResponse login = Get(authorize.Header("location"));
    EXPECT_EQ(login.status, 200);
    EXPECT_THAT(login.body, HasSubstr(R"(name="csrf")"));
    EXPECT_THAT(login.body, HasSubstr(client_name));

    // The whole way to the client's redirect URI, with a code.
    const std::string landed = WalkToClient(authorize_target, redirect_uri);
    ASSERT_TRUE(absl::StartsWith(landed, redirect_uri + "?")) << landed;
    std::map<std::string, std::string> answer = testing::QueryOf(landed);
    EXPECT_EQ(answer["state"], "s-" + redirect_uri);
    EXPECT_EQ(answer["iss"], absl::StrCat("http://localhost:", port_));  // RFC 9207
    ASSERT_FALSE(answer["code"].empty()) << landed;

    std::vector<std::pair<std::string, std::string>> form = {{"grant_type", "authorization_code"},
                                                             {"code", answer["code"]},
                                                             {"redirect_uri", redirect_uri},
                                                             {"code_verifier", pkce.verifier}};
    std::vector<std::pair<std::string, std::string>> headers;
    if (auth_method == "client_secret_basic") {
      headers.emplace_back("Authorization",
                           "Basic " + absl::Base64Escape(oauth::FormEncode(client.id) + ":" +
                                                         oauth::FormEncode(client.secret)));
    } else {
      form.emplace_back("client_id", client.id);
      if (auth_method == "client_secret_post") {
        form.emplace_back("client_secret", client.secret);
      }
    }
    const Tokens tokens = ParseTokens(TokenRequest(form, headers));
    ASSERT_FALSE(tokens.access.empty());
    EXPECT_FALSE(tokens.refresh.empty());
    EXPECT_FALSE(Initialize(tokens.access).empty());
  }
}

// Test names: Clients/RealClientE2eTest.RegistersAuthorizes.../Claude_Code, and so on.
INSTANTIATE_TEST_SUITE_P(Clients, RealClientE2eTest, ::testing::ValuesIn(RealClients()), TestName);

TEST(ClientsFixtureTest, HoldsEveryClientTheReadmeConfigures) {
  std::vector<std::string> names;
  for (const RealClient& client : RealClients()) {
    names.push_back(client.name);
  }
  const std::string all = absl::StrJoin(names, "\n");
  for (const char* expected : {"mcp-remote", "Claude Code", "VS Code", "Cursor"}) {
    EXPECT_THAT(all, HasSubstr(expected));
  }
}

TEST_F(ClientsE2eTest, RefusesRegistrationsNoClientMayMake) {
  rapidjson::Document fixtures = Fixtures();
  ASSERT_TRUE(fixtures.IsObject()) << "test/fixtures/real-client-registrations.json";
  int refused = 0;
  for (const auto& body : fixtures["must_refuse"].GetArray()) {
    const std::string text = json::Write(body);
    RawResponse response = PostRegister(text);
    EXPECT_EQ(response.status, 400) << text << " → " << response.body;
    absl::StatusOr<rapidjson::Document> error = json::Parse(response.body);
    ASSERT_TRUE(error.ok()) << response.body;
    EXPECT_EQ(JsonString(*error, "error"), "invalid_redirect_uri") << text;
    EXPECT_THAT(response.body, Not(HasSubstr("client_id"))) << text;
    ++refused;
  }
  EXPECT_GE(refused, 7);
}

}  // namespace
}  // namespace gateway::e2e

#pragma once

// The fixture of the end-to-end tests that need a logged-in client: an upstream process (the
// SDK-built demo, or the GitHub-like fake), the gateway binary configured in front of it, and a
// headless browser and OAuth client to walk the flow and call the MCP endpoint.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/common/json.h"
#include "source/common/oauth/form.h"
#include "test/support/browser.h"
#include "test/support/child_process.h"

namespace gateway::e2e {

using testing::ChildProcess;
using ::testing::HasSubstr;
using testing::HttpRequest;
using ::testing::Not;
using testing::Pkce;
using testing::RawResponse;

constexpr char kRedirect[] = "http://127.0.0.1:9999/cb";

inline std::string Source(absl::string_view path) {
  return absl::StrCat(GATEWAY_SOURCE_DIR, "/", path);
}

struct Client {
  std::string id;
  std::string secret;
};

struct Tokens {
  std::string access;
  std::string refresh;
  int64_t expires_in = 0;
};

inline std::string JsonString(const rapidjson::Value& object, const char* name) {
  auto member = object.FindMember(name);
  return member != object.MemberEnd() && member->value.IsString() ? member->value.GetString() : "";
}

// The JSON-RPC message of a response, whether it came as JSON or as one SSE event.
inline absl::StatusOr<rapidjson::Document> RpcResult(const RawResponse& response) {
  std::string json = response.body;
  if (absl::StartsWith(response.Header("content-type"), "text/event-stream")) {
    const size_t data = json.find("data: ");
    if (data == std::string::npos) {
      return absl::NotFoundError("no data in the event stream");
    }
    json = json.substr(data + 6, json.find('\n', data) - data - 6);
  }
  return json::Parse(json);
}

// A list of strings in a test upstream's /_test/state ("(none)" for a null).
inline std::vector<std::string> StateList(const std::string& state, const char* name) {
  std::vector<std::string> out;
  absl::StatusOr<rapidjson::Document> json = json::Parse(state);
  if (!json.ok() || !json->IsObject() || !json->HasMember(name) || !(*json)[name].IsArray()) {
    ADD_FAILURE() << "no " << name << " in " << state;
    return out;
  }
  for (const auto& item : (*json)[name].GetArray()) {
    out.push_back(item.IsString() ? item.GetString() : "(none)");
  }
  return out;
}

class GatewayFixture : public ::testing::Test {
 protected:
  // The gateway stops as in production (SIGTERM, drain, exit 0), which also lets the sanitizers
  // check it for leaks.
  void TearDown() override {
    if (gateway_ != nullptr) {
      EXPECT_EQ(gateway_->Stop(), 0) << gateway_->Output();
    }
  }

  // The upstream: the SDK-built demo, or the GitHub-like fake.
  // `options`: more of the demo's command-line options.
  void StartDemoUpstream(int token_ttl_seconds = 3600,
                         const std::vector<std::string>& options = {}) {
    std::vector<std::string> args = {
        Source("tools/demo-upstream/server.mjs"), "--port",          "0", "--token-ttl",
        absl::StrCat(token_ttl_seconds),          "--test-endpoints"};
    args.insert(args.end(), options.begin(), options.end());
    upstream_ = std::make_unique<ChildProcess>("node", std::move(args), dir_.path());
    upstream_port_ = upstream_->WaitForPort();
    upstream_section_ = absl::StrCat("  rs: http://127.0.0.1:", upstream_port_, "/mcp\n");
  }

  // `resource_server`: where MCP requests go, when not the fake's own /mcp (the proxy tests put
  // an in-process server there and keep the fake as the authorization server only). `options`:
  // more of the fake's command-line options.
  void StartGithubLikeUpstream(const std::string& resource_server = "",
                               const std::vector<std::string>& options = {}) {
    std::vector<std::string> args = {Source("test/upstreams/github_like.mjs"),
                                     "--port",
                                     "0",
                                     "--client-id",
                                     "Iv1.gateway",
                                     "--client-secret",
                                     "gh-secret"};
    args.insert(args.end(), options.begin(), options.end());
    upstream_ = std::make_unique<ChildProcess>("node", std::move(args), dir_.path());
    upstream_port_ = upstream_->WaitForPort();
    const std::string origin = absl::StrCat("http://127.0.0.1:", upstream_port_);
    upstream_section_ = absl::StrCat(
        "  rs: ", resource_server.empty() ? origin + "/mcp" : resource_server,
        "\n  client_id: Iv1.gateway\n  client_secret: gh-secret\n",
        "  authorize_endpoint: ", origin, "/login/oauth/authorize\n", "  token_endpoint: ", origin,
        "/login/oauth/access_token\n", "  scopes: repo read:user\n");
  }

  // On the port of the previous start, if there was one (a restart keeps the URLs clients know).
  void StartGateway(absl::string_view extra_yaml = "") {
    const std::string yaml = absl::StrCat(
        "listener: {port: ", port_, ", workers: 2", listener_yaml_, "}\nupstream:\n",
        upstream_section_,
        "users: [{name: alice, password: wonderland}, {name: bob, password: builder}]\n",
        login_yaml_, extra_yaml);
    gateway_yaml_ = yaml;
    gateway_ = std::make_unique<ChildProcess>(
        GATEWAY_BINARY,
        std::vector<std::string>{absl::StrCat("--config=", dir_.Write("gateway.yaml", yaml))},
        dir_.path());
    port_ = gateway_->WaitForPort();
  }

  // Stops the gateway (SIGTERM and a clean exit, or SIGKILL) and starts it again on its port.
  void RestartGateway(absl::string_view extra_yaml, bool kill = false) {
    if (kill) {
      gateway_->Signal(SIGKILL);
      EXPECT_EQ(gateway_->Wait(absl::Seconds(10)), 128 + SIGKILL);
    } else {
      EXPECT_EQ(gateway_->Stop(), 0) << gateway_->Output();
    }
    StartGateway(extra_yaml);
  }

  // The gateway the helpers below talk to.
  uint16_t Port() const { return port_override_ != 0 ? port_override_ : port_; }
  // The same, over TLS when the gateway listens with it (tls_ca_file_).
  testing::Endpoint Gateway() const { return testing::Endpoint(Port(), tls_ca_file_); }

  // The admin listener's port, from the gateway's start-up line (with `admin: {port: 0}`).
  uint16_t AdminPort() {
    const std::string marker = "admin listener on http://127.0.0.1:";
    gateway_->WaitForOutput(marker);  // logged just after the public listener's line
    const std::string out = gateway_->Output();
    const size_t at = out.find(marker);
    const size_t start = at + marker.size();
    int port = 0;
    if (at == std::string::npos ||
        !absl::SimpleAtoi(out.substr(start, out.find(':', start) - start), &port)) {
      ADD_FAILURE() << "no admin listener in: " << out;
    }
    return static_cast<uint16_t>(port);
  }

  // GET /metrics on the admin listener: the exposition text.
  std::string ScrapeText() {
    absl::StatusOr<RawResponse> response =
        testing::Send(AdminPort(), HttpRequest{"GET", "/metrics", {}, ""});
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) {
      return "";
    }
    EXPECT_EQ(response->status, 200) << response->body;
    EXPECT_EQ(response->Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    return response->body;
  }

  RawResponse Get(const std::string& target,
                  std::vector<std::pair<std::string, std::string>> headers = {}) {
    absl::StatusOr<RawResponse> response =
        testing::Send(Gateway(), HttpRequest{"GET", target, std::move(headers), ""});
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : RawResponse();
  }

  RawResponse PostForm(const std::string& target,
                       const std::vector<std::pair<std::string, std::string>>& form,
                       std::vector<std::pair<std::string, std::string>> headers = {}) {
    absl::StatusOr<RawResponse> response = testing::PostForm(Gateway(), target, form, headers);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : RawResponse();
  }

  Client Register(absl::string_view auth_method = "none", absl::string_view name = "Test client") {
    const std::string body =
        absl::StrCat(R"({"redirect_uris":[")", kRedirect, R"("],"token_endpoint_auth_method":")",
                     auth_method, R"(","grant_types":["authorization_code","refresh_token"],)",
                     R"("response_types":["code"],"client_name":")", name, R"("})");
    absl::StatusOr<RawResponse> response = testing::Send(
        Gateway(), HttpRequest{"POST", "/register", {{"Content-Type", "application/json"}}, body});
    EXPECT_TRUE(response.ok());
    EXPECT_EQ(response->status, 201) << response->body;
    absl::StatusOr<rapidjson::Document> json = json::Parse(response->body);
    EXPECT_TRUE(json.ok());
    return Client{JsonString(*json, "client_id"), JsonString(*json, "client_secret")};
  }

  std::string AuthorizeQuery(const Client& client, const Pkce& pkce, const std::string& state) {
    std::vector<std::pair<std::string, std::string>> query = {
        {"response_type", "code"},          {"client_id", client.id},
        {"redirect_uri", kRedirect},        {"state", state},
        {"code_challenge", pkce.challenge}, {"code_challenge_method", "S256"}};
    if (!scope_.empty()) {
      query.emplace_back("scope", scope_);
    }
    return oauth::EncodeForm(query);
  }

  // The gateway's login screen for a fresh /authorize: returns the page after the redirect.
  RawResponse OpenLogin(const Client& client, const Pkce& pkce, const std::string& state) {
    RawResponse authorize = Get("/authorize?" + AuthorizeQuery(client, pkce, state));
    EXPECT_EQ(authorize.status, 302) << authorize.body;
    EXPECT_TRUE(absl::StartsWith(authorize.Header("location"), "/login?flow="));
    return Get(authorize.Header("location"));
  }

  // Screen 1 (login, and consent when asked): returns where the gateway sends the browser next,
  // the upstream's authorization page or, when it cannot go there, the client's redirect URI.
  // `before_consent` runs when the consent screen is up (to line several flows up there).
  std::string SignIn(const Client& client, const Pkce& pkce, const std::string& state,
                     const std::function<void()>& before_consent = nullptr) {
    RawResponse login = OpenLogin(client, pkce, state);
    absl::StatusOr<testing::HtmlForm> form = testing::FirstForm(login.body);
    EXPECT_TRUE(form.ok()) << login.body;
    RawResponse signed_in = PostForm(form->action, {{"flow", form->inputs["flow"]},
                                                    {"csrf", form->inputs["csrf"]},
                                                    {"username", username_},
                                                    {"password", password_}});
    std::string next = signed_in.Header("location");
    if (signed_in.status == 200) {  // the consent screen
      EXPECT_THAT(signed_in.body, HasSubstr("Allow"));
      absl::StatusOr<testing::HtmlForm> consent = testing::FirstForm(signed_in.body);
      EXPECT_TRUE(consent.ok());
      if (before_consent) {
        before_consent();
      }
      RawResponse approved = PostForm(consent->action, {{"flow", consent->inputs["flow"]},
                                                        {"csrf", consent->inputs["csrf"]},
                                                        {"decision", "approve"},
                                                        {"remember", "1"}});
      EXPECT_EQ(approved.status, 302) << approved.body;
      next = approved.Header("location");
    }
    return next;
  }

  // Screen 1 and screen 2 up to the client's redirect URI: returns that final URL.
  // `callback_suffix` is added to the upstream's redirect back to the gateway (a forged answer).
  std::string Authorize(const Client& client, const Pkce& pkce, const std::string& state,
                        const std::string& upstream_decision = "allow",
                        const std::string& callback_suffix = "") {
    const std::string upstream_location = SignIn(client, pkce, state);
    EXPECT_TRUE(
        absl::StartsWith(upstream_location, absl::StrCat("http://127.0.0.1:", upstream_port_, "/")))
        << upstream_location;
    // Screen 2, the upstream's own page.
    absl::StatusOr<RawResponse> upstream_page = testing::GetUrl(upstream_location);
    EXPECT_TRUE(upstream_page.ok());
    EXPECT_EQ(upstream_page->status, 200) << upstream_page->body;
    absl::StatusOr<testing::HtmlForm> upstream_form = testing::FirstForm(upstream_page->body);
    EXPECT_TRUE(upstream_form.ok()) << upstream_page->body;
    upstream_form->inputs["username"] = "demo";
    upstream_form->inputs["password"] = "demo-pass";
    upstream_form->inputs["decision"] = upstream_decision;  // the GitHub-like page's buttons
    std::vector<std::pair<std::string, std::string>> fields(upstream_form->inputs.begin(),
                                                            upstream_form->inputs.end());
    absl::StatusOr<RawResponse> upstream_done =
        testing::PostForm(upstream_port_, upstream_form->action, fields);
    EXPECT_TRUE(upstream_done.ok());
    EXPECT_EQ(upstream_done->status, 302) << upstream_done->body;
    last_upstream_callback_ = upstream_done->Header("location");
    // Back at the gateway's callback, which sends the browser on to the client.
    absl::StatusOr<RawResponse> callback =
        testing::GetUrl(last_upstream_callback_ + callback_suffix, tls_ca_file_);
    EXPECT_TRUE(callback.ok());
    EXPECT_EQ(callback->status, 302) << callback->body;
    return callback->Header("location");
  }

  RawResponse TokenRequest(std::vector<std::pair<std::string, std::string>> form,
                           std::vector<std::pair<std::string, std::string>> headers = {}) {
    return PostForm("/token", form, std::move(headers));
  }

  Tokens ParseTokens(const RawResponse& response) {
    EXPECT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.Header("cache-control"), "no-store");
    absl::StatusOr<rapidjson::Document> json = json::Parse(response.body);
    EXPECT_TRUE(json.ok());
    Tokens tokens;
    tokens.access = JsonString(*json, "access_token");
    tokens.refresh = JsonString(*json, "refresh_token");
    if (json->HasMember("expires_in")) {
      tokens.expires_in = (*json)["expires_in"].GetInt64();
    }
    EXPECT_EQ(JsonString(*json, "token_type"), "Bearer");
    return tokens;
  }

  Tokens Redeem(const Client& client, const std::string& code, const Pkce& pkce) {
    return ParseTokens(TokenRequest({{"grant_type", "authorization_code"},
                                     {"code", code},
                                     {"redirect_uri", kRedirect},
                                     {"code_verifier", pkce.verifier},
                                     {"client_id", client.id}}));
  }

  // A whole authorization: register, authorize, redeem.
  Tokens Login(Client* registered = nullptr) {
    Client client = Register();
    Pkce pkce = testing::MakePkce();
    const std::string redirect = Authorize(client, pkce, "s");
    Tokens tokens = Redeem(client, testing::QueryOf(redirect)["code"], pkce);
    if (registered != nullptr) {
      *registered = client;
    }
    return tokens;
  }

  RawResponse Mcp(const std::string& access_token, const std::string& json,
                  const std::string& session = "") {
    std::vector<std::pair<std::string, std::string>> headers = {
        {"Authorization", "Bearer " + access_token},
        {"Content-Type", "application/json"},
        {"Accept", "application/json, text/event-stream"},
        {"Mcp-Protocol-Version", "2025-06-18"}};
    if (!session.empty()) {
      headers.emplace_back("Mcp-Session-Id", session);
    }
    absl::StatusOr<RawResponse> response =
        testing::Send(Gateway(), HttpRequest{"POST", "/mcp", std::move(headers), json});
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : RawResponse();
  }

  // initialize + notifications/initialized; returns the session id.
  std::string Initialize(const std::string& access_token) {
    RawResponse init =
        Mcp(access_token, R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{)"
                          R"("protocolVersion":"2025-06-18","capabilities":{},)"
                          R"("clientInfo":{"name":"e2e","version":"1"}}})");
    EXPECT_EQ(init.status, 200) << init.body;
    const std::string session = init.Header("mcp-session-id");
    EXPECT_FALSE(session.empty());
    EXPECT_EQ(
        Mcp(access_token, R"({"jsonrpc":"2.0","method":"notifications/initialized"})", session)
            .status,
        202);
    return session;
  }

  std::string UpstreamState() {
    absl::StatusOr<RawResponse> state =
        testing::Send(upstream_port_, HttpRequest{"GET", "/_test/state", {}, ""});
    EXPECT_TRUE(state.ok());
    return state.ok() ? state->body : "";
  }
  // How many refresh tokens the demo upstream has issued (one per code redemption or refresh).
  size_t UpstreamRefreshTokensIssued() {
    const std::string state = UpstreamState();
    absl::StatusOr<rapidjson::Document> json = json::Parse(state);
    if (!json.ok() || !json->HasMember("issued_refresh_tokens")) {
      ADD_FAILURE() << "no upstream state: " << state;
      return 0;
    }
    return (*json)["issued_refresh_tokens"].Size();
  }

  // The upstream's redirect back to the gateway in the last Authorize() (it carries the upstream
  // code and state).
  std::string last_upstream_callback_;
  // Who signs in at the gateway's login screen.
  std::string username_ = "alice";
  std::string password_ = "wonderland";
  // The scope a client asks the gateway for (none when empty).
  std::string scope_;
  testing::TempDir dir_;
  std::unique_ptr<ChildProcess> upstream_;
  uint16_t upstream_port_ = 0;
  std::string upstream_section_;
  std::unique_ptr<ChildProcess> gateway_;
  std::string gateway_yaml_;  // what the last StartGateway() wrote to dir_/gateway.yaml
  uint16_t port_ = 0;
  std::string login_yaml_ = "login: {max_failures: 3, failure_window: 1m}\n";
  // More of the listener mapping (", tls: {...}"), and the CA file that makes the helpers above
  // speak TLS to the gateway.
  std::string listener_yaml_;
  std::string tls_ca_file_;
  // Where this thread's requests go instead of port_, when set (several replicas at once).
  static inline thread_local uint16_t port_override_ = 0;
};

}  // namespace gateway::e2e

// Metrics and the access log of the real binary after real flows: the exposition on the admin
// listener read by a strict parser, the values moved by what the test did, and every access-log
// line parsed (JSON through RapidJSON, logfmt through a strict reader) with the right fields.

#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "test/e2e/gateway_fixture.h"
#include "test/support/files.h"
#include "test/support/observability.h"

namespace gateway::e2e {
namespace {

using testing::ParseLogfmtLine;
using testing::ParsePrometheusText;
using testing::PrometheusSamples;

constexpr char kRpc[] = R"({"jsonrpc":"2.0","id":7,"method":"tools/list"})";

class ObservabilityE2eTest : public GatewayFixture {
 protected:
  PrometheusSamples Scrape() {
    const std::string text = ScrapeText();
    absl::StatusOr<PrometheusSamples> samples = ParsePrometheusText(text);
    EXPECT_TRUE(samples.ok()) << samples.status() << "\n" << text;
    return samples.ok() ? *samples : PrometheusSamples();
  }

  // A sign-in with the wrong password at screen 1.
  void MistypePassword(const Client& client) {
    absl::StatusOr<testing::HtmlForm> form =
        testing::FirstForm(OpenLogin(client, testing::MakePkce(), "typo").body);
    ASSERT_TRUE(form.ok());
    EXPECT_EQ(PostForm("/login/callback", {{"flow", form->inputs["flow"]},
                                           {"csrf", form->inputs["csrf"]},
                                           {"username", "alice"},
                                           {"password", "not-the-password"}})
                  .status,
              401);
  }

  RawResponse McpWithId(const std::string& access_token, const std::string& session,
                        const std::string& request_id) {
    absl::StatusOr<RawResponse> response =
        testing::Send(Port(), HttpRequest{"POST",
                                          "/mcp",
                                          {{"Authorization", "Bearer " + access_token},
                                           {"Content-Type", "application/json"},
                                           {"Accept", "application/json, text/event-stream"},
                                           {"Mcp-Protocol-Version", "2025-06-18"},
                                           {"Mcp-Session-Id", session},
                                           {"X-Request-Id", request_id}},
                                          kRpc});
    EXPECT_TRUE(response.ok());
    return response.ok() ? *response : RawResponse();
  }
};

TEST_F(ObservabilityE2eTest, MetricsMoveByWhatARealFlowDid) {
  StartDemoUpstream();
  StartGateway("admin: {port: 0}\n");
  // Not on the public listener: only the admin listener serves it.
  EXPECT_EQ(Get("/metrics").status, 404);
  const PrometheusSamples before = Scrape();

  Client client;
  Tokens tokens = Login(&client);
  const std::string session = Initialize(tokens.access);  // two proxied requests: 200, 202
  EXPECT_EQ(Get("/mcp").status, 401);
  MistypePassword(client);
  Tokens refreshed = ParseTokens(TokenRequest({{"grant_type", "refresh_token"},
                                               {"refresh_token", tokens.refresh},
                                               {"client_id", client.id}}));
  EXPECT_EQ(PostForm("/revoke", {{"token", refreshed.refresh}, {"client_id", client.id}}).status,
            200);

  PrometheusSamples after = Scrape();
  auto moved = [&](const std::string& series) {
    auto was = before.find(series);
    return after[series] - (was == before.end() ? 0 : was->second);
  };
  EXPECT_EQ(moved("gateway_registrations_total"), 1);
  EXPECT_EQ(moved("gateway_tokens_issued_total"), 1);
  EXPECT_EQ(moved("gateway_tokens_refreshed_total"), 1);
  EXPECT_EQ(moved("gateway_tokens_revoked_total"), 1);
  EXPECT_EQ(moved("gateway_login_failures_total"), 1);
  EXPECT_EQ(moved(R"(gateway_requests_total{route="dcr",code="201"})"), 1);
  EXPECT_EQ(moved(R"(gateway_requests_total{route="token_exchange",code="200"})"), 2);
  EXPECT_EQ(moved(R"(gateway_requests_total{route="upstream_forward",code="200"})"), 1);
  EXPECT_EQ(moved(R"(gateway_requests_total{route="upstream_forward",code="202"})"), 1);
  EXPECT_EQ(moved(R"(gateway_requests_total{route="bearer_split",code="401"})"), 1);
  EXPECT_EQ(moved(R"(gateway_requests_total{route="login",code="401"})"), 1);
  // The public GET /metrics, before the first scrape: no filter of the public chain answers it.
  EXPECT_EQ(after[R"(gateway_requests_total{route="none",code="404"})"], 1);
  EXPECT_EQ(moved(R"(gateway_requests_total{route="revoke",code="200"})"), 1);
  // Each proxied request was timed once; the upstream code exchange at least once.
  EXPECT_EQ(moved(R"(gateway_upstream_response_seconds_count{upstream="mcp"})"), 2);
  EXPECT_GT(after[R"(gateway_upstream_response_seconds_sum{upstream="mcp"})"], 0);
  EXPECT_GE(moved(R"(gateway_upstream_response_seconds_count{upstream="oauth"})"), 1);
  EXPECT_EQ(moved(R"(gateway_upstream_errors_total{kind="unavailable"})"), 0);
  // The first scrape is counted by the second, on the admin listener's own route.
  EXPECT_GE(after[R"(gateway_requests_total{route="metrics",code="200"})"], 1);
  // One registration; its grant was revoked (the memory store drops it at once).
  EXPECT_EQ(after[R"(gateway_store_records{kind="clients"})"], 1);
  EXPECT_EQ(after[R"(gateway_store_records{kind="grants"})"], 0);
  // This scrape's own connection is open while it is counted.
  EXPECT_GE(after["gateway_active_connections"], 1);
  EXPECT_EQ(after["gateway_active_streams"], 0);
  (void)session;
}

TEST_F(ObservabilityE2eTest, MetricsCountUpstreamFailures) {
  StartDemoUpstream();
  StartGateway("admin: {port: 0}\n");
  Tokens tokens = Login();
  upstream_->Signal(SIGKILL);
  upstream_->Wait(absl::Seconds(10));
  EXPECT_EQ(Mcp(tokens.access, kRpc).status, 502);
  PrometheusSamples samples = Scrape();
  EXPECT_EQ(samples[R"(gateway_upstream_errors_total{kind="unavailable"})"], 1);
  EXPECT_EQ(samples[R"(gateway_requests_total{route="upstream_forward",code="502"})"], 1);
}

class AccessLogE2eTest : public ObservabilityE2eTest,
                         public ::testing::WithParamInterface<const char*> {
 protected:
  bool json() const { return std::string(GetParam()) == "json"; }

  // Every access-log line, parsed into its fields (each must parse).
  std::vector<std::map<std::string, std::string>> Lines(const std::string& text) {
    std::vector<std::map<std::string, std::string>> out;
    for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      if (!json()) {
        if (!absl::StartsWith(line, "time=")) {
          continue;  // the regular log shares stderr
        }
        absl::StatusOr<std::map<std::string, std::string>> fields = ParseLogfmtLine(line);
        EXPECT_TRUE(fields.ok()) << fields.status() << ": " << line;
        if (fields.ok()) {
          out.push_back(*fields);
        }
        continue;
      }
      absl::StatusOr<rapidjson::Document> parsed = json::Parse(line);
      EXPECT_TRUE(parsed.ok() && parsed->IsObject()) << line;
      if (!parsed.ok() || !parsed->IsObject()) {
        continue;
      }
      std::map<std::string, std::string> fields;
      for (const auto& member : parsed->GetObject()) {
        fields[member.name.GetString()] =
            member.value.IsString() ? member.value.GetString() : json::Write(member.value);
        EXPECT_EQ(member.value.IsNumber(), absl::EndsWith(member.name.GetString(), "_ms") ||
                                               std::string(member.name.GetString()) == "status" ||
                                               std::string(member.name.GetString()) == "bytes")
            << member.name.GetString();
      }
      out.push_back(std::move(fields));
    }
    return out;
  }
};

TEST_P(AccessLogE2eTest, OneParsableLinePerRequestWithTheRightFields) {
  StartDemoUpstream();
  const std::string file = dir_.path() + "/access.log";
  StartGateway(json() ? absl::StrCat("log: {access: json, access_output: ", file, "}\n")
                      : "log: {access: logfmt}\n");
  Client client;
  Tokens tokens = Login(&client);
  const std::string session = Initialize(tokens.access);
  RawResponse traced = McpWithId(tokens.access, session, "trace-e2e-1");
  EXPECT_EQ(traced.status, 200);
  EXPECT_EQ(traced.Header("x-request-id"), "trace-e2e-1");
  // A malformed id is not taken: the gateway makes its own.
  RawResponse untraced = McpWithId(tokens.access, session, "bad id\"");
  EXPECT_NE(untraced.Header("x-request-id"), "bad id\"");
  EXPECT_FALSE(untraced.Header("x-request-id").empty());
  // A 401, with a query string the log must leave out.
  RawResponse refused = Get("/mcp?code=query-secret-42&state=query-state-42");
  EXPECT_EQ(refused.status, 401);
  const std::string refused_id = refused.Header("x-request-id");
  ASSERT_FALSE(refused_id.empty());

  ASSERT_EQ(gateway_->Stop(), 0);  // the writer flushes on the way out
  std::string text = gateway_->Output();
  if (json()) {
    text = testing::ReadFile(file);
    EXPECT_THAT(gateway_->Output(), Not(HasSubstr("\"route\":")));  // nothing on stderr
  }
  gateway_.reset();
  EXPECT_THAT(text, Not(HasSubstr("query-secret-42")));
  EXPECT_THAT(text, Not(HasSubstr("query-state-42")));

  const std::vector<std::map<std::string, std::string>> lines = Lines(text);
  // register, authorize, login page, sign-in (+ consent), upstream callback, token, 2 for
  // initialize, 2 traced, 1 refused.
  EXPECT_GE(lines.size(), 10u);
  const std::vector<std::string> keys = {
      "time",  "request_id",  "remote",      "method",    "route", "path", "status",
      "bytes", "duration_ms", "upstream_ms", "client_id", "user",  "end"};
  const std::map<std::string, std::string>* proxied = nullptr;
  const std::map<std::string, std::string>* unauthorized = nullptr;
  for (const auto& line : lines) {
    EXPECT_EQ(line.size(), keys.size());
    for (const std::string& key : keys) {
      EXPECT_EQ(line.count(key), 1u) << key;
    }
    if (line.at("request_id") == "trace-e2e-1") {
      proxied = &line;
    }
    if (line.at("request_id") == refused_id) {
      unauthorized = &line;
    }
  }
  ASSERT_NE(proxied, nullptr) << text;
  EXPECT_EQ(proxied->at("method"), "POST");
  EXPECT_EQ(proxied->at("route"), "upstream_forward");
  EXPECT_EQ(proxied->at("path"), "/mcp");
  EXPECT_EQ(proxied->at("status"), "200");
  EXPECT_EQ(proxied->at("client_id"), client.id);
  EXPECT_EQ(proxied->at("user"), "alice");
  EXPECT_EQ(proxied->at("remote"), "127.0.0.1");
  EXPECT_EQ(proxied->at("end"), "complete");
  double duration = 0;
  double upstream = 0;
  int64_t bytes = 0;
  ASSERT_TRUE(absl::SimpleAtod(proxied->at("duration_ms"), &duration));
  ASSERT_TRUE(absl::SimpleAtod(proxied->at("upstream_ms"), &upstream));
  ASSERT_TRUE(absl::SimpleAtoi(proxied->at("bytes"), &bytes));
  EXPECT_GT(upstream, 0);
  EXPECT_GE(duration, upstream);
  EXPECT_EQ(static_cast<size_t>(bytes), traced.body.size());
  EXPECT_TRUE(absl::EndsWith(proxied->at("time"), "Z"));

  ASSERT_NE(unauthorized, nullptr) << text;
  EXPECT_EQ(unauthorized->at("route"), "bearer_split");
  EXPECT_EQ(unauthorized->at("status"), "401");
  EXPECT_EQ(unauthorized->at("path"), "/mcp");
  EXPECT_EQ(unauthorized->at("user"), "");
  ASSERT_TRUE(absl::SimpleAtod(unauthorized->at("upstream_ms"), &upstream));
  EXPECT_EQ(upstream, 0);
}

INSTANTIATE_TEST_SUITE_P(Formats, AccessLogE2eTest, ::testing::Values("json", "logfmt"));

}  // namespace
}  // namespace gateway::e2e

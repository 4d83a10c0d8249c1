#include "source/common/config/config.h"

#include <stdlib.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/common/config/reload.h"
#include "source/filter_chain.h"
#include "source/filter_registry.h"
#include "test/support/test_services.h"

namespace gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kMinimal[] = R"yaml(listener:
  port: 9000
upstream:
  rs: http://127.0.0.1:3001/mcp
filters:
  - name: health
    match: {path: /healthz}
)yaml";

std::string ErrorOf(absl::string_view yaml) {
  absl::StatusOr<Config> config = ParseConfig(yaml, "test.yaml");
  return config.ok() ? "parsed" : std::string(config.status().message());
}

TEST(ConfigTest, RepositoryGatewayYamlIsValid) {
  absl::StatusOr<Config> config = LoadConfigFile(GATEWAY_SOURCE_DIR "/gateway.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(FinalizeConfig(*config).ok());
  EXPECT_EQ(config->listener.port, 8002);
  EXPECT_EQ(config->listener.public_url, "http://localhost:8002");
  EXPECT_EQ(config->limits.connection.parser.max_header_bytes, 32u * 1024);
  EXPECT_EQ(config->limits.connection.stream_idle_timeout, absl::Hours(1));
  EXPECT_EQ(config->ClientOptions().max_idle_per_origin, 256u);
  ASSERT_FALSE(config->filters.empty());
  EXPECT_EQ(config->filters[0].name, "health");
}

TEST(ConfigTest, ParsesTypedValues) {
  absl::StatusOr<Config> config = ParseConfig(R"yaml(listener:
  address: "::1"
  port: 0
  public_url: https://gateway.example.com/
  workers: 3
upstream:
  rs: https://api.githubcopilot.com/mcp/
  client_id: abc
users:
  - {name: alice, password: wonderland}
limits:
  max_request_body_bytes: 2MiB
  header_timeout: 1500ms
  upstream_idle_connections: 64
log: {level: debug}
filters:
  - name: delay
    match: {prefix: /slow, methods: [get, post]}
    config: {duration: 20ms}
)yaml",
                                              "test.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listener.address, "::1");
  EXPECT_EQ(config->listener.workers, 3);
  EXPECT_EQ(config->upstream.client_id, "abc");
  ASSERT_EQ(config->users.size(), 1u);
  EXPECT_EQ(config->users[0].name, "alice");
  EXPECT_EQ(config->limits.connection.max_request_body_bytes, 2u << 20);
  EXPECT_EQ(config->limits.connection.header_timeout, absl::Milliseconds(1500));
  EXPECT_EQ(config->ClientOptions().max_idle_per_origin, 64u);
  EXPECT_EQ(config->log_level, log::Level::kDebug);
  EXPECT_EQ(config->filters[0].match.prefix, "/slow");
  EXPECT_THAT(config->filters[0].match.methods, ::testing::ElementsAre("GET", "POST"));
  ASSERT_TRUE(FinalizeConfig(*config).ok());
  EXPECT_EQ(config->listener.public_url, "https://gateway.example.com");
}

TEST(ConfigTest, UnknownKeyNamesFileLineAndColumn) {
  EXPECT_THAT(ErrorOf("listener:\n  prot: 80\nupstream: {rs: http://a/}\nfilters: [{name: x}]\n"),
              HasSubstr("test.yaml:2:3: listener.prot: unknown key"));
}

TEST(ConfigTest, WrongTypeNamesFileLineAndColumn) {
  EXPECT_THAT(ErrorOf("listener:\n  port: eighty\nfilters: [{name: x}]\n"),
              HasSubstr("test.yaml:2:9: listener.port: expected an integer from 0 to 65535"));
  EXPECT_THAT(ErrorOf("limits:\n  idle_timeout: soon\nfilters: [{name: x}]\n"),
              HasSubstr("test.yaml:2:17: limits.idle_timeout: expected a duration"));
  EXPECT_THAT(ErrorOf("limits:\n  buffer_bytes: lots\nfilters: [{name: x}]\n"),
              HasSubstr("test.yaml:2:17: limits.buffer_bytes: expected a size"));
  EXPECT_THAT(ErrorOf("listener: [1, 2]\nfilters: [{name: x}]\n"),
              HasSubstr("test.yaml:1:11: listener: expected a mapping"));
  EXPECT_THAT(ErrorOf("upstream:\n  rs: ftp://x/\nfilters: [{name: x}]\n"),
              HasSubstr("test.yaml:2:7: upstream.rs: \"ftp://x/\" is not an http:// or https://"));
}

TEST(ConfigTest, DuplicateKeyIsAnError) {
  EXPECT_THAT(ErrorOf("listener:\n  port: 1\n  port: 2\nfilters: [{name: x}]\n"),
              HasSubstr("test.yaml:3:3: listener.port: this key appears twice"));
}

TEST(ConfigTest, YamlSyntaxErrorNamesPosition) {
  EXPECT_THAT(ErrorOf("listener:\n  port: [1, 2\n"), HasSubstr("test.yaml:3:1:"));
}

TEST(ConfigTest, FilterEntriesAreChecked) {
  EXPECT_THAT(ErrorOf("filters:\n  - match: {path: /x}\n"),
              HasSubstr("test.yaml:2:5: filters[0]: a filter entry needs a name"));
  EXPECT_THAT(ErrorOf("filters:\n  - name: health\n    match: {path: x}\n"),
              HasSubstr("test.yaml:3:19: filters[0].match.path: must start with /"));
  EXPECT_THAT(ErrorOf("listener: {port: 1}\nfilters: []\n"),
              HasSubstr("test.yaml:2:10: filters: the filter chain is empty"));
  EXPECT_THAT(ErrorOf("filters:\n  - name: login\n    match: {paths: [/login, consent]}\n"),
              HasSubstr("test.yaml:3:20: filters[0].match.paths: \"consent\" must start with /"));
  EXPECT_THAT(ErrorOf("filters:\n  - name: login\n    match: {paths: []}\n"),
              HasSubstr("test.yaml:3:20: filters[0].match.paths: list at least one path"));
  EXPECT_THAT(ErrorOf("filters:\n  - name: login\n    match: {path: /a, paths: [/b]}\n"),
              HasSubstr("test.yaml:3:12: filters[0].match: give one of path, paths or prefix"));
  absl::StatusOr<Config> without_chain = ParseConfig("listener: {port: 1}\n", "test.yaml");
  ASSERT_TRUE(without_chain.ok()) << without_chain.status();
  EXPECT_EQ(without_chain->filters.size(), BuiltInConfig()->filters.size());  // the default
}

TEST(ConfigTest, ExpandsEnvironmentReferences) {
  setenv("GATEWAY_TEST_PORT", "9123", 1);
  setenv("GATEWAY_TEST_ID", "from-env", 1);
  unsetenv("GATEWAY_TEST_UNSET");
  absl::StatusOr<Config> config = ParseConfig(R"yaml(listener: {port: "${GATEWAY_TEST_PORT}"}
upstream:
  rs: http://127.0.0.1:1/mcp
  client_id: id-${GATEWAY_TEST_ID}
  client_secret: ${GATEWAY_TEST_UNSET:-fallback}
  ca_file: "costs $$5"
filters: [{name: health}]
)yaml",
                                              "test.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listener.port, 9123);
  EXPECT_EQ(config->upstream.client_id, "id-from-env");
  EXPECT_EQ(config->upstream.client_secret, "fallback");
  EXPECT_EQ(config->upstream.ca_file, "costs $5");
  EXPECT_THAT(ErrorOf("upstream:\n  client_id: ${GATEWAY_TEST_UNSET}\nfilters: [{name: x}]\n"),
              HasSubstr("test.yaml:2:14: upstream.client_id: environment variable "
                        "GATEWAY_TEST_UNSET is not set"));
}

TEST(ConfigTest, FinalizeRequiresAnUpstream) {
  absl::StatusOr<Config> config = BuiltInConfig();
  ASSERT_TRUE(config.ok()) << config.status();
  absl::Status status = FinalizeConfig(*config);
  EXPECT_THAT(status.message(), HasSubstr("--upstream-rs"));
  config->upstream.rs = "http://127.0.0.1:3001/mcp";
  EXPECT_TRUE(FinalizeConfig(*config).ok());
  EXPECT_EQ(config->listener.public_url, "http://localhost:8002");
}

TEST(ConfigTest, ListenerTlsTakesBothFilesAndMakesThePublicUrlHttps) {
  absl::StatusOr<Config> config = ParseConfig(
      "listener:\n  port: 8443\n  tls: {certificate_file: /etc/c.pem, key_file: /etc/k.pem}\n"
      "upstream: {rs: http://127.0.0.1:3001/mcp}\n",
      "test.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->listener.tls.enabled());
  EXPECT_EQ(config->listener.tls.certificate_file, "/etc/c.pem");
  EXPECT_EQ(config->listener.tls.key_file, "/etc/k.pem");
  ASSERT_TRUE(FinalizeConfig(*config).ok());
  EXPECT_EQ(config->listener.public_url, "https://localhost:8443");

  EXPECT_THAT(ErrorOf("listener:\n  tls: {certificate_file: /etc/c.pem}\nfilters: [{name: x}]\n"),
              HasSubstr("test.yaml:2:8: listener.tls: give both certificate_file and key_file"));
  EXPECT_THAT(ErrorOf("listener:\n  tls: {cert: /etc/c.pem}\nfilters: [{name: x}]\n"),
              HasSubstr("listener.tls.cert: unknown key"));
}

// SIGHUP applies users, limits, log.level and a new certificate; anything else waits for a restart.
TEST(ConfigTest, ReloadNamesTheChangesThatNeedARestart) {
  const std::string base =
      "listener:\n  port: 8443\n  tls: {certificate_file: /a.pem, key_file: /a.key}\n"
      "upstream: {rs: http://127.0.0.1:3001/mcp, scopes: read}\n"
      "users: [{name: a, password: b}]\n";
  absl::StatusOr<Config> running = ParseConfig(base, "test.yaml");
  ASSERT_TRUE(running.ok()) << running.status();
  auto changes = [&](const std::string& yaml) {
    absl::StatusOr<Config> next = ParseConfig(yaml, "test.yaml");
    EXPECT_TRUE(next.ok()) << next.status();
    return next.ok() ? ChangesNeedingRestart(*running, *next) : std::vector<std::string>{"?"};
  };
  EXPECT_THAT(changes(base), ::testing::IsEmpty());
  EXPECT_THAT(changes(absl::StrReplaceAll(base, {{"/a.pem", "/b.pem"}, {"/a.key", "/b.key"}}) +
                      "limits: {max_connections: 10}\nlog: {level: debug}\n"),
              ::testing::IsEmpty());
  EXPECT_THAT(changes(absl::StrReplaceAll(base, {{"[{name: a, password: b}]",
                                                  "[{name: a, password: b}, {name: c, "
                                                  "password: d}]"}})),
              ::testing::IsEmpty());
  EXPECT_THAT(changes(absl::StrReplaceAll(
                          base, {{"scopes: read", "scopes: write"}, {"port: 8443", "port: 9443"}}) +
                      "store: {type: memory}\n"),
              ::testing::ElementsAre("listener.port", "store", "upstream.scopes"));
  // The access log is opened once, at start (a section added whole is named whole).
  EXPECT_THAT(changes(base + "log: {level: warning, access: logfmt}\n"),
              ::testing::ElementsAre("log"));
  EXPECT_THAT(changes(base + "log: {level: warning}\n"), ::testing::IsEmpty());
  // Turning TLS off (or on) changes the public URL: a restart.
  EXPECT_THAT(changes("listener:\n  port: 8443\nupstream: {rs: http://127.0.0.1:3001/mcp, "
                      "scopes: read}\nusers: [{name: a, password: b}]\n"),
              ::testing::ElementsAre("listener.tls"));
  // `tls:` with no value is TLS off too, whichever way it changes.
  const std::string tls_off =
      absl::StrReplaceAll(base, {{"tls: {certificate_file: /a.pem, key_file: /a.key}", "tls:"}});
  EXPECT_THAT(changes(tls_off), ::testing::ElementsAre("listener.tls"));
  absl::StatusOr<Config> plain = ParseConfig(tls_off, "test.yaml");
  ASSERT_TRUE(plain.ok()) << plain.status();
  absl::StatusOr<Config> turned_on = ParseConfig(base, "test.yaml");
  ASSERT_TRUE(turned_on.ok()) << turned_on.status();
  EXPECT_THAT(ChangesNeedingRestart(*plain, *turned_on), ::testing::ElementsAre("listener.tls"));
}

TEST(ConfigTest, MatchesPathPrefixAndMethod) {
  RouteMatch exact{.path = "/healthz", .prefix = "", .methods = {"GET"}, .paths = {}};
  EXPECT_TRUE(exact.Matches("GET", "/healthz"));
  EXPECT_FALSE(exact.Matches("POST", "/healthz"));
  EXPECT_FALSE(exact.Matches("GET", "/healthz/x"));
  RouteMatch prefix{.path = "", .prefix = "/mcp", .methods = {}, .paths = {}};
  EXPECT_TRUE(prefix.Matches("DELETE", "/mcp"));
  EXPECT_TRUE(prefix.Matches("GET", "/mcp/stream"));
  EXPECT_FALSE(prefix.Matches("GET", "/other"));
  EXPECT_TRUE(RouteMatch{}.Matches("PUT", "/anything"));
  RouteMatch several{.path = "", .prefix = "", .methods = {}, .paths = {"/login", "/consent"}};
  EXPECT_TRUE(several.Matches("GET", "/login"));
  EXPECT_TRUE(several.Matches("POST", "/consent"));
  EXPECT_FALSE(several.Matches("GET", "/login/x"));
  EXPECT_FALSE(several.Matches("GET", "/mcp"));
}

TEST(ConfigTest, TheDefaultChainMakesNoLoginFilterForMcpRequests) {
  // The login filter answers three paths; matched to them, it is not made for every MCP request.
  absl::StatusOr<Config> config = ParseConfig("listener: {port: 1}\n", "test.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  const auto login = std::find_if(config->filters.begin(), config->filters.end(),
                                  [](const FilterEntry& entry) { return entry.name == "login"; });
  ASSERT_NE(login, config->filters.end());
  for (const char* path : {"/login", "/login/callback", "/consent"}) {
    EXPECT_TRUE(login->match.Matches("POST", path)) << path;
  }
  EXPECT_FALSE(login->match.Matches("POST", "/mcp"));
}

class ChainBuildTest : public ::testing::Test {
 protected:
  ChainBuildTest() {
    RegisterBuiltinFilters(registry_);
    RegisterExtensionFilters(registry_);
  }
  std::string BuildError(absl::string_view yaml) {
    absl::StatusOr<Config> config = ParseConfig(yaml, "chain.yaml");
    if (!config.ok()) {
      return std::string(config.status().message());
    }
    testing::TestServices services(*config);
    FactoryContext context = services.context();
    absl::StatusOr<std::shared_ptr<const FilterChain>> chain =
        FilterChain::Build(*config, registry_, context);
    return chain.ok() ? "built" : std::string(chain.status().message());
  }
  FilterRegistry registry_;
};

TEST_F(ChainBuildTest, UnknownFilterNameNamesPositionAndTheKnownOnes) {
  const std::string error = BuildError("filters:\n  - name: health\n  - name: helth\n");
  EXPECT_THAT(error, HasSubstr("chain.yaml:3:11: filters[1].name: unknown filter \"helth\" "
                               "(registered: authorize, bearer_split, dcr, delay, "));
  EXPECT_THAT(error, HasSubstr(" health, ip_allowlist, login, "));
}

TEST_F(ChainBuildTest, FactoriesReportTheirConfigErrorsWithPosition) {
  EXPECT_THAT(BuildError("filters:\n  - name: delay\n    config: {duration: forever}\n"),
              HasSubstr("chain.yaml:3:24: filters[0].config.duration: expected a duration"));
  EXPECT_THAT(BuildError("filters:\n  - name: delay\n"), HasSubstr("delay needs a duration"));
  EXPECT_THAT(
      BuildError("filters:\n  - name: health\n    config: {verbose: true}\n"),
      HasSubstr(
          "chain.yaml:3:14: filters[0].config.verbose: unknown key (this mapping takes no keys)"));
  EXPECT_THAT(BuildError("filters:\n  - name: ip_allowlist\n    config: {allow: [10.0.0.0/33]}\n"),
              HasSubstr("filters[0].config.allow: \"10.0.0.0/33\" is not a network"));
  EXPECT_EQ(BuildError("filters:\n  - name: direct_response\n    config: {status: 204}\n"),
            "built");
  // The fields the gateway sets itself cannot come from the client as well.
  for (const char* name : {"Authorization", "host", "X-Forwarded-For", "x-forwarded-proto",
                           "X-Forwarded-Host", "Cookie", "Connection", "Bad Name"}) {
    EXPECT_THAT(BuildError(absl::StrCat("filters:\n  - name: upstream_forward\n    config: "
                                        "{pass_headers: [X-Trace, \"",
                                        name, "\"]}\n")),
                HasSubstr(absl::StrCat("filters[0].config.pass_headers: \"", name,
                                       "\" cannot be passed through")));
  }
}

TEST_F(ChainBuildTest, RegisteringANameTwiceIsReported) {
  RegisterBuiltinFilters(registry_);
  EXPECT_THAT(BuildError("filters:\n  - name: health\n"), HasSubstr("registered under the name"));
}

}  // namespace
}  // namespace gateway

namespace gateway {
namespace {

// The README's configuration reference and the parser must agree: every documented key is one
// the parser reads (an unknown one would be refused by name).
TEST(ConfigTest, EveryKeyInTheReadmeReferenceIsOneTheParserReads) {
  std::ifstream readme(GATEWAY_SOURCE_DIR "/README.md");
  ASSERT_TRUE(readme);
  std::string line;
  int documented = 0;
  bool in_reference = false;
  while (std::getline(readme, line)) {
    if (absl::StartsWith(line, "## ")) {
      in_reference = line == "## Configuration reference";
    }
    if (!in_reference || !absl::StartsWith(line, "| `")) {
      continue;
    }
    const std::string key = line.substr(3, line.find('`', 3) - 3);
    if (key == "users" || key == "filters") {
      continue;  // lists, checked by the parsing tests above
    }
    ASSERT_NE(key.find('.'), std::string::npos) << key;
    // listener.tls.key_file → "listener:\n  tls:\n    key_file: "x"".
    std::string yaml;
    std::string indent;
    for (absl::string_view part : absl::StrSplit(key, '.')) {
      absl::StrAppend(&yaml, yaml.empty() ? "" : ":\n", indent, part);
      indent += "  ";
    }
    absl::StrAppend(&yaml, ": \"x\"\nfilters: [{name: health}]\n");
    absl::StatusOr<Config> config = ParseConfig(yaml, "readme.yaml");
    if (!config.ok()) {
      EXPECT_THAT(config.status().message(), Not(HasSubstr("unknown key"))) << key;
    }
    ++documented;
  }
  EXPECT_GE(documented, 40);
}

}  // namespace
}  // namespace gateway

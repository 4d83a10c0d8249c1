#include "source/common/config/flags.h"

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gateway {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<CommandLine> Parse(std::vector<const char*> arguments) {
  arguments.insert(arguments.begin(), "mcp-oauth-gateway");
  return ParseCommandLine(static_cast<int>(arguments.size()), arguments.data());
}

EnvLookup FakeEnvironment(std::map<std::string, std::string> values) {
  return [values](const char* name) -> std::optional<std::string> {
    auto found = values.find(name);
    if (found == values.end()) {
      return std::nullopt;
    }
    return found->second;
  };
}

Config YamlConfig() {
  absl::StatusOr<Config> config = ParseConfig(R"yaml(listener: {port: 9000, address: 127.0.0.1}
upstream:
  rs: http://127.0.0.1:3001/mcp
  client_id: from-yaml
  client_secret: yaml-secret
users: [{name: yaml-user, password: yaml-pass}]
filters: [{name: health}]
)yaml",
                                              "test.yaml");
  return *config;
}

TEST(FlagsTest, ParsesTheOriginalToolsFlags) {
  absl::StatusOr<CommandLine> flags =
      Parse({"--port=8002", "--upstream-rs=https://api.githubcopilot.com/mcp/",
             "--upstream-client-id", "Iv1.abc", "--upstream-client-secret=s3cret",
             "--upstream-authorize-endpoint=https://github.com/login/oauth/authorize",
             "--upstream-token-endpoint=https://github.com/login/oauth/access_token",
             "--upstream-as=https://github.com/", "--host=0.0.0.0", "--check-config"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->port, 8002);
  EXPECT_EQ(flags->upstream_rs, "https://api.githubcopilot.com/mcp/");
  EXPECT_EQ(flags->upstream_client_id, "Iv1.abc");
  EXPECT_EQ(flags->upstream_client_secret, "s3cret");
  EXPECT_EQ(flags->upstream_token_endpoint, "https://github.com/login/oauth/access_token");
  EXPECT_EQ(flags->host, "0.0.0.0");
  EXPECT_TRUE(flags->check_config);
}

TEST(FlagsTest, RefusesBadCommandLines) {
  EXPECT_THAT(Parse({"--nope"}).status().message(), HasSubstr("unknown flag --nope"));
  EXPECT_THAT(Parse({"--port"}).status().message(), HasSubstr("--port needs a value"));
  EXPECT_THAT(Parse({"--port=99999"}).status().message(), HasSubstr("--port: expected"));
  EXPECT_THAT(Parse({"--upstream-rs=github"}).status().message(), HasSubstr("--upstream-rs:"));
  EXPECT_THAT(Parse({"stray"}).status().message(), HasSubstr("unexpected argument"));
  EXPECT_THAT(Parse({"--help=yes"}).status().message(), HasSubstr("takes no value"));
}

TEST(FlagsTest, FlagsOverrideEnvironmentWhichOverridesYaml) {
  Config config = YamlConfig();
  absl::StatusOr<CommandLine> flags = Parse({"--upstream-client-id=from-flag", "--port=0"});
  ASSERT_TRUE(flags.ok());
  ASSERT_TRUE(
      ApplyOverrides(*flags,
                     FakeEnvironment({{"MCP_GATEWAY_UPSTREAM_CLIENT_ID", "from-env"},
                                      {"MCP_GATEWAY_UPSTREAM_CLIENT_SECRET", "env-secret"}}),
                     config)
          .ok());
  EXPECT_EQ(config.upstream.client_id, "from-flag");
  EXPECT_EQ(config.upstream.client_secret, "env-secret");
  EXPECT_EQ(config.listener.port, 0);
  EXPECT_EQ(config.listener.address, "127.0.0.1");
  ASSERT_EQ(config.users.size(), 1u);
  EXPECT_EQ(config.users[0].name, "yaml-user");
}

TEST(FlagsTest, LoginVariablesReplaceTheConfiguredUsers) {
  Config config = YamlConfig();
  ASSERT_TRUE(
      ApplyOverrides(CommandLine{}, FakeEnvironment({{"MCP_GATEWAY_PASSWORD", "pw"}}), config)
          .ok());
  ASSERT_EQ(config.users.size(), 1u);
  EXPECT_EQ(config.users[0].name, "gateway_user");
  EXPECT_EQ(config.users[0].password, "pw");
}

TEST(FlagsTest, BadEnvironmentUrlIsNamed) {
  Config config = YamlConfig();
  absl::Status status = ApplyOverrides(
      CommandLine{}, FakeEnvironment({{"MCP_GATEWAY_UPSTREAM_TOKEN_ENDPOINT", "nonsense"}}),
      config);
  EXPECT_THAT(status.message(), HasSubstr("MCP_GATEWAY_UPSTREAM_TOKEN_ENDPOINT"));
}

TEST(FlagsTest, HelpListsEveryFlagAndVariable) {
  const std::string usage = Usage();
  for (const char* name : {"--config",
                           "--check-config",
                           "--host",
                           "--port",
                           "--public-url",
                           "--workers",
                           "--log-level",
                           "--upstream-rs",
                           "--upstream-as",
                           "--upstream-client-id",
                           "--upstream-client-secret",
                           "--upstream-authorize-endpoint",
                           "--upstream-token-endpoint",
                           "--help",
                           "--version",
                           "MCP_GATEWAY_UPSTREAM_CLIENT_ID",
                           "MCP_GATEWAY_UPSTREAM_CLIENT_SECRET",
                           "MCP_GATEWAY_UPSTREAM_AUTHORIZE_ENDPOINT",
                           "MCP_GATEWAY_UPSTREAM_TOKEN_ENDPOINT",
                           "MCP_GATEWAY_USERNAME",
                           "MCP_GATEWAY_PASSWORD"}) {
    EXPECT_THAT(usage, HasSubstr(name));
  }
}

}  // namespace
}  // namespace gateway

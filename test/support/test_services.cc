#include "test/support/test_services.h"

namespace gateway::testing {

Config TestConfig() {
  absl::StatusOr<Config> config = ParseConfig(R"yaml(listener:
  port: 8002
  public_url: http://127.0.0.1:8002
upstream:
  rs: http://127.0.0.1:9/mcp
users:
  - {name: alice, password: wonderland}
filters:
  - name: health
)yaml",
                                              "test.yaml");
  FinalizeConfig(*config).IgnoreError();
  return *config;
}

TestServices::TestServices(Config config_in)
    : config(std::move(config_in)),
      keys(*token::KeyRing::Create({token::KeyRing::GenerateKey("test")})),
      users(std::make_unique<oauth::Users>(config.users, pool)),
      upstream(std::make_unique<oauth::UpstreamOAuth>(config)),
      client_metadata(std::make_unique<oauth::ClientMetadataResolver>(
          clock, config.oauth.allow_private_client_metadata)) {}

}  // namespace gateway::testing

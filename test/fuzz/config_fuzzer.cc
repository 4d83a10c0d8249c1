// gateway.yaml as --check-config reads it: YAML (yaml-cpp, behind config::ParseYaml), the typed
// sections with their sizes, durations and ${NAME} references (ParseConfig), the derived values
// (FinalizeConfig), and every filter's own `config:` through its factory (FilterChain::Build over
// the built-in filters). The file is the operator's, but a mistake in it must end in an error
// that names the node, never in a crash.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "source/common/blocking_pool.h"
#include "source/common/clock.h"
#include "source/common/config/config.h"
#include "source/common/log.h"
#include "source/common/oauth/client_metadata.h"
#include "source/common/oauth/upstream_client.h"
#include "source/common/oauth/users.h"
#include "source/common/token/key_ring.h"
#include "source/filter_chain.h"
#include "source/filter_registry.h"
#include "test/fuzz/check.h"

namespace {

using gateway::fuzz::Check;

// What every input shares: the built-in filters, a clock, keys and a blocking pool.
struct Shared {
  Shared() : keys(*gateway::token::KeyRing::Create({gateway::token::KeyRing::GenerateKey("k1")})) {
    gateway::log::SetLevel(gateway::log::Level::kError);
    gateway::RegisterBuiltinFilters(registry);
  }
  gateway::FilterRegistry registry;
  gateway::SystemClock clock;
  gateway::token::KeyRing keys;
  gateway::BlockingPool blocking_pool{1};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Shared* const shared = new Shared();
  const absl::string_view input(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<gateway::Config> parsed = gateway::ParseConfig(input, "fuzz.yaml");
  if (!parsed.ok()) {
    Check(parsed.status().code() == absl::StatusCode::kInvalidArgument,
          "a configuration error is InvalidArgument");
    return 0;
  }
  gateway::Config& config = *parsed;
  config.upstream.ca_file.clear();  // a path from the input: the fuzzer opens no files
  if (config.upstream.rs.empty()) {
    config.upstream.rs = "http://127.0.0.1:3001/mcp";
  }
  if (!gateway::FinalizeConfig(config).ok()) {
    return 0;
  }

  // Hashed passwords would cost a scrypt hash per input (the decoy); the chain does not read them.
  std::vector<gateway::UserConfig> plain_users = config.users;
  for (gateway::UserConfig& user : plain_users) {
    user.password = "fuzz";
  }
  gateway::oauth::Users users(plain_users, shared->blocking_pool);
  gateway::oauth::UpstreamOAuth upstream(config);
  gateway::oauth::ClientMetadataResolver client_metadata(
      shared->clock, config.oauth.allow_private_client_metadata);
  gateway::ServerState state;
  gateway::FactoryContext context{config,   state, shared->clock,  shared->keys,
                                  upstream, users, client_metadata};
  absl::StatusOr<std::shared_ptr<const gateway::FilterChain>> chain =
      gateway::FilterChain::Build(config, shared->registry, context);
  if (chain.ok()) {
    Check((*chain)->entries().size() == config.filters.size(),
          "the chain has one entry per configured filter");
  }
  return 0;
}

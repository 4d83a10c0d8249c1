#pragma once

// The process-wide services a filter factory needs (FactoryContext), built for a test from a
// configuration the test chooses.

#include <memory>

#include "source/common/blocking_pool.h"
#include "source/common/config/config.h"
#include "source/common/oauth/client_metadata.h"
#include "source/common/oauth/upstream_client.h"
#include "source/common/oauth/users.h"
#include "source/common/token/key_ring.h"
#include "source/filter.h"
#include "test/support/fake_clock.h"

namespace gateway::testing {

// A finalized configuration: upstream at http://127.0.0.1:9/mcp, public URL
// http://127.0.0.1:8002, one user alice / wonderland.
Config TestConfig();

class TestServices {
 public:
  explicit TestServices(Config config = TestConfig());

  FactoryContext context() {
    return FactoryContext{config, state, clock, keys, *upstream, *users, *client_metadata};
  }

  Config config;
  ServerState state;
  FakeClock clock;
  token::KeyRing keys;
  BlockingPool pool{1};
  std::unique_ptr<oauth::Users> users;
  std::unique_ptr<oauth::UpstreamOAuth> upstream;
  std::unique_ptr<oauth::ClientMetadataResolver> client_metadata;
};

}  // namespace gateway::testing

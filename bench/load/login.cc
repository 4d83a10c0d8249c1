// bench_login: walks the whole OAuth flow against a gateway the load benchmark started (in front
// of the GitHub-like fake as its authorization server) and writes the access token to a file, so
// that wrk and the other load clients carry a real token, obtained as a client obtains it.
//
// It reuses the end-to-end fixture's flow (register, both logins and consent, redeem) on ports
// given in the environment:
//   BENCH_GATEWAY_PORT   the gateway's port
//   BENCH_UPSTREAM_PORT  the GitHub-like fake's port (screen 2)
//   BENCH_TOKEN_FILE     where the access token goes
// Exits non-zero when any step of the flow fails.

#include <cstdlib>
#include <fstream>

#include "absl/strings/numbers.h"
#include "test/e2e/gateway_fixture.h"

namespace gateway::e2e {
namespace {

uint16_t PortFromEnv(const char* name) {
  const char* value = std::getenv(name);
  int port = 0;
  return value != nullptr && absl::SimpleAtoi(value, &port) && port > 0 && port < 65536
             ? static_cast<uint16_t>(port)
             : 0;
}

class BenchLogin : public GatewayFixture {};

TEST_F(BenchLogin, WritesAnAccessToken) {
  port_ = PortFromEnv("BENCH_GATEWAY_PORT");
  upstream_port_ = PortFromEnv("BENCH_UPSTREAM_PORT");
  const char* token_file = std::getenv("BENCH_TOKEN_FILE");
  ASSERT_NE(port_, 0) << "BENCH_GATEWAY_PORT";
  ASSERT_NE(upstream_port_, 0) << "BENCH_UPSTREAM_PORT";
  ASSERT_NE(token_file, nullptr) << "BENCH_TOKEN_FILE";
  const Tokens tokens = Login();
  ASSERT_FALSE(tokens.access.empty());
  std::ofstream(token_file) << tokens.access;
}

}  // namespace
}  // namespace gateway::e2e

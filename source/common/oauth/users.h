#pragma once

// The gateway's own users (screen 1). Passwords are configured as scrypt hashes
// (`mcp-oauth-gateway --hash-password`) or, for the original tool's variables and quick starts,
// as plain text. Checks take the same time whether or not the user exists, compare in constant
// time, and run scrypt on the blocking pool, never on an event loop. Immutable; thread-safe.

#include <functional>
#include <string>
#include <vector>

#include "source/common/blocking_pool.h"
#include "source/common/config/config.h"
#include "source/dispatcher.h"

namespace gateway::oauth {

class Users {
 public:
  Users(const std::vector<UserConfig>& users, BlockingPool& pool);

  // Checks `name` and `password`; `done` runs on `dispatcher` (later, never before this
  // returns) with whether they match.
  void Verify(Dispatcher& dispatcher, std::string name, std::string password,
              std::function<void(bool)> done) const;

  // How many users are configured with plain-text passwords (main() warns about them).
  int plain_count() const;

 private:
  std::vector<UserConfig> users_;
  BlockingPool& pool_;
  std::string decoy_hash_;  // checked for unknown users, so they cost what known ones cost
};

}  // namespace gateway::oauth

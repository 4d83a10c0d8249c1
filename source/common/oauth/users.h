#pragma once

// The gateway's own users (screen 1). Passwords are configured as scrypt hashes
// (`mcp-oauth-gateway --hash-password`) or, for the original tool's variables and quick starts,
// as plain text. Checks take the same time whether or not the user exists, compare in constant
// time, and run scrypt on the blocking pool, never on an event loop. Thread-safe: SIGHUP replaces
// the list (Replace()) while workers check against it; a check uses the list it started with.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
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
  size_t size() const;

  // Checks from now on use `users` (SIGHUP). Runs scrypt once (the decoy): call it off the loops.
  void Replace(const std::vector<UserConfig>& users);

 private:
  struct Table {
    std::vector<UserConfig> users;
    std::string decoy_hash;  // checked for unknown users, so they cost what known ones cost
  };
  static std::shared_ptr<const Table> MakeTable(const std::vector<UserConfig>& users);
  std::shared_ptr<const Table> table() const;

  BlockingPool& pool_;
  mutable absl::Mutex mutex_;
  std::shared_ptr<const Table> table_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace gateway::oauth

#pragma once

// Which gateway user created each MCP session (Mcp-Session-Id), so that another user's token
// cannot join it (DESIGN.md, proxying). Process-wide and thread-safe; bounded: past `capacity`
// the least recently seen sessions are forgotten (a forgotten session is simply unbound).

#include <cstddef>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace gateway {

class McpSessions {
 public:
  explicit McpSessions(size_t capacity = 100000) : capacity_(capacity) {}

  // Binds `session_id` to `user` unless it is already bound to someone.
  void Bind(const std::string& session_id, const std::string& user, absl::Time now);
  // The user `session_id` is bound to; nullopt when unbound.
  std::optional<std::string> Owner(const std::string& session_id, absl::Time now);
  void Forget(const std::string& session_id);

 private:
  struct Entry {
    std::string user;
    absl::Time last_seen;
  };
  void EvictLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const size_t capacity_;
  absl::Mutex mutex_;
  absl::flat_hash_map<std::string, Entry> sessions_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace gateway

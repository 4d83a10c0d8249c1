#include "source/common/mcp_sessions.h"

#include <algorithm>
#include <vector>

namespace gateway {

void McpSessions::Bind(const std::string& session_id, const std::string& user, absl::Time now) {
  absl::MutexLock lock(&mutex_);
  auto found = sessions_.find(session_id);
  if (found != sessions_.end()) {
    found->second.last_seen = now;
    return;
  }
  if (sessions_.size() >= capacity_) {
    EvictLocked();
  }
  sessions_.emplace(session_id, Entry{user, now});
}

std::optional<std::string> McpSessions::Owner(const std::string& session_id, absl::Time now) {
  absl::MutexLock lock(&mutex_);
  auto found = sessions_.find(session_id);
  if (found == sessions_.end()) {
    return std::nullopt;
  }
  found->second.last_seen = now;
  return found->second.user;
}

void McpSessions::Forget(const std::string& session_id) {
  absl::MutexLock lock(&mutex_);
  sessions_.erase(session_id);
}

void McpSessions::EvictLocked() {
  // Drops the least recently seen tenth: rare (only at capacity), so a sort is fine.
  std::vector<std::pair<absl::Time, std::string>> by_age;
  by_age.reserve(sessions_.size());
  for (const auto& [id, entry] : sessions_) {
    by_age.emplace_back(entry.last_seen, id);
  }
  const size_t drop = std::max<size_t>(1, by_age.size() / 10);
  std::nth_element(by_age.begin(), by_age.begin() + drop, by_age.end());
  for (size_t i = 0; i < drop; ++i) {
    sessions_.erase(by_age[i].second);
  }
}

}  // namespace gateway

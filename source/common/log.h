#pragma once

// One-line log records to stderr. Safe to call from any thread: each record is formatted into one
// buffer and written with a single write(2), so lines from different workers never interleave.
// Never pass a token, code, password or secret to these functions (DESIGN.md, security rules).

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gateway::log {

enum class Level { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLevel(Level level);
bool Enabled(Level level);
absl::StatusOr<Level> ParseLevel(absl::string_view name);

void Write(Level level, absl::string_view message);
inline void Debug(absl::string_view message) { Write(Level::kDebug, message); }
inline void Info(absl::string_view message) { Write(Level::kInfo, message); }
inline void Warning(absl::string_view message) { Write(Level::kWarning, message); }
inline void Error(absl::string_view message) { Write(Level::kError, message); }

}  // namespace gateway::log

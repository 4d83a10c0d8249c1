#pragma once

// The command line and environment. The original tool's flags and variables work unchanged
// (DESIGN.md, "The user's interface") and override gateway.yaml: defaults < YAML < environment <
// flags. Flags are spelt with dashes (--upstream-rs), as the original's are, which is why this is
// a small table rather than absl::flags (whose names cannot contain '-').

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "source/common/config/config.h"

namespace gateway {

struct CommandLine {
  std::optional<std::string> config_path;
  bool check_config = false;
  bool help = false;
  bool version = false;
  bool hash_password = false;

  std::optional<std::string> host;
  std::optional<int> port;
  std::optional<std::string> public_url;
  std::optional<int> workers;
  std::optional<std::string> log_level;
  std::optional<std::string> upstream_rs;
  std::optional<std::string> upstream_as;
  std::optional<std::string> upstream_client_id;
  std::optional<std::string> upstream_client_secret;
  std::optional<std::string> upstream_authorize_endpoint;
  std::optional<std::string> upstream_token_endpoint;
};

// Parses `--name=value`, `--name value` and bare switches. Unknown flags and stray arguments are
// errors naming them.
absl::StatusOr<CommandLine> ParseCommandLine(int argc, const char* const* argv);

// The --help text: every flag and environment variable.
std::string Usage();

// Looks up an environment variable; nullopt when unset. Tests pass their own.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
EnvLookup ProcessEnvironment();

// Applies the environment, then the flags, over `config`.
absl::Status ApplyOverrides(const CommandLine& command_line, const EnvLookup& env, Config& config);

}  // namespace gateway

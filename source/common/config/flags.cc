#include "source/common/config/flags.h"

#include <cstdlib>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "source/common/log.h"
#include "source/common/net.h"
#include "source/common/url.h"

namespace gateway {
namespace {

struct FlagSpec {
  const char* name;        // without the leading dashes
  const char* value_name;  // nullptr for a switch
  const char* help;
  std::function<absl::Status(CommandLine&, absl::string_view)> set;
};

absl::StatusOr<int> ParseInt(absl::string_view flag, absl::string_view value, int min, int max) {
  int number = 0;
  if (!absl::SimpleAtoi(value, &number) || number < min || number > max) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": expected an integer from ", min,
                                                   " to ", max, ", got \"", value, "\""));
  }
  return number;
}

absl::Status CheckUrl(absl::string_view where, absl::string_view value) {
  if (absl::StatusOr<Url> url = ParseUrl(value); !url.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", url.status().message()));
  }
  return absl::OkStatus();
}

// A flag whose value is a URL, stored in `field`.
FlagSpec UrlFlag(const char* name, const char* help,
                 std::optional<std::string> CommandLine::*field) {
  return {name, "URL", help, [name, field](CommandLine& out, absl::string_view value) {
            if (absl::Status status = CheckUrl(absl::StrCat("--", name), value); !status.ok()) {
              return status;
            }
            out.*field = std::string(value);
            return absl::OkStatus();
          }};
}

FlagSpec StringFlag(const char* name, const char* value_name, const char* help,
                    std::optional<std::string> CommandLine::*field) {
  return {name, value_name, help, [field](CommandLine& out, absl::string_view value) {
            out.*field = std::string(value);
            return absl::OkStatus();
          }};
}

const std::vector<FlagSpec>& Flags() {
  static const std::vector<FlagSpec>* const kFlags = new std::vector<FlagSpec>{
      StringFlag("config", "PATH", "gateway.yaml to read (default: ./gateway.yaml if present)",
                 &CommandLine::config_path),
      {"check-config", nullptr, "validate the configuration and exit (non-zero on error)",
       [](CommandLine& out, absl::string_view) {
         out.check_config = true;
         return absl::OkStatus();
       }},
      StringFlag("host", "ADDRESS", "listen address (listener.address; default 127.0.0.1)",
                 &CommandLine::host),
      {"port", "PORT", "listen port (listener.port; default 8002; 0 picks a free port)",
       [](CommandLine& out, absl::string_view value) -> absl::Status {
         absl::StatusOr<int> port = ParseInt("port", value, 0, 65535);
         if (!port.ok()) {
           return port.status();
         }
         out.port = *port;
         return absl::OkStatus();
       }},
      UrlFlag("public-url", "URL clients use to reach the gateway (listener.public_url)",
              &CommandLine::public_url),
      {"workers", "N", "event-loop threads (listener.workers; default: one per CPU)",
       [](CommandLine& out, absl::string_view value) -> absl::Status {
         absl::StatusOr<int> workers = ParseInt("workers", value, 1, 256);
         if (!workers.ok()) {
           return workers.status();
         }
         out.workers = *workers;
         return absl::OkStatus();
       }},
      StringFlag("log-level", "LEVEL", "debug, info, warning or error (log.level)",
                 &CommandLine::log_level),
      UrlFlag("upstream-rs", "upstream MCP server URL (upstream.rs; required somewhere)",
              &CommandLine::upstream_rs),
      UrlFlag("upstream-as", "upstream authorization server (upstream.as; discovered if unset)",
              &CommandLine::upstream_as),
      StringFlag("upstream-client-id", "ID",
                 "pre-registered upstream client id (upstream.client_id; "
                 "env MCP_GATEWAY_UPSTREAM_CLIENT_ID)",
                 &CommandLine::upstream_client_id),
      StringFlag("upstream-client-secret", "SECRET",
                 "upstream client secret (upstream.client_secret; "
                 "env MCP_GATEWAY_UPSTREAM_CLIENT_SECRET)",
                 &CommandLine::upstream_client_secret),
      UrlFlag("upstream-authorize-endpoint",
              "upstream authorize URL, skips discovery (upstream.authorize_endpoint; "
              "env MCP_GATEWAY_UPSTREAM_AUTHORIZE_ENDPOINT)",
              &CommandLine::upstream_authorize_endpoint),
      UrlFlag("upstream-token-endpoint",
              "upstream token URL, skips discovery (upstream.token_endpoint; "
              "env MCP_GATEWAY_UPSTREAM_TOKEN_ENDPOINT)",
              &CommandLine::upstream_token_endpoint),
      {"hash-password", nullptr,
       "read a password on standard input, print its hash for users: in gateway.yaml, exit",
       [](CommandLine& out, absl::string_view) {
         out.hash_password = true;
         return absl::OkStatus();
       }},
      {"help", nullptr, "show this help and exit",
       [](CommandLine& out, absl::string_view) {
         out.help = true;
         return absl::OkStatus();
       }},
      {"version", nullptr, "print the version and exit",
       [](CommandLine& out, absl::string_view) {
         out.version = true;
         return absl::OkStatus();
       }},
  };
  return *kFlags;
}

const FlagSpec* FindFlag(absl::string_view name) {
  for (const FlagSpec& flag : Flags()) {
    if (name == flag.name) {
      return &flag;
    }
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<CommandLine> ParseCommandLine(int argc, const char* const* argv) {
  CommandLine out;
  for (int i = 1; i < argc; ++i) {
    absl::string_view argument = argv[i];
    if (argument == "-h") {
      argument = "--help";
    }
    if (!absl::StartsWith(argument, "--") || argument.size() == 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", argument, "\" (see --help)"));
    }
    argument.remove_prefix(2);
    absl::string_view name = argument;
    std::optional<absl::string_view> value;
    if (const size_t equals = argument.find('='); equals != absl::string_view::npos) {
      name = argument.substr(0, equals);
      value = argument.substr(equals + 1);
    }
    const FlagSpec* flag = FindFlag(name);
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (flag->value_name == nullptr) {
      if (value.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      }
      value = "";
    } else if (!value.has_value()) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs a value (--", name, "=", flag->value_name, ")"));
      }
      value = argv[++i];
    }
    if (absl::Status status = flag->set(out, *value); !status.ok()) {
      return status;
    }
  }
  return out;
}

std::string Usage() {
  std::string text =
      "Usage: mcp-oauth-gateway [flags]\n"
      "\n"
      "An OAuth 2.1 gateway in front of an MCP server that has its own OAuth. Reads\n"
      "gateway.yaml; flags and environment variables override it.\n"
      "\n"
      "Flags:\n";
  for (const FlagSpec& flag : Flags()) {
    const std::string left = flag.value_name == nullptr
                                 ? absl::StrCat("  --", flag.name)
                                 : absl::StrCat("  --", flag.name, "=", flag.value_name);
    absl::StrAppendFormat(&text, "%-42s %s\n", left, flag.help);
  }
  text +=
      "\n"
      "Environment (overrides gateway.yaml; flags override these):\n"
      "  MCP_GATEWAY_UPSTREAM_CLIENT_ID, MCP_GATEWAY_UPSTREAM_CLIENT_SECRET,\n"
      "  MCP_GATEWAY_UPSTREAM_AUTHORIZE_ENDPOINT, MCP_GATEWAY_UPSTREAM_TOKEN_ENDPOINT,\n"
      "  MCP_GATEWAY_USERNAME, MCP_GATEWAY_PASSWORD (the gateway login)\n"
      "  and any ${VAR} that gateway.yaml references.\n";
  return text;
}

EnvLookup ProcessEnvironment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr) {
      return std::nullopt;
    }
    return std::string(value);
  };
}

absl::Status ApplyOverrides(const CommandLine& command_line, const EnvLookup& env, Config& config) {
  UpstreamConfig& upstream = config.upstream;
  struct EnvString {
    const char* name;
    std::string* field;
    bool url;
  };
  for (const EnvString& variable : {
           EnvString{"MCP_GATEWAY_UPSTREAM_CLIENT_ID", &upstream.client_id, false},
           EnvString{"MCP_GATEWAY_UPSTREAM_CLIENT_SECRET", &upstream.client_secret, false},
           EnvString{"MCP_GATEWAY_UPSTREAM_AUTHORIZE_ENDPOINT", &upstream.authorize_endpoint, true},
           EnvString{"MCP_GATEWAY_UPSTREAM_TOKEN_ENDPOINT", &upstream.token_endpoint, true},
       }) {
    std::optional<std::string> value = env(variable.name);
    if (!value.has_value() || value->empty()) {
      continue;
    }
    if (variable.url) {
      if (absl::Status status = CheckUrl(variable.name, *value); !status.ok()) {
        return status;
      }
    }
    *variable.field = *value;
  }
  // The original tool's single login: either variable replaces the configured users, the other
  // keeping the original's default.
  std::optional<std::string> username = env("MCP_GATEWAY_USERNAME");
  std::optional<std::string> password = env("MCP_GATEWAY_PASSWORD");
  if ((username.has_value() && !username->empty()) ||
      (password.has_value() && !password->empty())) {
    config.users = {
        UserConfig{username.value_or("gateway_user"), password.value_or("gateway_pass")}};
  }

  const CommandLine& flags = command_line;
  if (flags.host.has_value()) {
    config.listener.address = *flags.host;
  }
  if (flags.port.has_value()) {
    config.listener.port = *flags.port;
  }
  if (flags.public_url.has_value()) {
    config.listener.public_url = *flags.public_url;
  }
  if (flags.workers.has_value()) {
    config.listener.workers = *flags.workers;
  }
  if (flags.log_level.has_value()) {
    absl::StatusOr<log::Level> level = log::ParseLevel(*flags.log_level);
    if (!level.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--log-level: ", level.status().message()));
    }
    config.log_level = *level;
  }
  for (const auto& [flag, field] : {
           std::pair{&flags.upstream_rs, &upstream.rs},
           std::pair{&flags.upstream_as, &upstream.as},
           std::pair{&flags.upstream_client_id, &upstream.client_id},
           std::pair{&flags.upstream_client_secret, &upstream.client_secret},
           std::pair{&flags.upstream_authorize_endpoint, &upstream.authorize_endpoint},
           std::pair{&flags.upstream_token_endpoint, &upstream.token_endpoint},
       }) {
    if (flag->has_value()) {
      *field = **flag;
    }
  }
  if (flags.host.has_value() && *flags.host != "localhost" &&
      !Address::FromIp(*flags.host, 0).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--host: expected an IP address (or localhost), got \"", config.listener.address, "\""));
  }
  return absl::OkStatus();
}

}  // namespace gateway

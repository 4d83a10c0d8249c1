#pragma once

// The gateway's configuration: gateway.yaml parsed into typed, validated, immutable values.
// Loaded once on the main thread; the resulting Config is shared read-only by every worker.
// Every key, its default and its flag are listed in the README ("Configuration reference");
// test/unit/config_test.cc checks that list against this parser.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "source/common/config/config_map.h"
#include "source/common/http/client.h"
#include "source/common/http/server_connection.h"
#include "source/common/log.h"

namespace gateway {

// Which requests a chain entry applies to. Empty fields match everything.
struct RouteMatch {
  std::string path;                  // the exact path (no query)
  std::string prefix;                // a path prefix, compared byte by byte
  std::vector<std::string> methods;  // upper case; empty means any

  bool Matches(absl::string_view method, absl::string_view request_path) const;
};

// One entry of the `filters:` list.
struct FilterEntry {
  std::string name;
  RouteMatch match;
  config::Node config;  // the entry's `config:` node, read by the filter's factory
  config::Node where;   // the entry itself, for errors about it
};

struct ListenerConfig {
  std::string address = "127.0.0.1";
  int port = 8002;
  // What clients use to reach the gateway; the issuer and every URL the gateway publishes derive
  // from it. Default: http://localhost:<port>.
  std::string public_url;
  int workers = 0;  // 0: one per CPU
};

struct UpstreamConfig {
  std::string rs;  // the upstream MCP server (resource server) URL
  std::string as;  // its authorization server; discovered from `rs` when empty
  std::string client_id;
  std::string client_secret;
  std::string authorize_endpoint;
  std::string token_endpoint;
  std::string ca_file;  // extra trust anchors for upstream TLS
};

struct UserConfig {
  std::string name;
  std::string password;
};

struct LimitsConfig {
  http::ConnectionLimits connection;
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration upstream_idle_timeout = absl::Seconds(4);
  absl::Duration drain_timeout = absl::Seconds(10);
};

struct Config {
  std::string source;  // the file read, or "built-in defaults"
  ListenerConfig listener;
  UpstreamConfig upstream;
  std::vector<UserConfig> users;
  LimitsConfig limits;
  log::Level log_level = log::Level::kInfo;
  std::vector<FilterEntry> filters;

  // The upstream client settings for a worker's pool.
  http::ClientOptions ClientOptions() const;
};

// Parses gateway.yaml text. `file_name` appears in error messages.
absl::StatusOr<Config> ParseConfig(absl::string_view yaml, absl::string_view file_name);
// Reads and parses a file.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);
// The configuration used when no gateway.yaml is in reach: the original tool's command line
// (flags and environment variables) is then all there is.
absl::StatusOr<Config> BuiltInConfig();
// The YAML text behind BuiltInConfig().
absl::string_view BuiltInConfigYaml();

// Checks what only the whole configuration can tell (after flags and environment are applied):
// a required upstream, URLs that parse. Fills in derived defaults (the public URL).
absl::Status FinalizeConfig(Config& config);

}  // namespace gateway

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
#include "source/common/access_log.h"
#include "source/common/config/config_map.h"
#include "source/common/http/client.h"
#include "source/common/http/server_connection.h"
#include "source/common/log.h"
#include "source/common/store/redis_store.h"
#include "source/common/store/store.h"

namespace gateway {

// Which requests a chain entry applies to. Empty fields match everything.
struct RouteMatch {
  std::string path;                  // the exact path (no query)
  std::string prefix;                // a path prefix, compared byte by byte
  std::vector<std::string> methods;  // upper case; empty means any
  std::vector<std::string> paths;    // exact paths, any of them (instead of `path`)

  bool Matches(absl::string_view method, absl::string_view request_path) const;
};

// One entry of the `filters:` list.
struct FilterEntry {
  std::string name;
  RouteMatch match;
  config::Node config;  // the entry's `config:` node, read by the filter's factory
  config::Node where;   // the entry itself, for errors about it
};

// TLS on the listener: both files given, or neither (plain HTTP). Read at start-up and again on
// SIGHUP.
struct ListenerTlsConfig {
  std::string certificate_file;  // PEM: the certificate, then any intermediates
  std::string key_file;          // PEM: its private key

  bool enabled() const { return !certificate_file.empty(); }
};

struct ListenerConfig {
  std::string address = "127.0.0.1";
  int port = 8002;
  // What clients use to reach the gateway; the issuer and every URL the gateway publishes derive
  // from it. Default: http://localhost:<port> (https:// with TLS on).
  std::string public_url;
  int workers = 0;  // 0: one per CPU
  ListenerTlsConfig tls;
};

// The admin listener: /metrics and /healthz on an address of their own, off the public listener.
// Off unless a port is given.
struct AdminConfig {
  std::string address = "127.0.0.1";
  int port = -1;  // -1: no admin listener; 0: the kernel picks (logged at start)
  bool enabled() const { return port >= 0; }
};

struct UpstreamConfig {
  std::string rs;  // the upstream MCP server (resource server) URL
  std::string as;  // its authorization server; discovered from `rs` when empty
  std::string client_id;
  std::string client_secret;
  std::string authorize_endpoint;
  std::string token_endpoint;
  std::string revocation_endpoint;  // discovered when empty; optional
  std::string scopes;               // space-separated scopes asked of the upstream
  std::string ca_file;              // extra trust anchors for upstream TLS
};

struct UserConfig {
  std::string name;
  std::string password;  // a crypto::HashPassword() string, or plain text (warned about)
};

// The gateway as an OAuth authorization server and protected resource.
struct OAuthConfig {
  std::string mcp_path = "/mcp";    // the MCP endpoint: the resource is <public_url><mcp_path>
  std::vector<std::string> scopes;  // advertised and accepted; empty accepts any scope
  bool remember_consent = true;     // a user approves each client once
  // Client ID Metadata Documents: https URLs accepted as client ids, their metadata fetched.
  bool client_metadata_documents = true;
  // Let metadata documents live on loopback and private addresses (tests, private networks).
  bool allow_private_client_metadata = false;
};

struct TokensConfig {
  bool sealed = true;  // `format: sealed` (default) or `format: plain`
  absl::Duration access_ttl = absl::Hours(1);
  absl::Duration refresh_ttl = absl::Hours(24 * 30);
  // A rotated refresh token presented again within this long gets the same new tokens again (a
  // lost response, or two refreshes racing); later, it revokes the grant. 0 turns it off.
  absl::Duration refresh_grace = absl::Seconds(30);
  absl::Duration code_ttl = absl::Seconds(60);
  absl::Duration flow_ttl = absl::Minutes(10);
  std::string key_file;  // empty: a key made at start-up (fine while the store forgets anyway)
};

struct StoreConfig {
  std::string type = "memory";  // memory, sqlite or redis
  std::string path;             // sqlite: the database file
  bool full_sync = true;        // sqlite: synchronous=FULL (else NORMAL)
  store::RedisOptions redis;    // redis: where, and how long access tokens are cached
  store::StoreLimits limits;
};

struct LoginConfig {
  int max_failures = 5;  // per user and per client address, within the window
  absl::Duration failure_window = absl::Minutes(15);
};

// Dynamic client registration (RFC 7591) is open to anyone: how many clients one address may
// register in a window. Past it: 429, nothing stored.
struct RegistrationConfig {
  int max_per_address = 50;  // 0: no limit
  absl::Duration window = absl::Hours(1);
};

struct LimitsConfig {
  http::ConnectionLimits connection;
  // Open client connections per worker; one more is answered 503 and closed at once (SSE
  // streams hold theirs: each also holds an upstream connection, two file descriptors).
  int64_t max_connections = 4096;
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration upstream_idle_timeout = absl::Seconds(4);
  // Idle upstream connections a worker keeps per upstream origin for reuse. Below the number of
  // requests in flight at once, connections are closed and opened again under load.
  int64_t upstream_idle_connections = 256;
  absl::Duration drain_timeout = absl::Seconds(10);

  // The upstream client settings for a worker's pool; `ca_file` from upstream.ca_file.
  http::ClientOptions ClientOptions(const std::string& ca_file) const;
};

struct Config {
  std::string source;  // the file read, or "built-in defaults"
  config::Node root;   // the file as parsed (SIGHUP compares a new version with it)
  ListenerConfig listener;
  UpstreamConfig upstream;
  std::vector<UserConfig> users;
  OAuthConfig oauth;
  TokensConfig tokens;
  StoreConfig store;
  LoginConfig login;
  RegistrationConfig registration;
  LimitsConfig limits;
  AdminConfig admin;
  log::Level log_level = log::Level::kInfo;
  AccessLogConfig access_log;
  std::vector<FilterEntry> filters;
  // Set by FinalizeConfig() when no user was configured and the original tool's default login
  // (gateway_user / gateway_pass) is in use: main() warns about it.
  bool default_login = false;

  // The upstream client settings for a worker's pool.
  http::ClientOptions ClientOptions() const;
  // <public_url><mcp_path>: the protected resource, exactly as clients send it back (RFC 8707).
  std::string ResourceUrl() const { return listener.public_url + oauth.mcp_path; }
  // The authorization server's issuer (RFC 8414): the public URL.
  const std::string& Issuer() const { return listener.public_url; }
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

#include "source/common/config/config.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "source/common/net.h"
#include "source/common/url.h"

namespace gateway {
namespace {

using config::MapReader;
using config::Node;

constexpr char kBuiltInName[] = "built-in defaults";

constexpr absl::string_view kBuiltInYaml =
    R"yaml(# Built-in defaults: what runs when no gateway.yaml is in reach.
listener:
  address: 127.0.0.1
  port: 8002
filters:
  - name: health
    match: {path: /healthz, methods: [GET, HEAD]}
  - name: metadata
    match: {prefix: /.well-known/}
  - name: dcr
    match: {path: /register}
  - name: authorize
    match: {path: /authorize}
  - name: login
    match: {paths: [/login, /login/callback, /consent]}
  - name: upstream_callback
    match: {path: /upstream/callback}
  - name: token_exchange
    match: {path: /token}
  - name: revoke
    match: {path: /revoke}
  - name: bearer_split
    match: {prefix: /mcp}
  - name: upstream_forward
    match: {prefix: /mcp}
)yaml";

void ParseListener(MapReader& root, ListenerConfig& out) {
  MapReader reader(root.Child("listener"));
  out.address = reader.String("address", out.address);
  out.port = static_cast<int>(reader.Int("port", out.port, 0, 65535));
  out.public_url = reader.UrlString("public_url");
  out.workers = static_cast<int>(reader.Int("workers", out.workers, 0, 256));
  MapReader tls(reader.Child("tls"));
  out.tls.certificate_file = tls.String("certificate_file");
  out.tls.key_file = tls.String("key_file");
  if (out.tls.certificate_file.empty() != out.tls.key_file.empty()) {
    tls.AddError(tls.node().Error("give both certificate_file and key_file"));
  }
  reader.AddError(tls.Finish());
  if (out.address != "localhost" && !Address::FromIp(out.address, 0).ok()) {
    reader.AddError(reader.Child("address").Error(
        absl::StrCat("expected an IP address (or localhost), got \"", out.address, "\"")));
  }
  root.AddError(reader.Finish());
}

void ParseAdmin(MapReader& root, AdminConfig& out) {
  MapReader reader(root.Child("admin"));
  out.address = reader.String("address", out.address);
  out.port = static_cast<int>(reader.Int("port", out.port, 0, 65535));
  if (out.address != "localhost" && !Address::FromIp(out.address, 0).ok()) {
    reader.AddError(reader.Child("address").Error(
        absl::StrCat("expected an IP address (or localhost), got \"", out.address, "\"")));
  }
  root.AddError(reader.Finish());
}

void ParseUpstream(MapReader& root, UpstreamConfig& out) {
  MapReader reader(root.Child("upstream"));
  out.rs = reader.UrlString("rs");
  out.as = reader.UrlString("as");
  out.client_id = reader.String("client_id");
  out.client_secret = reader.String("client_secret");
  out.authorize_endpoint = reader.UrlString("authorize_endpoint");
  out.token_endpoint = reader.UrlString("token_endpoint");
  out.revocation_endpoint = reader.UrlString("revocation_endpoint");
  out.scopes = reader.String("scopes");
  out.ca_file = reader.String("ca_file");
  root.AddError(reader.Finish());
}

void ParseUsers(MapReader& root, std::vector<UserConfig>& out) {
  for (const Node& item : root.List("users")) {
    MapReader reader(item);
    UserConfig user;
    user.name = reader.String("name");
    user.password = reader.String("password");
    if (user.name.empty() || user.password.empty()) {
      reader.AddError(item.Error("a user needs a name and a password"));
    }
    root.AddError(reader.Finish());
    out.push_back(std::move(user));
  }
}

void ParseOAuth(MapReader& root, OAuthConfig& out) {
  MapReader reader(root.Child("oauth"));
  out.mcp_path = reader.String("mcp_path", out.mcp_path);
  out.scopes = reader.StringList("scopes");
  out.remember_consent = reader.Bool("remember_consent", out.remember_consent);
  out.client_metadata_documents =
      reader.Bool("client_metadata_documents", out.client_metadata_documents);
  out.allow_private_client_metadata =
      reader.Bool("allow_private_client_metadata", out.allow_private_client_metadata);
  if (out.mcp_path.empty() || out.mcp_path.front() != '/' ||
      out.mcp_path.find_first_of("?# ") != std::string::npos) {
    reader.AddError(reader.Child("mcp_path").Error("must be a path such as /mcp"));
  }
  for (const std::string& scope : out.scopes) {
    if (scope.empty() || scope.find_first_of(" \"\\") != std::string::npos) {
      reader.AddError(reader.Child("scopes").Error(
          absl::StrCat("\"", scope, "\" is not a scope token (RFC 6749 section 3.3)")));
    }
  }
  root.AddError(reader.Finish());
}

void ParseTokens(MapReader& root, TokensConfig& out) {
  MapReader reader(root.Child("tokens"));
  const std::string format = reader.String("format", "sealed");
  if (format != "sealed" && format != "plain") {
    reader.AddError(reader.Child("format").Error("expected sealed or plain"));
  }
  out.sealed = format == "sealed";
  out.access_ttl = reader.Duration("access_ttl", out.access_ttl);
  out.refresh_ttl = reader.Duration("refresh_ttl", out.refresh_ttl);
  out.refresh_grace = reader.Duration("refresh_grace", out.refresh_grace);
  if (out.refresh_grace > absl::Minutes(5)) {
    reader.AddError(
        reader.Child("refresh_grace")
            .Error("must be at most 5m: a rotated refresh token must stop working soon"));
  }
  out.code_ttl = reader.Duration("code_ttl", out.code_ttl);
  out.flow_ttl = reader.Duration("flow_ttl", out.flow_ttl);
  out.key_file = reader.String("key_file");
  for (const char* key : {"access_ttl", "refresh_ttl", "code_ttl", "flow_ttl"}) {
    if (reader.Has(key) && reader.Duration(key, absl::Seconds(1)) < absl::Seconds(1)) {
      reader.AddError(reader.Child(key).Error("must be at least 1s"));
    }
  }
  root.AddError(reader.Finish());
}

void ParseStore(MapReader& root, StoreConfig& out) {
  MapReader reader(root.Child("store"));
  out.type = reader.String("type", out.type);
  if (out.type != "memory" && out.type != "sqlite" && out.type != "redis") {
    reader.AddError(reader.Child("type").Error(
        absl::StrCat("unknown store type \"", out.type, "\" (available: memory, sqlite, redis)")));
  }
  const std::string url = reader.String("url", "redis://127.0.0.1:6379");
  if (absl::StatusOr<store::RedisEndpoint> endpoint = store::ParseRedisUrl(url); endpoint.ok()) {
    out.redis.endpoint = *endpoint;
  } else {
    reader.AddError(reader.Child("url").Error(std::string(endpoint.status().message())));
  }
  out.redis.key_prefix = reader.String("key_prefix", out.redis.key_prefix);
  out.redis.endpoint.timeout = reader.Duration("timeout", out.redis.endpoint.timeout);
  out.redis.token_cache_ttl = reader.Duration("token_cache_ttl", out.redis.token_cache_ttl);
  if (out.redis.token_cache_ttl > absl::Minutes(1)) {
    reader.AddError(reader.Child("token_cache_ttl")
                        .Error("must be at most 1m: it bounds how late a revocation is seen"));
  }
  out.path = reader.String("path", out.path);
  const std::string synchronous = reader.String("synchronous", out.full_sync ? "full" : "normal");
  if (synchronous != "full" && synchronous != "normal") {
    reader.AddError(reader.Child("synchronous").Error("must be full or normal"));
  }
  out.full_sync = synchronous == "full";
  store::StoreLimits& limits = out.limits;
  constexpr int64_t kMax = 100'000'000;
  limits.max_clients = reader.Int("max_clients", limits.max_clients, 1, kMax);
  limits.max_flows = reader.Int("max_flows", limits.max_flows, 1, kMax);
  limits.max_codes = reader.Int("max_codes", limits.max_codes, 1, kMax);
  limits.max_grants = reader.Int("max_grants", limits.max_grants, 1, kMax);
  limits.max_tokens = reader.Int("max_tokens", limits.max_tokens, 2, kMax);
  limits.max_counters = reader.Int("max_counters", limits.max_counters, 1, kMax);
  limits.client_idle_ttl = reader.Duration("client_idle_ttl", limits.client_idle_ttl);
  root.AddError(reader.Finish());
}

void ParseLogin(MapReader& root, LoginConfig& out) {
  MapReader reader(root.Child("login"));
  out.max_failures = static_cast<int>(reader.Int("max_failures", out.max_failures, 1, 1000));
  out.failure_window = reader.Duration("failure_window", out.failure_window);
  root.AddError(reader.Finish());
}

void ParseRegistration(MapReader& root, RegistrationConfig& out) {
  MapReader reader(root.Child("registration"));
  out.max_per_address =
      static_cast<int>(reader.Int("max_per_address", out.max_per_address, 0, 1000000));
  out.window = reader.Duration("window", out.window);
  if (out.window < absl::Seconds(1)) {
    reader.AddError(reader.Child("window").Error("must be at least 1s"));
  }
  root.AddError(reader.Finish());
}

void ParseLimits(MapReader& root, LimitsConfig& out) {
  MapReader reader(root.Child("limits"));
  http::ConnectionLimits& connection = out.connection;
  connection.parser.max_header_bytes =
      reader.Bytes("max_header_bytes", connection.parser.max_header_bytes);
  connection.parser.max_uri_bytes = reader.Bytes("max_uri_bytes", connection.parser.max_uri_bytes);
  connection.max_request_body_bytes =
      reader.Bytes("max_request_body_bytes", connection.max_request_body_bytes);
  connection.buffer_bytes = reader.Bytes("buffer_bytes", connection.buffer_bytes);
  connection.header_timeout = reader.Duration("header_timeout", connection.header_timeout);
  connection.idle_timeout = reader.Duration("idle_timeout", connection.idle_timeout);
  connection.stream_idle_timeout =
      reader.Duration("stream_idle_timeout", connection.stream_idle_timeout);
  out.connect_timeout = reader.Duration("connect_timeout", out.connect_timeout);
  out.upstream_idle_timeout = reader.Duration("upstream_idle_timeout", out.upstream_idle_timeout);
  out.upstream_idle_connections =
      reader.Int("upstream_idle_connections", out.upstream_idle_connections, 0, 100000);
  out.drain_timeout = reader.Duration("drain_timeout", out.drain_timeout);
  out.max_connections = reader.Int("max_connections", out.max_connections, 1, 1000000);
  if (connection.buffer_bytes < 1024) {
    reader.AddError(reader.Child("buffer_bytes").Error("must be at least 1KiB"));
  }
  for (const char* key : {"header_timeout", "idle_timeout", "stream_idle_timeout",
                          "connect_timeout", "upstream_idle_timeout"}) {
    if (reader.Has(key) && reader.Duration(key, absl::Seconds(1)) == absl::ZeroDuration()) {
      reader.AddError(reader.Child(key).Error("must be longer than 0s"));
    }
  }
  root.AddError(reader.Finish());
}

void ParseLog(MapReader& root, log::Level& out, AccessLogConfig& access) {
  MapReader reader(root.Child("log"));
  if (reader.Has("level")) {
    absl::StatusOr<log::Level> level = log::ParseLevel(reader.String("level"));
    if (level.ok()) {
      out = *level;
    } else {
      reader.AddError(reader.Child("level").Error(level.status().message()));
    }
  }
  const std::string format = reader.String("access", "off");
  if (format == "json") {
    access.format = AccessLogConfig::Format::kJson;
  } else if (format == "logfmt") {
    access.format = AccessLogConfig::Format::kLogfmt;
  } else if (format == "off") {
    access.format = AccessLogConfig::Format::kOff;
  } else {
    reader.AddError(reader.Child("access").Error("expected json, logfmt or off"));
  }
  access.output = reader.String("access_output", access.output);
  if (access.output.empty()) {
    reader.AddError(reader.Child("access_output").Error("expected stderr, stdout or a file path"));
  }
  root.AddError(reader.Finish());
}

void ParseMatch(MapReader& entry, RouteMatch& out) {
  MapReader reader(entry.Child("match"));
  out.path = reader.String("path");
  out.prefix = reader.String("prefix");
  for (std::string method : reader.StringList("methods")) {
    out.methods.push_back(absl::AsciiStrToUpper(method));
  }
  out.paths = reader.StringList("paths");
  if (reader.Has("paths") && out.paths.empty()) {
    reader.AddError(reader.Child("paths").Error("list at least one path"));
  }
  const int given =
      (out.path.empty() ? 0 : 1) + (out.paths.empty() ? 0 : 1) + (out.prefix.empty() ? 0 : 1);
  if (given > 1) {
    reader.AddError(reader.node().Error("give one of path, paths or prefix"));
  }
  for (const char* key : {"path", "prefix"}) {
    const std::string value = reader.String(key);
    if (!value.empty() && value.front() != '/') {
      reader.AddError(reader.Child(key).Error("must start with /"));
    }
  }
  for (const std::string& path : out.paths) {
    if (path.empty() || path.front() != '/') {
      reader.AddError(
          reader.Child("paths").Error(absl::StrCat("\"", path, "\" must start with /")));
    }
  }
  entry.AddError(reader.Finish());
}

void ParseFilters(MapReader& root, std::vector<FilterEntry>& out) {
  if (!root.Has("filters") && root.node().file() != kBuiltInName) {
    // No chain given: the default one, as the built-in configuration has it.
    root.Child("filters");
    out = BuiltInConfig()->filters;
    return;
  }
  Node list = root.Child("filters");
  for (const Node& item : root.List("filters")) {
    MapReader reader(item);
    FilterEntry entry;
    entry.where = item;
    entry.name = reader.String("name");
    if (entry.name.empty()) {
      reader.AddError(item.Error("a filter entry needs a name"));
    }
    ParseMatch(reader, entry.match);
    entry.config = reader.Child("config");
    root.AddError(reader.Finish());
    out.push_back(std::move(entry));
  }
  if (out.empty()) {
    root.AddError(list.Error("the filter chain is empty"));
  }
}

}  // namespace

bool RouteMatch::Matches(absl::string_view method, absl::string_view request_path) const {
  if (!path.empty() && request_path != path) {
    return false;
  }
  if (!prefix.empty() && !absl::StartsWith(request_path, prefix)) {
    return false;
  }
  if (!paths.empty() && std::find(paths.begin(), paths.end(), request_path) == paths.end()) {
    return false;
  }
  if (!methods.empty()) {
    for (const std::string& allowed : methods) {
      if (allowed == method) {
        return true;
      }
    }
    return false;
  }
  return true;
}

http::ClientOptions LimitsConfig::ClientOptions(const std::string& ca_file) const {
  http::ClientOptions options;
  options.connect_timeout = connect_timeout;
  options.stream_idle_timeout = connection.stream_idle_timeout;
  options.pool_idle_timeout = upstream_idle_timeout;
  options.max_idle_per_origin = static_cast<size_t>(upstream_idle_connections);
  options.buffer_bytes = connection.buffer_bytes;
  options.parser = connection.parser;
  options.ca_file = ca_file;
  return options;
}

http::ClientOptions Config::ClientOptions() const { return limits.ClientOptions(upstream.ca_file); }

absl::StatusOr<Config> ParseConfig(absl::string_view yaml, absl::string_view file_name) {
  absl::StatusOr<Node> root = config::ParseYaml(yaml, file_name);
  if (!root.ok()) {
    return root.status();
  }
  Config config;
  config.source = std::string(file_name);
  config.root = *root;
  MapReader reader(*root);
  if (!root->defined()) {
    reader.AddError(root->Error("the file is empty"));
  }
  ParseListener(reader, config.listener);
  ParseAdmin(reader, config.admin);
  ParseUpstream(reader, config.upstream);
  ParseUsers(reader, config.users);
  ParseOAuth(reader, config.oauth);
  ParseTokens(reader, config.tokens);
  ParseStore(reader, config.store);
  ParseLogin(reader, config.login);
  ParseRegistration(reader, config.registration);
  ParseLimits(reader, config.limits);
  ParseLog(reader, config.log_level, config.access_log);
  ParseFilters(reader, config.filters);
  if (absl::Status status = reader.Finish(); !status.ok()) {
    return status;
  }
  return config;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  }
  std::ostringstream text;
  text << file.rdbuf();
  return ParseConfig(text.str(), path);
}

absl::string_view BuiltInConfigYaml() { return kBuiltInYaml; }

absl::StatusOr<Config> BuiltInConfig() {
  absl::StatusOr<Config> config = ParseConfig(kBuiltInYaml, kBuiltInName);
  return config;
}

absl::Status FinalizeConfig(Config& config) {
  if (config.upstream.rs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.source,
        ": no upstream MCP server: set upstream.rs in gateway.yaml or pass --upstream-rs=URL"));
  }
  if (config.listener.public_url.empty()) {
    config.listener.public_url = absl::StrCat(config.listener.tls.enabled() ? "https" : "http",
                                              "://localhost:", config.listener.port);
  }
  absl::StatusOr<Url> public_url = ParseUrl(config.listener.public_url);
  if (!public_url.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("listener.public_url: ", public_url.status().message()));
  }
  if (!public_url->query.empty()) {
    return absl::InvalidArgumentError("listener.public_url must not have a query");
  }
  // One canonical form, so every URL derived from it is spelt the same way.
  config.listener.public_url = std::string(absl::StripSuffix(public_url->ToString(), "/"));
  if (config.upstream.authorize_endpoint.empty() != config.upstream.token_endpoint.empty()) {
    return absl::InvalidArgumentError(
        "give both upstream.authorize_endpoint and upstream.token_endpoint (or "
        "--upstream-authorize-endpoint and --upstream-token-endpoint), or neither to discover "
        "them");
  }
  // Both 0 is fine: the kernel gives each its own port.
  if (config.admin.enabled() && config.admin.port != 0 &&
      config.admin.port == config.listener.port) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin.port ", config.admin.port,
                     " is the listener's port: give the admin listener a port of its own (or 0)"));
  }
  if (config.users.empty()) {
    config.users.push_back(UserConfig{"gateway_user", "gateway_pass"});
    config.default_login = true;
  }
  if (config.store.type == "sqlite") {
    if (config.store.path.empty()) {
      return absl::InvalidArgumentError(
          "store.type sqlite needs store.path, the database file (created on first start)");
    }
    // The upstream tokens in the file are sealed: they must stay readable after a restart.
    if (config.tokens.key_file.empty()) {
      config.tokens.key_file = absl::StrCat(config.store.path, ".key");
    }
  }
  if (!config.upstream.ca_file.empty()) {
    std::ifstream ca(config.upstream.ca_file);
    if (!ca) {
      return absl::InvalidArgumentError(
          absl::StrCat("upstream.ca_file: cannot read ", config.upstream.ca_file));
    }
  }
  return absl::OkStatus();
}

}  // namespace gateway

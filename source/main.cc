// mcp-oauth-gateway: flags, environment and gateway.yaml → Config → filter chain → Server.
//
// Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT) or a valid --check-config; 1 when the
// gateway cannot start (port in use); 2 for a bad command line or configuration. Every failure is
// one line on stderr that says what to fix.

#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "source/common/blocking_pool.h"
#include "source/common/clock.h"
#include "source/common/config/config.h"
#include "source/common/config/flags.h"
#include "source/common/config/reload.h"
#include "source/common/crypto.h"
#include "source/common/log.h"
#include "source/common/net.h"
#include "source/common/oauth/client_metadata.h"
#include "source/common/oauth/upstream_client.h"
#include "source/common/oauth/users.h"
#include "source/common/store/memory_store.h"
#include "source/common/store/redis_store.h"
#include "source/common/store/sqlite_store.h"
#include "source/common/tls.h"
#include "source/common/token/key_ring.h"
#include "source/dispatcher.h"
#include "source/filter_chain.h"
#include "source/filter_registry.h"
#include "source/filters/metrics.h"
#include "source/request_recorder.h"
#include "source/server.h"

namespace gateway {
namespace {

// Each connection is a file descriptor, and each proxied stream holds two (client and upstream):
// the soft limit goes up to the hard one, as nginx's worker_rlimit_nofile does, and a limit
// below what limits.max_connections allows is said at start-up, not found at the first EMFILE.
void RaiseFileLimit(const Config& config) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return;
  }
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  const uint64_t workers = static_cast<uint64_t>(WorkerCount(config));
  const uint64_t wanted = 2 * workers * config.limits.max_connections + 256;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    log::Warning(absl::StrCat(
        "the file descriptor limit is ", limit.rlim_cur, "; ", workers,
        " workers of limits.max_connections ", config.limits.max_connections,
        " proxying streams may need ", wanted,
        ": raise the hard limit (LimitNOFILE=, ulimit -Hn) or lower limits.max_connections"));
  }
}

constexpr char kVersion[] = "0.1.0";
constexpr char kDefaultConfigPath[] = "gateway.yaml";

int Fail(int code, absl::string_view message) {
  std::fprintf(stderr, "mcp-oauth-gateway: %.*s\n", static_cast<int>(message.size()),
               message.data());
  return code;
}

// gateway.yaml from --config, else ./gateway.yaml if present, else the built-in defaults (the
// original tool's command line alone is then enough).
// The token keys: from tokens.key_file (created on first start), or made now when none is
// configured. With `check_only`, a missing file is not created.
absl::StatusOr<token::KeyRing> LoadKeys(const Config& config, bool check_only) {
  if (config.tokens.key_file.empty() ||
      (check_only && !std::filesystem::exists(config.tokens.key_file))) {
    return token::KeyRing::Create({token::KeyRing::GenerateKey("boot")});
  }
  return token::KeyRing::LoadOrCreate(config.tokens.key_file);
}

// The configured store, loaded and ready.
absl::StatusOr<std::unique_ptr<store::StoreBackend>> OpenStore(const Config& config,
                                                               const Clock& clock,
                                                               const token::KeyRing& keys) {
  if (config.store.type == "sqlite") {
    absl::StatusOr<std::unique_ptr<store::SqliteStoreBackend>> sqlite =
        store::SqliteStoreBackend::Open({config.store.path, config.store.full_sync}, clock,
                                        config.store.limits, keys);
    if (!sqlite.ok()) {
      return sqlite.status();
    }
    const store::SqliteLoadReport& loaded = (*sqlite)->loaded();
    log::Info(absl::StrCat(
        "store ", config.store.path, ": ", loaded.clients, " clients, ", loaded.grants, " grants, ",
        loaded.tokens, " tokens, ", loaded.flows + loaded.codes, " logins in progress loaded in ",
        absl::FormatDuration(loaded.took), "; ", loaded.expired, " expired records dropped"));
    if (loaded.unsealable > 0) {
      log::Warning(absl::StrCat(
          loaded.unsealable,
          " stored grants or documents were sealed with a key not in tokens.key_file and were "
          "dropped: their clients must authorize again"));
    }
    return std::unique_ptr<store::StoreBackend>(std::move(*sqlite));
  }
  if (config.store.type == "redis") {
    auto redis = std::make_unique<store::RedisStoreBackend>(config.store.redis, clock,
                                                            config.store.limits, keys);
    const store::RedisEndpoint& endpoint = config.store.redis.endpoint;
    if (absl::Status reachable = redis->Check(); reachable.ok()) {
      log::Info(absl::StrCat("store: redis ", endpoint.host, ":", endpoint.port, ", keys under ",
                             config.store.redis.key_prefix,
                             "; revocations reach every replica within ",
                             absl::FormatDuration(config.store.redis.token_cache_ttl)));
    } else if (reachable.code() == absl::StatusCode::kUnavailable) {
      log::Warning(absl::StrCat(reachable.message(),
                                "; starting anyway: OAuth endpoints answer 503 until it is back"));
    } else {
      return reachable;
    }
    return std::unique_ptr<store::StoreBackend>(std::move(redis));
  }
  log::Info(
      "store: memory; registrations and tokens are lost on restart (store.type: sqlite keeps "
      "them)");
  return std::make_unique<store::MemoryStoreBackend>(clock, config.store.limits);
}

// Every configured password hash must be one this build can check.
absl::Status CheckPasswordHashes(const Config& config) {
  for (const UserConfig& user : config.users) {
    if (crypto::IsPasswordHash(user.password) && !crypto::VerifyPassword("", user.password).ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("users: the password of ", user.name,
                       " is not a valid hash; make one with: mcp-oauth-gateway --hash-password"));
    }
  }
  return absl::OkStatus();
}

// The listener's TLS context from listener.tls; null when TLS is off.
absl::StatusOr<tls::SharedSslCtx> LoadListenerTls(const ListenerTlsConfig& config) {
  if (!config.enabled()) {
    return nullptr;
  }
  absl::StatusOr<tls::SslCtxPtr> context =
      tls::CreateServerContext(config.certificate_file, config.key_file);
  if (!context.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("listener.tls: ", context.status().message()));
  }
  return tls::Share(std::move(*context));
}

// What SIGHUP reads: the configuration file again, with the same flags and environment on top,
// checked whole (and the certificate and key loaded) before anything of it is applied.
struct Reload {
  Config config;
  tls::SharedSslCtx tls_context;
  std::vector<std::string> needs_restart;
};

absl::StatusOr<Reload> ReadReload(const CommandLine& command_line, const Config& running) {
  absl::StatusOr<Config> next = LoadConfigFile(running.source);
  if (!next.ok()) {
    return next.status();
  }
  if (absl::Status status = ApplyOverrides(command_line, ProcessEnvironment(), *next);
      !status.ok()) {
    return status;
  }
  // The listener stays as it is (the kernel may have chosen the port).
  next->listener.port = running.listener.port;
  if (absl::Status status = FinalizeConfig(*next); !status.ok()) {
    return status;
  }
  if (absl::Status status = CheckPasswordHashes(*next); !status.ok()) {
    return status;
  }
  Reload reload;
  reload.needs_restart = ChangesNeedingRestart(running, *next);
  if (running.listener.tls.enabled() && next->listener.tls.enabled()) {
    absl::StatusOr<tls::SharedSslCtx> context = LoadListenerTls(next->listener.tls);
    if (!context.ok()) {
      return context.status();
    }
    reload.tls_context = *std::move(context);
  }
  reload.config = *std::move(next);
  return reload;
}

// glibc hands the free top of a worker thread's heap back to the kernel (madvise) once it passes
// the trim threshold, and grows the heap again at the next large allocation. A TLS read
// reserves a 16 KB buffer and the parser drains it, so with the defaults an HTTPS request could
// pay for the heap shrinking and the page faults of growing it back: a third of the gateway's
// CPU per HTTPS request on a paravirtualised machine (bench/README.md). Keeping up to 8 MiB free
// per arena, and growing by 1 MiB at a time, ends that churn. An operator who tunes glibc's
// malloc (GLIBC_TUNABLES, or the older MALLOC_*_ variables) keeps their own settings. A build
// with jemalloc (CMakeLists.txt) has nothing to tune here: jemalloc returns freed pages on a
// timer (MALLOC_CONF's dirty_decay_ms), not at every free.
void KeepFreedHeap() {
#if defined(__GLIBC__) && !defined(GATEWAY_JEMALLOC)
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if ((tunables != nullptr && absl::StrContains(tunables, "glibc.malloc.")) ||
      std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr ||
      std::getenv("MALLOC_TOP_PAD_") != nullptr) {
    return;
  }
  constexpr int kTrimThreshold = 8 << 20;
  constexpr int kTopPad = 1 << 20;
  ::mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
  ::mallopt(M_TOP_PAD, kTopPad);
#endif
}

absl::StatusOr<Config> LoadConfig(const CommandLine& command_line) {
  if (command_line.config_path.has_value()) {
    return LoadConfigFile(*command_line.config_path);
  }
  if (std::filesystem::exists(kDefaultConfigPath)) {
    return LoadConfigFile(kDefaultConfigPath);
  }
  return BuiltInConfig();
}

// The signals the main thread's loop watches (SIGTERM, SIGINT, SIGHUP).
sigset_t WatchedSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

int Main(int argc, char** argv) {
  // The watched signals are blocked here, before any thread starts (threads inherit the mask),
  // and stay blocked in every thread: the main loop reads them from signalfds
  // (Dispatcher::WatchSignal), so no handler runs in any thread, and one sent before the loop
  // watches waits in the kernel until it does. (Signal handlers, under ThreadSanitizer, which
  // defers them, left about one SIGTERM in a hundred unanswered under load.)
  const sigset_t watched = WatchedSignals();
  pthread_sigmask(SIG_BLOCK, &watched, nullptr);
  // Debian's Abseil is built with Mutex deadlock detection on: every lock, the store's read on
  // each request included, then goes through a process-wide lock-order graph. The tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  KeepFreedHeap();
  absl::StatusOr<CommandLine> command_line = ParseCommandLine(argc, argv);
  if (!command_line.ok()) {
    return Fail(2, command_line.status().message());
  }
  if (command_line->help) {
    std::fputs(Usage().c_str(), stdout);
    return 0;
  }
  if (command_line->version) {
    std::printf("mcp-oauth-gateway %s\n", kVersion);
    return 0;
  }
  if (command_line->hash_password) {
    // The password comes on standard input, so it stays out of the shell history and `ps`.
    std::string password;
    std::getline(std::cin, password);
    if (password.empty()) {
      return Fail(2, "--hash-password reads the password from standard input; it was empty");
    }
    std::printf("%s\n", crypto::HashPassword(password).c_str());
    return 0;
  }

  absl::StatusOr<Config> loaded = LoadConfig(*command_line);
  if (!loaded.ok()) {
    return Fail(2, loaded.status().message());
  }
  Config& config = *loaded;
  if (absl::Status status = ApplyOverrides(*command_line, ProcessEnvironment(), config);
      !status.ok()) {
    return Fail(2, status.message());
  }
  log::SetLevel(config.log_level);
  absl::StatusOr<Address> address = ListenAddress(config.listener);
  if (!address.ok()) {
    return Fail(2, address.status().message());
  }

  // The port is settled before anything derives URLs from it (with --port=0 the kernel picks),
  // and held until the workers listen on it.
  std::optional<HeldPort> held_port;
  if (!command_line->check_config) {
    absl::StatusOr<HeldPort> held = HeldPort::Hold(*address);
    if (!held.ok()) {
      return Fail(1, held.status().message());
    }
    held_port.emplace(std::move(*held));
    config.listener.port = held_port->port();
    *address = *Address::FromIp(address->Ip(), held_port->port());
  }
  if (absl::Status status = FinalizeConfig(config); !status.ok()) {
    return Fail(2, status.message());
  }

  if (absl::Status status = CheckPasswordHashes(config); !status.ok()) {
    return Fail(2, status.message());
  }
  absl::StatusOr<tls::SharedSslCtx> tls_context = LoadListenerTls(config.listener.tls);
  if (!tls_context.ok()) {
    return Fail(2, tls_context.status().message());
  }
  absl::StatusOr<token::KeyRing> keys = LoadKeys(config, command_line->check_config);
  if (!keys.ok()) {
    return Fail(2, keys.status().message());
  }

  // Process-wide services, shared by every worker (each is immutable or thread-safe).
  SystemClock clock;
  BlockingPool blocking_pool(1);
  oauth::Users users(config.users, blocking_pool);
  oauth::UpstreamOAuth upstream(config);
  oauth::ClientMetadataResolver client_metadata(clock, config.oauth.allow_private_client_metadata);

  FilterRegistry registry;
  RegisterBuiltinFilters(registry);
  RegisterExtensionFilters(registry);
  ServerState state;
  upstream.CountInto(&state.metrics);
  FactoryContext context{config, state, clock, *keys, upstream, users, client_metadata};
  absl::StatusOr<std::shared_ptr<const FilterChain>> chain =
      FilterChain::Build(config, registry, context);
  if (!chain.ok()) {
    return Fail(2, chain.status().message());
  }
  absl::StatusOr<std::shared_ptr<const FilterChain>> admin_chain;
  if (config.admin.enabled()) {
    admin_chain = filters::BuildAdminChain(registry, context);
    if (!admin_chain.ok()) {
      return Fail(2, admin_chain.status().message());
    }
  }
  if (command_line->check_config) {
    std::printf("%s: configuration OK (%zu filters); upstream %s; MCP clients use %s\n",
                config.source.c_str(), config.filters.size(), config.upstream.rs.c_str(),
                config.ResourceUrl().c_str());
    return 0;
  }

  absl::StatusOr<std::unique_ptr<store::StoreBackend>> store_backend =
      OpenStore(config, clock, *keys);
  if (!store_backend.ok()) {
    return Fail(1, store_backend.status().message());
  }

  RaiseFileLimit(config);

  absl::StatusOr<std::unique_ptr<AccessLog>> access_log =
      AccessLog::Open(config.access_log, &state.metrics);
  if (!access_log.ok()) {
    return Fail(2, access_log.status().message());
  }
  state.metrics.SetStoreSizes([&backend = **store_backend](StoreSizes& sizes) {
    std::optional<store::RecordCounts> counts = backend.Counts();
    if (counts.has_value()) {
      sizes = StoreSizes{counts->clients, counts->grants, counts->tokens};
    }
    return counts.has_value();
  });
  RequestRecorder recorder(state.metrics, access_log->get(), **chain);

  // Signals reach the main thread's dispatcher; a closed client socket must not kill the process.
  ::signal(SIGPIPE, SIG_IGN);
  Dispatcher main_dispatcher("main");
  if (config.default_login) {
    log::Warning(
        "no users configured: the login is the original tool's default, gateway_user / "
        "gateway_pass; set MCP_GATEWAY_USERNAME and MCP_GATEWAY_PASSWORD, or users: in "
        "gateway.yaml");
  } else if (users.plain_count() > 0) {
    log::Warning(absl::StrCat(users.plain_count(),
                              " user password(s) are in plain text; store hashes instead "
                              "(mcp-oauth-gateway --hash-password)"));
  }
  // The admin listener's requests (scrapes, probes) are counted, not access-logged.
  std::optional<RequestRecorder> admin_recorder;
  std::optional<Address> admin_address;
  std::optional<HeldPort> held_admin_port;
  if (config.admin.enabled()) {
    absl::StatusOr<Address> address = ListenAddress(config.admin.address, config.admin.port);
    absl::StatusOr<HeldPort> held =
        address.ok() ? HeldPort::Hold(*address) : absl::StatusOr<HeldPort>(address.status());
    if (!held.ok()) {
      return Fail(1, absl::StrCat("admin listener: ", held.status().message()));
    }
    held_admin_port.emplace(std::move(*held));
    admin_address = *Address::FromIp(address->Ip(), held_admin_port->port());
    admin_recorder.emplace(state.metrics, nullptr, **admin_chain);
  }
  Server server(config, *chain, **store_backend, &recorder);
  if (admin_address.has_value()) {
    server.AddAdminListener(*admin_address, *admin_chain, &*admin_recorder);
  }
  WorkerSettings settings{config.limits, *tls_context};
  server.Apply(settings);
  int signals_seen = 0;
  auto on_signal = [&](const char* name) {
    ++signals_seen;
    state.draining = true;
    if (signals_seen == 1) {
      log::Info(absl::StrCat(name, ": draining; requests in flight have ",
                             absl::FormatDuration(settings.limits.drain_timeout), " to finish"));
      server.Shutdown(settings.limits.drain_timeout);
    } else {
      log::Info(absl::StrCat(name, " again: closing every connection now"));
      server.Shutdown(absl::ZeroDuration());
    }
  };
  absl::StatusOr<std::unique_ptr<SignalWatch>> sigterm =
      main_dispatcher.WatchSignal(SIGTERM, [&] { on_signal("SIGTERM"); });
  absl::StatusOr<std::unique_ptr<SignalWatch>> sigint =
      main_dispatcher.WatchSignal(SIGINT, [&] { on_signal("SIGINT"); });
  // SIGHUP: users, limits, log level and the listener's certificate from the file again; all or
  // nothing, and the running configuration stays when the new one is refused.
  absl::StatusOr<std::unique_ptr<SignalWatch>> sighup = main_dispatcher.WatchSignal(SIGHUP, [&] {
    if (!config.root.defined() || !std::filesystem::exists(config.source)) {
      log::Error(absl::StrCat("SIGHUP: no configuration file to read again (", config.source,
                              "); nothing changed"));
      return;
    }
    absl::StatusOr<Reload> reload = ReadReload(*command_line, config);
    if (!reload.ok()) {
      log::Error(absl::StrCat("SIGHUP: refused, the running configuration stays: ",
                              reload.status().message(), "; fix it and send SIGHUP again"));
      return;
    }
    users.Replace(reload->config.users);
    log::SetLevel(reload->config.log_level);
    settings.limits = reload->config.limits;
    if (reload->tls_context != nullptr) {
      settings.tls_context = reload->tls_context;
    }
    server.Apply(settings);
    log::Info(absl::StrCat(
        "SIGHUP: reloaded ", config.source, ": ", users.size(), " users, limits, log level",
        settings.tls_context != nullptr
            ? absl::StrCat(", certificate ",
                           tls::CertificateFingerprint(settings.tls_context.get()))
            : ""));
    if (!reload->needs_restart.empty()) {
      log::Warning(absl::StrCat("SIGHUP: ", absl::StrJoin(reload->needs_restart, ", "),
                                " changed in ", config.source,
                                ": not applied; restart the gateway for that"));
    }
  });
  for (const absl::StatusOr<std::unique_ptr<SignalWatch>>* watch : {&sigterm, &sigint, &sighup}) {
    if (!watch->ok()) {
      return Fail(1, absl::StrCat("cannot watch the signals: ", watch->status().message()));
    }
  }
  if (absl::Status status = server.Start(*address, [&main_dispatcher] { main_dispatcher.Exit(); });
      !status.ok()) {
    return Fail(1, status.message());
  }
  held_port.reset();  // the workers listen on the ports now
  held_admin_port.reset();
  log::Info(absl::StrCat("listening on ", settings.tls_context != nullptr ? "https" : "http", "://",
                         address->ToString(), " with ", server.worker_count(), " workers; config ",
                         config.source, "; MCP clients use ", config.listener.public_url, "/mcp"));
  if (settings.tls_context != nullptr) {
    log::Info(absl::StrCat("TLS certificate ", config.listener.tls.certificate_file, " (",
                           tls::CertificateFingerprint(settings.tls_context.get()),
                           "); SIGHUP reloads it"));
  }
  if (admin_address.has_value()) {
    log::Info(absl::StrCat("admin listener on http://", admin_address->ToString(),
                           ": GET /metrics (Prometheus), GET /healthz"));
  }
  main_dispatcher.Run();
  server.Join();
  // A password check still running posts its answer to its worker's dispatcher: finish it while
  // the dispatchers (the server's) still exist.
  blocking_pool.Stop();
  log::Info("stopped");
  return 0;
}

}  // namespace
}  // namespace gateway

int main(int argc, char** argv) { return gateway::Main(argc, argv); }

#pragma once

// One worker: an event loop on its own thread that accepts on its own SO_REUSEPORT socket (the
// kernel spreads connections across workers), runs the connections it accepted and their
// requests, and owns its upstream HTTP client and connection pools.
//
// What workers share, and how it is protected: the Config and the FilterChain (immutable after
// start-up, so read without locks), the ServerState (atomics), and the log (one write(2) per
// line). Everything else a worker owns alone, touched only on its own thread. Other threads talk
// to a worker through Drain() and Apply(), which post to its dispatcher.

#include <functional>
#include <memory>
#include <thread>

#include "source/common/config/config.h"
#include "source/common/http/client.h"
#include "source/common/http/connection_set.h"
#include "source/common/store/store.h"
#include "source/common/tls.h"
#include "source/dispatcher.h"
#include "source/filter_chain.h"
#include "source/request_recorder.h"

namespace gateway {

// What may change in a running worker (SIGHUP): the limits and the listener's TLS context. Each
// worker keeps its own copy, replaced on its own thread.
struct WorkerSettings {
  LimitsConfig limits;
  tls::SharedSslCtx tls_context;  // null: plain HTTP
};

class Worker {
 public:
  // Takes ownership of `listen_fd`, a listening socket. `recorder` (may be null) counts and logs
  // requests and connections.
  Worker(int index, const Config& config, std::shared_ptr<const FilterChain> chain,
         store::StoreBackend& store_backend, int listen_fd, RequestRecorder* recorder = nullptr);
  ~Worker();

  // Starts the thread. `on_stopped` runs on the worker's thread once its loop has ended.
  void Start(std::function<void()> on_stopped);
  // Thread-safe. Stops accepting; idle connections close now, busy ones after their current
  // response; whatever is still open after `deadline` is closed. The loop then ends.
  void Drain(absl::Duration deadline);
  void Join();
  // Called on the main thread. Before Start() the settings take effect at once; after, on the
  // worker's thread, for connections accepted from then on (open ones keep their limits and
  // their TLS session) and for what the upstream client does next.
  void Apply(WorkerSettings settings);

 private:
  void Run();
  void OnAccept(int fd, const Address& peer);
  void UseSettings(WorkerSettings settings);
  void StartDrain(absl::Duration deadline);
  void CloseAll(http::StreamEnd reason);
  void ExitIfDrained();

  const int index_;
  const std::string request_id_prefix_;  // "<process's random hex>-<index>-": then a count
  const Config& config_;
  const std::shared_ptr<const FilterChain> chain_;
  RequestRecorder* const recorder_;
  int listen_fd_;
  WorkerSettings settings_;
  Dispatcher dispatcher_;  // declared before everything that uses it, so destroyed after it
  http::HttpClient http_client_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Timer> sweep_timer_;
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<Timer> drain_timer_;
  uint64_t refused_ = 0;         // connections answered 503 at limits.max_connections
  absl::Time last_refusal_log_;  // when that was last logged
  http::ServerConnectionSet connections_;
  bool draining_ = false;
  uint64_t requests_ = 0;
  std::function<void()> on_stopped_;
  std::thread thread_;
};

}  // namespace gateway

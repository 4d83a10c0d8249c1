#pragma once

// The listener side of the gateway: binds the listening sockets (one per worker, SO_REUSEPORT)
// and runs the workers. Owned by main(); Start(), Apply(), Join() and the destructor run on the
// main thread, Shutdown() on any thread.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "source/common/config/config.h"
#include "source/common/net.h"
#include "source/filter_chain.h"
#include "source/worker.h"

namespace gateway {

// The socket address of `listener` ("localhost" is 127.0.0.1).
absl::StatusOr<Address> ListenAddress(const ListenerConfig& listener);
absl::StatusOr<Address> ListenAddress(absl::string_view address, int port);

// How many workers `config` asks for: listener.workers, or one per CPU when that is 0.
int WorkerCount(const Config& config);

class Server {
 public:
  // `recorder` (may be null) counts and logs the requests of `chain`.
  Server(const Config& config, std::shared_ptr<const FilterChain> chain,
         store::StoreBackend& store_backend, RequestRecorder* recorder = nullptr);
  ~Server();

  // Before Start(): one more listener, served by one more worker with its own chain (the admin
  // listener: /metrics and /healthz, away from the public one).
  void AddAdminListener(const Address& address, std::shared_ptr<const FilterChain> chain,
                        RequestRecorder* recorder);

  // Binds `address` once per worker and starts the workers. On error (the port is in use)
  // nothing is left running. `on_stopped` runs, on some worker's thread,
  // once every worker has stopped after Shutdown().
  absl::Status Start(const Address& address, std::function<void()> on_stopped);
  size_t worker_count() const { return workers_.size() - (admin_.has_value() ? 1 : 0); }

  // The limits and the TLS context (null: plain HTTP) for the workers: before Start(), what they
  // start with (else config.limits, plain HTTP); after, handed to each worker on its own thread
  // (SIGHUP), for the connections it accepts from then on. The admin listener gets the limits but
  // stays plain HTTP.
  void Apply(const WorkerSettings& settings);

  // Stops accepting and lets requests in flight finish for up to `deadline`. Thread-safe; a
  // second call with a zero deadline closes what is left at once.
  void Shutdown(absl::Duration deadline);
  void Join();

 private:
  WorkerSettings SettingsFor(const Worker& worker) const;

  const Config& config_;
  std::shared_ptr<const FilterChain> chain_;
  store::StoreBackend& store_backend_;
  WorkerSettings settings_;
  RequestRecorder* const recorder_;
  struct AdminListener {
    Address address;
    std::shared_ptr<const FilterChain> chain;
    RequestRecorder* recorder;
  };
  std::optional<AdminListener> admin_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::function<void()> on_stopped_;
  std::atomic<size_t> running_{0};
};

}  // namespace gateway

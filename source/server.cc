#include "source/server.h"

#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"

namespace gateway {

absl::StatusOr<Address> ListenAddress(const ListenerConfig& listener) {
  return ListenAddress(listener.address, listener.port);
}

absl::StatusOr<Address> ListenAddress(absl::string_view address, int port) {
  return Address::FromIp(address == "localhost" ? "127.0.0.1" : address,
                         static_cast<uint16_t>(port));
}

Server::Server(const Config& config, std::shared_ptr<const FilterChain> chain,
               store::StoreBackend& store_backend, RequestRecorder* recorder)
    : config_(config),
      chain_(std::move(chain)),
      store_backend_(store_backend),
      settings_{config.limits, nullptr},
      recorder_(recorder) {}

void Server::AddAdminListener(const Address& address, std::shared_ptr<const FilterChain> chain,
                              RequestRecorder* recorder) {
  admin_ = AdminListener{address, std::move(chain), recorder};
}

Server::~Server() {
  Shutdown(absl::ZeroDuration());
  Join();
}

int WorkerCount(const Config& config) {
  return config.listener.workers > 0
             ? config.listener.workers
             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

absl::Status Server::Start(const Address& address, std::function<void()> on_stopped) {
  const int count = WorkerCount(config_);
  std::vector<int> fds;
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<int> fd = ListenReusePort(address, /*backlog=*/1024);
    if (!fd.ok()) {
      for (int open : fds) {
        ::close(open);
      }
      return fd.status();
    }
    fds.push_back(*fd);
  }
  if (admin_.has_value()) {
    absl::StatusOr<int> fd = ListenReusePort(admin_->address, /*backlog=*/64);
    if (!fd.ok()) {
      for (int open : fds) {
        ::close(open);
      }
      return fd.status();
    }
    fds.push_back(*fd);
  }
  on_stopped_ = std::move(on_stopped);
  running_ = fds.size();
  for (int i = 0; i < count; ++i) {
    workers_.push_back(
        std::make_unique<Worker>(i, config_, chain_, store_backend_, fds[i], recorder_));
  }
  if (admin_.has_value()) {
    workers_.push_back(std::make_unique<Worker>(count, config_, admin_->chain, store_backend_,
                                                fds[count], admin_->recorder));
  }
  for (auto& worker : workers_) {
    worker->Apply(SettingsFor(*worker));
  }
  for (auto& worker : workers_) {
    worker->Start([this] {
      if (running_.fetch_sub(1) == 1 && on_stopped_) {
        on_stopped_();
      }
    });
  }
  return absl::OkStatus();
}

void Server::Apply(const WorkerSettings& settings) {
  settings_ = settings;
  for (auto& worker : workers_) {
    worker->Apply(SettingsFor(*worker));
  }
}

WorkerSettings Server::SettingsFor(const Worker& worker) const {
  if (admin_.has_value() && &worker == workers_.back().get()) {
    return WorkerSettings{settings_.limits, nullptr};  // the admin listener speaks plain HTTP
  }
  return settings_;
}

void Server::Shutdown(absl::Duration deadline) {
  for (auto& worker : workers_) {
    worker->Drain(deadline);
  }
}

void Server::Join() {
  for (auto& worker : workers_) {
    worker->Join();
  }
}

}  // namespace gateway

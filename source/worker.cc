#include "source/worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "source/active_request.h"
#include "source/common/log.h"
#include "source/common/net.h"
#include "source/common/token/access_check.h"

namespace gateway {
namespace {

constexpr absl::Duration kSweepInterval = absl::Seconds(30);

// What a connection past limits.max_connections gets before it is closed.
constexpr absl::string_view kOverLimitBody =
    R"({"error":"temporarily_unavailable","error_description":"the gateway is at its connection )"
    R"(limit; try again"})";

const std::string& OverLimitReply() {
  static const std::string* const reply = new std::string(absl::StrCat(
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
      "Cache-Control: no-store\r\nConnection: close\r\nContent-Length: ",
      kOverLimitBody.size(), "\r\n\r\n", kOverLimitBody));
  return *reply;
}

}  // namespace

Worker::Worker(int index, const Config& config, std::shared_ptr<const FilterChain> chain,
               store::StoreBackend& store_backend, int listen_fd, RequestRecorder* recorder)
    : index_(index),
      request_id_prefix_(absl::StrCat(RequestIdPrefix(), index, "-")),
      config_(config),
      chain_(std::move(chain)),
      recorder_(recorder),
      listen_fd_(listen_fd),
      settings_{config.limits, nullptr},
      dispatcher_(absl::StrCat("worker-", index)),
      http_client_(dispatcher_, config.ClientOptions()),
      store_(store_backend.ForWorker(dispatcher_)),
      connections_(dispatcher_, config.limits.connection,
                   [this](http::ResponseEncoder& encoder) -> std::unique_ptr<http::ServerStream> {
                     return std::make_unique<ActiveRequest>(
                         *chain_,
                         WorkerServices{dispatcher_, http_client_, *store_,
                                        settings_.limits.connection.buffer_bytes, recorder_},
                         encoder, absl::StrCat(request_id_prefix_, ++requests_));
                   }) {
  connections_.OnClosed([this] {
    if (recorder_ != nullptr) {
      recorder_->metrics().Add(Gauge::kConnections, -1);
    }
    ExitIfDrained();
  });
  // Expired flows, codes and tokens go away even when nothing else touches the store.
  sweep_timer_ = dispatcher_.CreateTimer([this] {
    store_->Sweep();
    token::ForgetExpiredTokensOnThisThread(absl::Now());
    sweep_timer_->Enable(kSweepInterval);
  });
}

Worker::~Worker() {
  Join();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);  // never handed to a listener (the thread did not start)
  }
}

void Worker::Start(std::function<void()> on_stopped) {
  on_stopped_ = std::move(on_stopped);
  thread_ = std::thread([this] { Run(); });
}

void Worker::Join() {
  if (thread_.joinable()) {
    thread_.join();
  }
}

void Worker::Apply(WorkerSettings settings) {
  if (!thread_.joinable()) {
    UseSettings(std::move(settings));
    return;
  }
  dispatcher_.Post(
      [this, settings = std::move(settings)]() mutable { UseSettings(std::move(settings)); });
}

void Worker::UseSettings(WorkerSettings settings) {
  settings_ = std::move(settings);
  connections_.SetLimits(settings_.limits.connection);
  http_client_.SetOptions(settings_.limits.ClientOptions(config_.upstream.ca_file));
}

void Worker::Drain(absl::Duration deadline) {
  dispatcher_.Post([this, deadline] { StartDrain(deadline); });
}

void Worker::Run() {
  listener_ = dispatcher_.CreateListener(
      listen_fd_, [this](int fd, const Address& peer) { OnAccept(fd, peer); });
  listen_fd_ = -1;
  sweep_timer_->Enable(kSweepInterval);
  dispatcher_.Run();
  sweep_timer_.reset();
  listener_.reset();
  CloseAll(http::StreamEnd::kShutdown);
  http_client_.CloseAll();
  if (on_stopped_) {
    on_stopped_();
  }
}

void Worker::OnAccept(int fd, const Address& peer) {
  if (draining_) {
    ::close(fd);
    return;
  }
  if (static_cast<int64_t>(connections_.size()) >= settings_.limits.max_connections) {
    if (settings_.tls_context == nullptr) {  // a TLS client could not read the plain reply
      SendFinalReply(fd, OverLimitReply());
    }
    ::close(fd);
    ++refused_;
    if (recorder_ != nullptr) {
      recorder_->metrics().Add(Counter::kConnectionsRefused);
    }
    const absl::Time now = absl::Now();
    if (now - last_refusal_log_ >= absl::Seconds(1)) {  // a flood must not flood the log
      last_refusal_log_ = now;
      log::Warning(absl::StrCat("worker ", index_, ": at limits.max_connections (",
                                settings_.limits.max_connections, "); ", refused_,
                                " connection(s) answered 503 so far"));
    }
    return;
  }
  SetNoDelay(fd);
  // With TLS the handshake runs inside the bufferevent; the connection's header timeout bounds
  // it, and a failed one closes the connection (logged at debug by the connection).
  SSL* ssl = nullptr;
  if (settings_.tls_context != nullptr) {
    ssl = SSL_new(settings_.tls_context.get());
    if (ssl == nullptr) {
      log::Warning(absl::StrCat("worker ", index_, ": ",
                                tls::LastError("cannot make a TLS session"), "; connection from ",
                                peer.ToString(), " closed"));
      ::close(fd);
      return;
    }
  }
  if (recorder_ != nullptr) {
    recorder_->metrics().Add(Gauge::kConnections, 1);
  }
  connections_.Add(ssl == nullptr
                       ? dispatcher_.CreateSocketBufferEvent(fd, Dispatcher::SocketReads::kOffered)
                       : dispatcher_.CreateTlsBufferEvent(fd, ssl, /*server=*/true),
                   peer);
}

void Worker::StartDrain(absl::Duration deadline) {
  if (draining_) {
    if (deadline == absl::ZeroDuration()) {
      CloseAll(http::StreamEnd::kShutdown);  // a second signal: stop waiting
    }
    return;
  }
  draining_ = true;
  listener_.reset();
  log::Debug(absl::StrCat("worker ", index_, ": stopped accepting; ", connections_.size(),
                          " connections open"));
  connections_.ForEach([](http::ServerConnection& connection) { connection.StartDrain(); });
  drain_timer_ = dispatcher_.CreateTimer([this] {
    if (!connections_.empty()) {
      log::Warning(absl::StrCat("worker ", index_, ": closing ", connections_.size(),
                                " connections still open at the drain deadline"));
    }
    CloseAll(http::StreamEnd::kShutdown);
  });
  drain_timer_->Enable(deadline);
  ExitIfDrained();
}

void Worker::CloseAll(http::StreamEnd reason) {
  connections_.ForEach([reason](http::ServerConnection& connection) { connection.Close(reason); });
}

void Worker::ExitIfDrained() {
  if (draining_ && connections_.empty()) {
    dispatcher_.Exit();
  }
}

}  // namespace gateway

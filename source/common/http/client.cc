#include "source/common/http/client.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "source/common/http/client_connection.h"

namespace gateway::http {
namespace {

// Fetch(): collects a whole response for one callback.
class FetchRequest final : public UpstreamRequest, public UpstreamCallbacks {
 public:
  FetchRequest(FetchCallback done, size_t max_body_bytes)
      : done_(std::move(done)), max_body_bytes_(max_body_bytes) {}

  void Start(HttpClient& client, Dispatcher& dispatcher, absl::Duration timeout,
             AddressPolicy policy, const Url& origin, RequestHead head, std::string body) {
    deadline_ = dispatcher.CreateTimer([this, timeout] {
      inner_.reset();  // cancels
      Finish(absl::DeadlineExceededError(
          absl::StrCat("no complete answer within ", absl::FormatDuration(timeout))));
    });
    deadline_->Enable(timeout);
    if (!body.empty()) {
      head.headers.Set("Content-Length", absl::StrCat(body.size()));
    }
    inner_ = client.Send(origin, std::move(head), body.empty(), *this, policy);
    if (!body.empty()) {
      inner_->SendData(body, /*end_stream=*/true);
    }
  }

  // UpstreamRequest: the body went with the head.
  void SendData(absl::string_view, bool) override {}
  void ReadDisable(bool disable) override { inner_->ReadDisable(disable); }

  // UpstreamCallbacks
  void OnResponseHeaders(ResponseHead&& head, bool end_stream) override {
    response_.head = std::move(head);
    if (end_stream) {
      Finish(std::move(response_));
    }
  }
  void OnResponseData(absl::string_view data, bool end_stream) override {
    if (response_.body.size() + data.size() > max_body_bytes_) {
      inner_.reset();  // cancels
      Finish(absl::ResourceExhaustedError(
          absl::StrCat("response body larger than ", max_body_bytes_, " bytes")));
      return;
    }
    response_.body.append(data.data(), data.size());
    if (end_stream) {
      Finish(std::move(response_));
    }
  }
  void OnError(const absl::Status& status) override { Finish(status); }

 private:
  void Finish(absl::StatusOr<FetchResponse> result) {
    deadline_->Disable();
    FetchCallback done = std::move(done_);
    done_ = nullptr;
    if (done) {
      done(std::move(result));  // may destroy this object: nothing touches it afterwards
    }
  }

  FetchCallback done_;
  const size_t max_body_bytes_;
  FetchResponse response_;
  std::unique_ptr<Timer> deadline_;
  std::unique_ptr<UpstreamRequest> inner_;
};

}  // namespace

HttpClient::HttpClient(Dispatcher& dispatcher, const ClientOptions& options)
    : dispatcher_(dispatcher), options_(options) {}

HttpClient::~HttpClient() { CloseAll(); }

absl::StatusOr<SSL_CTX*> HttpClient::TlsContext() {
  if (tls_context_ == nullptr) {
    absl::StatusOr<tls::SslCtxPtr> context = tls::CreateClientContext(options_.ca_file);
    if (!context.ok()) {
      return context.status();
    }
    tls_context_ = std::move(*context);
  }
  return tls_context_.get();
}

std::unique_ptr<UpstreamRequest> HttpClient::Send(const Url& origin, RequestHead head,
                                                  bool end_stream, UpstreamCallbacks& callbacks,
                                                  AddressPolicy policy,
                                                  absl::Duration response_timeout) {
  auto request = std::make_unique<ClientRequest>();
  ClientConnection* connection = nullptr;
  if (pool_key_.empty() || policy != pool_key_policy_ || origin.port != pool_key_origin_.port ||
      origin.host != pool_key_origin_.host || origin.scheme != pool_key_origin_.scheme) {
    // Most requests go where the one before went: the key is built again only for another
    // origin or policy (formatting it cost more than the rest of the lookup).
    ClientConnection::WritePoolKey(origin, policy, pool_key_);
    pool_key_origin_.scheme = origin.scheme;
    pool_key_origin_.host = origin.host;
    pool_key_origin_.port = origin.port;
    pool_key_policy_ = policy;
  }
  auto idle = idle_.find(pool_key_);
  if (idle != idle_.end() && !idle->second.empty()) {
    // The most recently used connection first: the one least likely to be timing out.
    connection = idle->second.back();
    idle->second.pop_back();
  } else {
    absl::StatusOr<SSL_CTX*> tls_context = nullptr;
    if (origin.tls()) {
      tls_context = TlsContext();
    }
    auto owned =
        std::make_unique<ClientConnection>(dispatcher_, static_cast<ClientConnectionOwner&>(*this),
                                           origin, std::move(tls_context), options_, policy);
    connection = owned.get();
    connections_.emplace(connection, std::move(owned));
    connection->Connect();
  }
  connection->Start(*request, std::move(head), end_stream, callbacks, response_timeout);
  return request;
}

std::unique_ptr<UpstreamRequest> HttpClient::Fetch(const Url& origin, RequestHead head,
                                                   std::string body, FetchCallback done,
                                                   size_t max_body_bytes, absl::Duration timeout,
                                                   AddressPolicy policy) {
  auto fetch = std::make_unique<FetchRequest>(std::move(done), max_body_bytes);
  fetch->Start(*this, dispatcher_, timeout, policy, origin, std::move(head), std::move(body));
  return fetch;
}

size_t HttpClient::idle_count() const {
  size_t count = 0;
  for (const auto& [key, list] : idle_) {
    count += list.size();
  }
  return count;
}

void HttpClient::OnConnectionIdle(ClientConnection& connection) {
  std::vector<ClientConnection*>& list = idle_[connection.pool_key()];
  if (list.size() >= options_.max_idle_per_origin) {
    connection.Close();
    return;
  }
  list.push_back(&connection);
}

void HttpClient::OnConnectionClosed(ClientConnection& connection) {
  auto idle = idle_.find(connection.pool_key());
  if (idle != idle_.end()) {
    std::erase(idle->second, &connection);
    if (idle->second.empty()) {
      idle_.erase(idle);
    }
  }
  auto owned = connections_.find(&connection);
  if (owned != connections_.end()) {
    dispatcher_.DeferredDelete(std::move(owned->second));
    connections_.erase(owned);
  }
}

void HttpClient::CloseAll() {
  std::vector<ClientConnection*> all;
  all.reserve(connections_.size());
  for (const auto& [connection, owned] : connections_) {
    all.push_back(connection);
  }
  for (ClientConnection* connection : all) {
    connection->Fail(absl::UnavailableError("the gateway is shutting down"));
  }
}

}  // namespace gateway::http

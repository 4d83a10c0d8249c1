#include "source/common/http/connection_set.h"

#include <utility>
#include <vector>

namespace gateway::http {

ServerConnectionSet::ServerConnectionSet(Dispatcher& dispatcher, const ConnectionLimits& limits,
                                         StreamFactory factory)
    : dispatcher_(dispatcher), limits_(limits), factory_(std::move(factory)) {}

ServerConnectionSet::~ServerConnectionSet() {
  on_closed_ = nullptr;
  ForEach([](ServerConnection& connection) { connection.Close(StreamEnd::kShutdown); });
}

void ServerConnectionSet::Add(BufferEventPtr bev, const Address& peer) {
  auto connection =
      std::make_unique<ServerConnection>(dispatcher_, std::move(bev), peer, limits_, factory_,
                                         static_cast<ServerConnectionOwner&>(*this));
  ServerConnection* key = connection.get();
  connections_.emplace(key, std::move(connection));
}

void ServerConnectionSet::ForEach(const std::function<void(ServerConnection&)>& action) {
  std::vector<ServerConnection*> open;
  open.reserve(connections_.size());
  for (const auto& [connection, owned] : connections_) {
    open.push_back(connection);
  }
  for (ServerConnection* connection : open) {
    if (connections_.contains(connection)) {  // an earlier action may have closed it
      action(*connection);
    }
  }
}

void ServerConnectionSet::OnConnectionClosed(ServerConnection& connection) {
  auto found = connections_.find(&connection);
  if (found != connections_.end()) {
    dispatcher_.DeferredDelete(std::move(found->second));
    connections_.erase(found);
  }
  if (on_closed_) {
    on_closed_();
  }
}

}  // namespace gateway::http

#pragma once

// The open server connections of one dispatcher (a worker's, or a test server's): it makes a
// ServerConnection for each accepted socket, owns it while it is open, and destroys it (deferred)
// once it has closed. Used on that dispatcher's thread only.

#include <functional>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "source/common/http/server_connection.h"

namespace gateway::http {

class ServerConnectionSet : private ServerConnectionOwner {
 public:
  ServerConnectionSet(Dispatcher& dispatcher, const ConnectionLimits& limits,
                      StreamFactory factory);
  // Closes what is still open.
  ~ServerConnectionSet() override;

  // The limits of connections added from now on (open ones keep theirs).
  void SetLimits(const ConnectionLimits& limits) { limits_ = limits; }
  // Serves an accepted socket.
  void Add(BufferEventPtr bev, const Address& peer);
  size_t size() const { return connections_.size(); }
  bool empty() const { return connections_.empty(); }
  // Calls `action` on every open connection; `action` may close connections.
  void ForEach(const std::function<void(ServerConnection&)>& action);
  // `callback` runs each time a connection has closed and left the set.
  void OnClosed(std::function<void()> callback) { on_closed_ = std::move(callback); }

 private:
  void OnConnectionClosed(ServerConnection& connection) override;

  Dispatcher& dispatcher_;
  ConnectionLimits limits_;
  StreamFactory factory_;
  std::function<void()> on_closed_;
  absl::flat_hash_map<ServerConnection*, std::unique_ptr<ServerConnection>> connections_;
};

}  // namespace gateway::http

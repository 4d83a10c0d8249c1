#pragma once

// Socket addresses and listening sockets. Plain functions over file descriptors; nothing here
// touches libevent (the dispatcher owns the event loop).

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gateway {

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
  uint16_t port() const;
  // "127.0.0.1", "::1"; without the port.
  std::string Ip() const;
  // "127.0.0.1:8002", "[::1]:8002".
  std::string ToString() const;

  static Address FromSockaddr(const sockaddr* address, socklen_t length);
  // The local address socket `fd` is bound to (getsockname); an empty Address if it has none.
  static Address OfSocket(int fd);
  // Parses a numeric IPv4 or IPv6 address (no name lookup), with `port`.
  static absl::StatusOr<Address> FromIp(absl::string_view ip, uint16_t port);
};

// Checks that nothing else listens on `address` and returns the port it resolved to (the kernel's
// choice when `address` has port 0). Binding with SO_REUSEPORT alone would let a second gateway
// share the port silently; this probe binds without it first, so "port in use" is an error.
absl::StatusOr<uint16_t> ReservePort(const Address& address);

// A port held for the listeners that bind it later with SO_REUSEPORT (ListenReusePort): after
// ReservePort()'s check, a socket stays bound to the port with SO_REUSEPORT, never listening (it
// takes no connection), until this object goes. While it is bound, no bind to port 0 is given
// the port: with port 0, another process (a second gateway, say) cannot be handed the port
// before the listeners bind it, which SO_REUSEPORT would let both share, each getting some of
// the other's connections.
class HeldPort {
 public:
  static absl::StatusOr<HeldPort> Hold(const Address& address);
  HeldPort(HeldPort&& other) noexcept;
  HeldPort& operator=(HeldPort&& other) noexcept;
  ~HeldPort();

  uint16_t port() const { return port_; }

 private:
  HeldPort(int fd, uint16_t port) : fd_(fd), port_(port) {}

  int fd_ = -1;
  uint16_t port_ = 0;
};

// A non-blocking listening socket with SO_REUSEPORT, so that every worker owns one and the kernel
// spreads connections across them.
absl::StatusOr<int> ListenReusePort(const Address& address, int backlog);

// Whether `address` is on the public internet: not loopback, private (RFC 1918, RFC 4193),
// shared (RFC 6598), link-local (cloud metadata services live there), unspecified, multicast or
// reserved; IPv4-mapped IPv6 is judged as the IPv4 address it carries. The SSRF guard for URLs
// that do not come from the gateway's own configuration.
bool IsPublicAddress(const Address& address);

// Answers a connection that will not be served with `reply` and ends the gateway's side: what the
// client has sent so far is read first, up to 64 KiB, so that the close does not reset the
// connection before the reply is read; `fd` stays open (the caller closes it).
void SendFinalReply(int fd, absl::string_view reply);

// Sets TCP_NODELAY: MCP replies and SSE events are small and must leave at once.
void SetNoDelay(int fd);

}  // namespace gateway

#include "source/common/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace gateway {
namespace {

absl::Status ErrnoError(absl::string_view what, const Address& address, int error) {
  return absl::UnavailableError(
      absl::StrCat(what, " ", address.ToString(), ": ", std::strerror(error)));
}

// Creates a socket, applies `reuse_port`, binds. Returns the fd or an error.
absl::StatusOr<int> BindSocket(const Address& address, bool reuse_port) {
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return ErrnoError("cannot create a socket for", address, errno);
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuse_port) {
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  }
  if (address.family() == AF_INET6) {
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  if (::bind(fd, address.sockaddr_ptr(), address.length) != 0) {
    int error = errno;
    ::close(fd);
    return ErrnoError(error == EADDRINUSE ? "port in use:" : "cannot bind", address, error);
  }
  return fd;
}

}  // namespace

uint16_t Address::port() const {
  if (family() == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  }
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return 0;
}

std::string Address::Ip() const {
  if (family() == AF_INET) {
    // Dotted decimal by hand: inet_ntop formats it with sprintf, which cost some 1,700
    // instructions on every proxied request (X-Forwarded-For).
    const auto* bytes = reinterpret_cast<const unsigned char*>(
        &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr);
    char text[16];
    char* at = text;
    for (int i = 0; i < 4; ++i) {
      const unsigned value = bytes[i];
      if (value >= 100) {
        *at++ = static_cast<char>('0' + value / 100);
      }
      if (value >= 10) {
        *at++ = static_cast<char>('0' + value / 10 % 10);
      }
      *at++ = static_cast<char>('0' + value % 10);
      if (i < 3) {
        *at++ = '.';
      }
    }
    return std::string(text, static_cast<size_t>(at - text));
  }
  char text[INET6_ADDRSTRLEN] = {0};
  if (family() == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, text,
                sizeof(text));
  }
  return text;
}

std::string Address::ToString() const {
  if (family() == AF_INET6) {
    return absl::StrCat("[", Ip(), "]:", port());
  }
  return absl::StrCat(Ip(), ":", port());
}

Address Address::FromSockaddr(const sockaddr* address, socklen_t length) {
  Address result;
  length = std::min<socklen_t>(length, sizeof(result.storage));
  std::memcpy(&result.storage, address, length);
  result.length = length;
  return result;
}

Address Address::OfSocket(int fd) {
  Address bound;
  bound.length = sizeof(bound.storage);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound.storage), &bound.length) != 0) {
    return Address();
  }
  return bound;
}

absl::StatusOr<Address> Address::FromIp(absl::string_view ip, uint16_t port) {
  std::string text(ip);
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  Address result;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&result.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&result.storage);
  if (::inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    result.length = sizeof(sockaddr_in);
    return result;
  }
  if (::inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    result.length = sizeof(sockaddr_in6);
    return result;
  }
  return absl::InvalidArgumentError(absl::StrCat("\"", ip, "\" is not an IP address"));
}

absl::StatusOr<uint16_t> ReservePort(const Address& address) {
  absl::StatusOr<int> fd = BindSocket(address, /*reuse_port=*/false);
  if (!fd.ok()) {
    return fd.status();
  }
  // listen() is what makes a port "in use" for another listener on Linux; bind alone does not
  // collide with SO_REUSEADDR sockets.
  if (::listen(*fd, 1) != 0) {
    int error = errno;
    ::close(*fd);
    return ErrnoError("port in use:", address, error);
  }
  const uint16_t port = Address::OfSocket(*fd).port();
  ::close(*fd);
  return port;
}

absl::StatusOr<HeldPort> HeldPort::Hold(const Address& address) {
  Address at = address;
  if (address.port() != 0) {
    // A port named in the configuration: nothing else may listen on it.
    if (absl::StatusOr<uint16_t> free = ReservePort(address); !free.ok()) {
      return free.status();
    }
  }
  // With port 0, the kernel picks a port no socket is bound to.
  absl::StatusOr<int> fd = BindSocket(at, /*reuse_port=*/true);
  if (!fd.ok()) {
    return fd.status();
  }
  return HeldPort(*fd, Address::OfSocket(*fd).port());
}

HeldPort::HeldPort(HeldPort&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), port_(other.port_) {}

HeldPort& HeldPort::operator=(HeldPort&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = std::exchange(other.fd_, -1);
    port_ = other.port_;
  }
  return *this;
}

HeldPort::~HeldPort() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

absl::StatusOr<int> ListenReusePort(const Address& address, int backlog) {
  absl::StatusOr<int> fd = BindSocket(address, /*reuse_port=*/true);
  if (!fd.ok()) {
    return fd.status();
  }
  if (::listen(*fd, backlog) != 0) {
    int error = errno;
    ::close(*fd);
    return ErrnoError("cannot listen on", address, error);
  }
  return *fd;
}

namespace {

bool IsPublicIpv4(const unsigned char* ip) {
  const uint32_t a = ip[0];
  const uint32_t b = ip[1];
  return !(a == 0 || a == 10 || a == 127 || (a == 100 && (b & 0xc0) == 64) ||
           (a == 169 && b == 254) || (a == 172 && (b & 0xf0) == 16) || (a == 192 && b == 168) ||
           (a == 192 && b == 0 && ip[2] == 0) || (a == 198 && (b & 0xfe) == 18) || a >= 224);
}

}  // namespace

bool IsPublicAddress(const Address& address) {
  if (address.family() == AF_INET) {
    return IsPublicIpv4(reinterpret_cast<const unsigned char*>(
        &reinterpret_cast<const sockaddr_in*>(&address.storage)->sin_addr));
  }
  if (address.family() != AF_INET6) {
    return false;
  }
  const auto* ip = reinterpret_cast<const unsigned char*>(
      &reinterpret_cast<const sockaddr_in6*>(&address.storage)->sin6_addr);
  static constexpr unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(ip, kMappedPrefix, sizeof(kMappedPrefix)) == 0) {
    return IsPublicIpv4(ip + 12);
  }
  bool all_zero_but_last = true;
  for (int i = 0; i < 15; ++i) {
    all_zero_but_last = all_zero_but_last && ip[i] == 0;
  }
  if (all_zero_but_last) {
    return false;  // :: and ::1
  }
  return !((ip[0] & 0xfe) == 0xfc ||                     // fc00::/7 unique local
           (ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80) ||  // fe80::/10 link-local
           ip[0] == 0xff ||                              // multicast
           (ip[0] == 0x20 && ip[1] == 0x01 && ip[2] == 0x0d && ip[3] == 0xb8));  // documentation
}

void SendFinalReply(int fd, absl::string_view reply) {
  char discard[16384];
  for (int read = 0; read < 4 && ::recv(fd, discard, sizeof(discard), MSG_DONTWAIT) > 0; ++read) {
  }
  const ssize_t sent = ::send(fd, reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)sent;  // a client that cannot take even this much loses only the explanation
  ::shutdown(fd, SHUT_WR);
}

void SetNoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace gateway

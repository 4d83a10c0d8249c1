// HeldPort: the gateway's listening ports are held from the moment they are chosen until the
// workers listen on them, without taking a connection themselves.

#include <sys/socket.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "source/common/net.h"

namespace gateway {
namespace {

Address Loopback(uint16_t port) { return *Address::FromIp("127.0.0.1", port); }

// Connects to 127.0.0.1:`port` (blocking); answers whether the connection was accepted.
bool Connects(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const Address address = Loopback(port);
  const bool connected = ::connect(fd, address.sockaddr_ptr(), address.length) == 0;
  ::close(fd);
  return connected;
}

TEST(HeldPortTest, PortZeroGetsAPortThatTakesNoConnectionWhileHeld) {
  absl::StatusOr<HeldPort> held = HeldPort::Hold(Loopback(0));
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_NE(held->port(), 0);
  EXPECT_FALSE(Connects(held->port()));  // bound, never listening: refused
}

TEST(HeldPortTest, TheWorkersListenOnAHeldPortAndGetEveryConnection) {
  absl::StatusOr<HeldPort> held = HeldPort::Hold(Loopback(0));
  ASSERT_TRUE(held.ok()) << held.status();
  absl::StatusOr<int> listener = ListenReusePort(Loopback(held->port()), 64);
  ASSERT_TRUE(listener.ok()) << listener.status();
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(Connects(held->port())) << i;
  }
  const uint16_t port = held->port();
  *held = std::move(*HeldPort::Hold(Loopback(0)));  // the first hold goes
  EXPECT_TRUE(Connects(port));
  ::close(*listener);
}

TEST(HeldPortTest, AConfiguredPortSomeoneListensOnIsRefused) {
  absl::StatusOr<int> other = ListenReusePort(Loopback(0), 16);
  ASSERT_TRUE(other.ok()) << other.status();
  absl::StatusOr<HeldPort> held = HeldPort::Hold(Loopback(Address::OfSocket(*other).port()));
  ASSERT_FALSE(held.ok());
  EXPECT_NE(held.status().message().find("port in use"), std::string::npos) << held.status();
  ::close(*other);
}

TEST(HeldPortTest, AFreeConfiguredPortIsHeld) {
  const uint16_t free = *ReservePort(Loopback(0));
  absl::StatusOr<HeldPort> held = HeldPort::Hold(Loopback(free));
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(held->port(), free);
  EXPECT_FALSE(Connects(free));
  absl::StatusOr<int> listener = ListenReusePort(Loopback(free), 16);
  ASSERT_TRUE(listener.ok()) << listener.status();
  EXPECT_TRUE(Connects(free));
  ::close(*listener);
}

}  // namespace
}  // namespace gateway

#include "test/support/redis_server.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "source/common/net.h"

namespace gateway::testing {
namespace {

// A loopback port nothing listens on now (the kernel's pick for a socket bound to port 0).
uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    port = Address::OfSocket(fd).port();
  }
  ::close(fd);
  return port;
}

}  // namespace

RedisServer::RedisServer() : port_(FreePort()) {}

RedisServer::~RedisServer() { Stop(); }

bool RedisServer::Start() {
  process_ = std::make_unique<ChildProcess>(
      "redis-server",
      std::vector<std::string>{"--port", absl::StrCat(port_), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", dir_.path(), "--loglevel", "notice"},
      dir_.path());
  if (!process_->WaitForOutput("Ready to accept connections")) {
    ADD_FAILURE() << "redis-server did not start: " << process_->Output();
    return false;
  }
  return true;
}

void RedisServer::Stop() {
  if (process_ != nullptr) {
    process_->Signal(SIGCONT);
    process_->Signal(SIGKILL);
    process_->Wait(absl::Seconds(10));
    process_.reset();
  }
}

void RedisServer::Pause() { process_->Signal(SIGSTOP); }

void RedisServer::Resume() { process_->Signal(SIGCONT); }

std::string RedisServer::url() const { return absl::StrCat("redis://127.0.0.1:", port_); }

}  // namespace gateway::testing

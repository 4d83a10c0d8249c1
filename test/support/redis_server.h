#pragma once

// A real redis-server (Debian's) for the tests of the redis store: on a free loopback port, no
// persistence, in a scratch directory. It can be stopped, paused (SIGSTOP: a Redis that hangs)
// and started again on the same port.

#include <cstdint>
#include <memory>
#include <string>

#include "test/support/child_process.h"

namespace gateway::testing {

class RedisServer {
 public:
  RedisServer();
  ~RedisServer();

  // Starts it (again, on the same port); false (and a test failure) if it does not come up.
  bool Start();
  // Stops it (SIGKILL: as abrupt as a crash).
  void Stop();
  // SIGSTOP / SIGCONT: it keeps its connections but answers nothing while paused.
  void Pause();
  void Resume();

  uint16_t port() const { return port_; }
  std::string url() const;

 private:
  TempDir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace gateway::testing

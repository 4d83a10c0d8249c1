#pragma once

// Programs the end-to-end tests run: the gateway binary and the Node.js test peers. Output
// (stdout and stderr together) is collected for the test to wait on and read; a process still
// running when its object dies is killed. A sanitizer report in the output fails the test, so
// memory errors inside the gateway process are caught by the tests that drive it.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace gateway::testing {

// A scratch directory, removed with its contents at the end.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  // Writes `name` in the directory and returns its path.
  std::string Write(const std::string& name, absl::string_view text) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class ChildProcess {
 public:
  // Runs `program` with `args` in `working_directory`, with the test's environment plus `env`
  // ("NAME=value" entries).
  ChildProcess(const std::string& program, std::vector<std::string> args,
               const std::string& working_directory, std::vector<std::string> env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Waits until the output contains `text` (true), or the process ends, or the time is up.
  bool WaitForOutput(absl::string_view text, absl::Duration timeout = absl::Seconds(15));
  // The same, until `text` has appeared `times` times.
  bool WaitForOutputTimes(absl::string_view text, int times,
                          absl::Duration timeout = absl::Seconds(15));
  // The port of the first "listening on http(s)://127.0.0.1:PORT" line; 0 (and a test failure) if
  // none appears.
  uint16_t WaitForPort();
  void Signal(int signal_number);
  // The exit code (128 + signal for a killed process), or -1 while still running at `timeout`.
  int Wait(absl::Duration timeout);
  // SIGTERM, then the exit code (SIGKILL after 10 s).
  int Stop();
  std::string Output();
  pid_t pid() const { return pid_; }

 private:
  static constexpr int kRunning = -1000;
  pid_t pid_ = -1;
  int exit_code_ = kRunning;
  std::thread reader_;
  absl::Mutex mutex_;
  std::string output_ ABSL_GUARDED_BY(mutex_);
  bool output_closed_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace gateway::testing

#include "test/support/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

extern char** environ;

namespace gateway::testing {

TempDir::TempDir() {
  char path[] = "/tmp/gateway-test-XXXXXX";
  path_ = mkdtemp(path);
}

TempDir::~TempDir() { std::system(absl::StrCat("rm -rf '", path_, "'").c_str()); }

std::string TempDir::Write(const std::string& name, absl::string_view text) const {
  const std::string file = absl::StrCat(path_, "/", name);
  std::ofstream(file) << text;
  return file;
}

ChildProcess::ChildProcess(const std::string& program, std::vector<std::string> args,
                           const std::string& working_directory, std::vector<std::string> env) {
  int pipe_fds[2];
  EXPECT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addchdir_np(&actions, working_directory.c_str());
  args.insert(args.begin(), program);
  std::vector<char*> argv;
  for (std::string& arg : args) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    envp.push_back(*entry);
  }
  for (std::string& entry : env) {
    envp.push_back(entry.data());
  }
  envp.push_back(nullptr);
  EXPECT_EQ(posix_spawnp(&pid_, program.c_str(), &actions, nullptr, argv.data(), envp.data()), 0)
      << program;
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  reader_ = std::thread([this, fd = pipe_fds[0]] {
    char buffer[4096];
    ssize_t got;
    while ((got = ::read(fd, buffer, sizeof(buffer))) > 0) {
      absl::MutexLock lock(&mutex_);
      output_.append(buffer, static_cast<size_t>(got));
    }
    ::close(fd);
    absl::MutexLock lock(&mutex_);
    output_closed_ = true;
  });
}

ChildProcess::~ChildProcess() {
  if (exit_code_ == kRunning) {
    ::kill(pid_, SIGKILL);
    Wait(absl::Seconds(10));
  }
  reader_.join();
  const std::string output = Output();
  if (absl::StrContains(output, "Sanitizer") || absl::StrContains(output, "runtime error:")) {
    ADD_FAILURE() << "a sanitizer reported a problem in the child process:\n" << output;
  }
}

int ChildProcess::Stop() {
  Signal(SIGTERM);
  const int code = Wait(absl::Seconds(10));
  if (code != -1) {
    return code;
  }
  Signal(SIGKILL);
  return Wait(absl::Seconds(10));
}

bool ChildProcess::WaitForOutput(absl::string_view text, absl::Duration timeout) {
  return WaitForOutputTimes(text, 1, timeout);
}

bool ChildProcess::WaitForOutputTimes(absl::string_view text, int times, absl::Duration timeout) {
  const std::string needle(text);
  absl::MutexLock lock(&mutex_);
  auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> bool {
    int count = 0;
    for (size_t at = output_.find(needle); at != std::string::npos && count < times;
         at = output_.find(needle, at + needle.size())) {
      ++count;
    }
    return count >= times;
  };
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> bool {
    return seen() || output_closed_;
  };
  mutex_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  return seen();
}

uint16_t ChildProcess::WaitForPort() {
  const std::string kMarker = "listening on http";
  const std::string kAddress = "://127.0.0.1:";
  if (!WaitForOutput(kMarker)) {
    ADD_FAILURE() << "the process did not start: " << Output();
    return 0;
  }
  const std::string out = Output();
  size_t at = out.find(kMarker) + kMarker.size();
  if (at < out.size() && out[at] == 's') {
    ++at;  // https
  }
  if (out.compare(at, kAddress.size(), kAddress) != 0) {
    ADD_FAILURE() << "not a 127.0.0.1 listener: " << out;
    return 0;
  }
  at += kAddress.size();
  size_t end = at;
  while (end < out.size() && absl::ascii_isdigit(static_cast<unsigned char>(out[end]))) {
    ++end;
  }
  int port = 0;
  absl::SimpleAtoi(out.substr(at, end - at), &port);
  return static_cast<uint16_t>(port);
}

void ChildProcess::Signal(int signal_number) { ::kill(pid_, signal_number); }

int ChildProcess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (exit_code_ == kRunning) {
    int status = 0;
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (absl::Now() > deadline) {
      return -1;
    }
    absl::SleepFor(absl::Milliseconds(5));  // polling a child's exit; no event to wait on
  }
  // What the process wrote before it exited may still be in the pipe: Output() after Wait()
  // holds all of it (unless a process it started keeps the pipe open past the deadline).
  absl::MutexLock lock(&mutex_);
  mutex_.AwaitWithTimeout(absl::Condition(&output_closed_),
                          std::max(deadline - absl::Now(), absl::Seconds(1)));
  return exit_code_;
}

std::string ChildProcess::Output() {
  absl::MutexLock lock(&mutex_);
  return output_;
}

}  // namespace gateway::testing

#pragma once

// The access log: one structured line per request (JSON or logfmt), written to stderr, stdout or
// a file. Workers hand each line to a writer thread (a short append under a mutex), so a slow
// disk or a full pipe never stalls an event loop; past `kMaxQueuedBytes` waiting, lines are
// dropped and counted (gateway_access_log_dropped_total) rather than queued without bound.
//
// What goes in is chosen by the caller (RequestRecorder): never a token, code, password, secret,
// state or query string. Every value is escaped, so no request can forge a line or a field.

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace gateway {

class Metrics;

struct AccessLogConfig {
  enum class Format { kOff, kJson, kLogfmt };
  Format format = Format::kOff;
  std::string output = "stderr";  // stderr, stdout, or a file path (appended to)
};

// One request, as logged.
struct AccessRecord {
  absl::Time time;  // when it ended
  absl::string_view request_id;
  absl::string_view remote;  // the client's IP address
  absl::string_view method;
  absl::string_view route;      // the filter that answered, or "none"
  absl::string_view path;       // without the query string
  int status = 0;               // 0: no response was sent
  uint64_t bytes = 0;           // response body bytes sent
  absl::Duration duration;      // from the request head to the end
  absl::Duration upstream;      // waiting for upstream response heads
  absl::string_view client_id;  // when known
  absl::string_view user;       // when known
  absl::string_view end;        // how the request ended: complete, client_gone, timeout, ...
};

// The line for `record`, with its newline.
std::string FormatAccessRecord(const AccessRecord& record, AccessLogConfig::Format format);

class AccessLog {
 public:
  static constexpr size_t kMaxQueuedBytes = 4 * 1024 * 1024;
  // The writer writes when this much waits, or every kFlushInterval.
  static constexpr size_t kBatchBytes = 64 * 1024;
  static constexpr absl::Duration kFlushInterval = absl::Milliseconds(100);

  // Opens the output (a file is created with mode 0640) and starts the writer thread. `metrics`
  // (may be null) counts dropped lines; it must outlive the log.
  static absl::StatusOr<std::unique_ptr<AccessLog>> Open(const AccessLogConfig& config,
                                                         Metrics* metrics);
  // Writes what is queued, then stops.
  ~AccessLog();

  // Any thread.
  void Write(const AccessRecord& record);

 private:
  AccessLog(AccessLogConfig::Format format, int fd, bool owns_fd, Metrics* metrics);
  void Run();
  bool HasWork() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const AccessLogConfig::Format format_;
  const int fd_;
  const bool owns_fd_;
  Metrics* const metrics_;
  absl::Mutex mutex_;
  std::string queued_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread writer_;
};

}  // namespace gateway

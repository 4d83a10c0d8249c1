#include "source/common/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "source/common/metrics.h"

namespace gateway {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// `value` in double quotes, with \" and \\ escaped and every byte outside printable ASCII
// written as `byte_escape` and two hex digits, so no request can end a line or a field early.
void AppendQuoted(std::string& out, absl::string_view value, absl::string_view byte_escape) {
  out += '"';
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out.append(byte_escape.data(), byte_escape.size());
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

// A JSON string (RFC 8259 section 7); bytes outside printable ASCII become \u00XX, so the line
// stays valid JSON whatever bytes a client sent.
void AppendJsonString(std::string& out, absl::string_view value) {
  AppendQuoted(out, value, "\\u00");
}

// A logfmt value: bare when it is printable ASCII without space, '=', '"' or '\\', else quoted
// with \" \\ and \xHH escapes.
void AppendLogfmtValue(std::string& out, absl::string_view value) {
  bool bare = !value.empty();
  for (unsigned char c : value) {
    bare = bare && c > 0x20 && c < 0x7f && c != '=' && c != '"' && c != '\\';
  }
  if (bare) {
    out.append(value.data(), value.size());
    return;
  }
  AppendQuoted(out, value, "\\x");
}

// RFC 3339 UTC with milliseconds. absl::FormatTime is slow next to the rest of a line, so each
// thread formats a second once and adds the milliseconds to it.
std::string FormatTimestamp(absl::Time time) {
  struct Cache {
    int64_t second = -1;
    std::string text;  // "2026-11-26T17:12:04."
  };
  thread_local Cache cache;
  const int64_t millis = absl::ToUnixMillis(time);
  const int64_t second = millis >= 0 ? millis / 1000 : (millis - 999) / 1000;
  if (second != cache.second) {
    cache.second = second;
    cache.text =
        absl::FormatTime("%Y-%m-%dT%H:%M:%S.", absl::FromUnixSeconds(second), absl::UTCTimeZone());
  }
  return absl::StrCat(cache.text, absl::Dec(millis - second * 1000, absl::kZeroPad3), "Z");
}

std::string Milliseconds(absl::Duration duration) {
  return absl::StrFormat("%.3f", absl::ToDoubleMilliseconds(duration));
}

}  // namespace

std::string FormatAccessRecord(const AccessRecord& record, AccessLogConfig::Format format) {
  const std::string time = FormatTimestamp(record.time);
  const std::pair<absl::string_view, absl::string_view> strings[] = {
      {"time", time},
      {"request_id", record.request_id},
      {"remote", record.remote},
      {"method", record.method},
      {"route", record.route},
      {"path", record.path},
  };
  const std::string status = absl::StrCat(record.status);
  const std::string bytes = absl::StrCat(record.bytes);
  const std::string duration = Milliseconds(record.duration);
  const std::string upstream = Milliseconds(record.upstream);
  const std::pair<absl::string_view, absl::string_view> numbers[] = {
      {"status", status},
      {"bytes", bytes},
      {"duration_ms", duration},
      {"upstream_ms", upstream},
  };
  const std::pair<absl::string_view, absl::string_view> known[] = {
      {"client_id", record.client_id},
      {"user", record.user},
      {"end", record.end},
  };
  std::string line;
  line.reserve(256);
  const bool json = format == AccessLogConfig::Format::kJson;
  bool first = true;
  auto field = [&](absl::string_view key, absl::string_view value, bool quoted) {
    if (json) {
      line += first ? "{" : ",";
      AppendJsonString(line, key);
      line += ':';
      if (quoted) {
        AppendJsonString(line, value);
      } else {
        line.append(value.data(), value.size());
      }
    } else {
      if (!first) {
        line += ' ';
      }
      line.append(key.data(), key.size());
      line += '=';
      AppendLogfmtValue(line, value);
    }
    first = false;
  };
  for (const auto& [key, value] : strings) {
    field(key, value, true);
  }
  for (const auto& [key, value] : numbers) {
    field(key, value, false);
  }
  for (const auto& [key, value] : known) {
    field(key, value, true);
  }
  line += json ? "}\n" : "\n";
  return line;
}

absl::StatusOr<std::unique_ptr<AccessLog>> AccessLog::Open(const AccessLogConfig& config,
                                                           Metrics* metrics) {
  if (config.format == AccessLogConfig::Format::kOff) {
    return nullptr;
  }
  int fd = -1;
  bool owns = false;
  if (config.output == "stderr") {
    fd = STDERR_FILENO;
  } else if (config.output == "stdout") {
    fd = STDOUT_FILENO;
  } else {
    fd = ::open(config.output.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "log.access_output: cannot open ", config.output, " for appending: ",
          std::strerror(errno), "; give a file the gateway may write, or stderr or stdout"));
    }
    owns = true;
  }
  return std::unique_ptr<AccessLog>(new AccessLog(config.format, fd, owns, metrics));
}

AccessLog::AccessLog(AccessLogConfig::Format format, int fd, bool owns_fd, Metrics* metrics)
    : format_(format), fd_(fd), owns_fd_(owns_fd), metrics_(metrics) {
  writer_ = std::thread([this] { Run(); });
}

AccessLog::~AccessLog() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  writer_.join();
  if (owns_fd_) {
    ::close(fd_);
  }
}

void AccessLog::Write(const AccessRecord& record) {
  const std::string line = FormatAccessRecord(record, format_);
  {
    absl::MutexLock lock(&mutex_);
    if (queued_.size() + line.size() <= kMaxQueuedBytes) {
      queued_ += line;
      return;
    }
  }
  if (metrics_ != nullptr) {
    metrics_->Add(Counter::kAccessLogDropped);
  }
}

bool AccessLog::HasWork() { return stopping_ || queued_.size() >= kBatchBytes; }

void AccessLog::Run() {
  std::string batch;
  bool stop = false;
  while (!stop) {
    {
      absl::MutexLock lock(&mutex_);
      // Woken for a full batch or shutdown (not for every line: a wake-up per request would cost
      // more than the line), else within kFlushInterval.
      mutex_.AwaitWithTimeout(absl::Condition(this, &AccessLog::HasWork), kFlushInterval);
      batch.swap(queued_);
      stop = stopping_ && batch.empty();
    }
    absl::string_view rest = batch;
    while (!rest.empty()) {
      const ssize_t written = ::write(fd_, rest.data(), rest.size());
      if (written < 0 && errno == EINTR) {
        continue;
      }
      if (written <= 0) {
        break;  // a closed pipe or a full disk: the lines are lost, the gateway goes on
      }
      rest.remove_prefix(static_cast<size_t>(written));
    }
    batch.clear();
  }
}

}  // namespace gateway

// bench_load_tool: the load benchmark's own clients and upstream, for what wrk cannot do.
//
//   requests      a fixed number of requests, one after the other on one kept-alive connection
//                 (the callgrind gate: a count, not a duration, so instructions per request are
//                 exact); every answer must be a 200
//   sse-upstream  a fast SSE upstream: GET /mcp answers an endless text/event-stream whose events
//                 carry their send time (CLOCK_MONOTONIC, shared by every process here); the
//                 request header X-Bench-Stream says how fast: "flood" (as fast as the reader
//                 takes them) or "period-ms=N" (one event every N ms, the streams out of phase)
//   free-port     prints a loopback port free a moment ago
//   streams       opens N GET /mcp event streams to a port (the upstream itself, or the gateway
//                 in front of it), waits for them all, then counts events for a window and
//                 measures each event's time from the upstream's write to this reader
//
// One thread, one epoll loop per process; HTTP framing through the gateway's own parser, so a
// reader sees events exactly as the gateway's codec would. Results go to standard output as one
// line of key=value pairs for bench/load/run to read.

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "event2/buffer.h"
#include "source/common/http/parser.h"

namespace gateway::bench {
namespace {

constexpr char kRequestBody[] =
    R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo",)"
    R"("arguments":{"text":"hello"}}})";

int64_t NowNs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

// CPU time of a process, all its threads, in nanoseconds: the scheduler's own count
// (/proc/<pid>/task/<tid>/schedstat), exact where utime + stime come in 10 ms ticks; those stand in
// where the kernel keeps no schedstat. -1 when neither can be read.
int64_t CpuNanos(int pid) {
  const std::string task_dir = absl::StrCat("/proc/", pid, "/task");
  if (DIR* tasks = opendir(task_dir.c_str())) {
    int64_t total = 0;
    bool any = false;
    while (const dirent* task = readdir(tasks)) {
      std::ifstream file(absl::StrCat(task_dir, "/", task->d_name, "/schedstat"));
      int64_t nanos = 0;
      if (task->d_name[0] != '.' && file >> nanos) {
        total += nanos;
        any = true;
      }
    }
    closedir(tasks);
    if (any) {
      return total;
    }
  }
  std::ifstream file(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const size_t end_of_name = stat.rfind(')');
  if (end_of_name == std::string::npos) {
    return -1;
  }
  // Fields after the name start at field 3 (state); utime and stime are fields 14 and 15.
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(stat).substr(end_of_name + 2), ' ');
  int64_t utime = 0;
  int64_t stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return -1;
  }
  return (utime + stime) * 1'000'000'000 / sysconf(_SC_CLK_TCK);
}

struct Options {
  std::map<std::string, std::string> values;

  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = values.find(name);
    return it == values.end() ? fallback : it->second;
  }
  int64_t Int(const std::string& name, int64_t fallback) const {
    int64_t value = fallback;
    auto it = values.find(name);
    if (it != values.end() && !absl::SimpleAtoi(it->second, &value)) {
      std::cerr << "bench_load_tool: --" << name << " wants a number, got " << it->second << "\n";
      exit(2);
    }
    return value;
  }
};

Options ParseOptions(int argc, char** argv) {
  Options options;
  for (int i = 2; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (!absl::ConsumePrefix(&arg, "--")) {
      std::cerr << "bench_load_tool: unexpected argument " << arg << "\n";
      exit(2);
    }
    std::pair<std::string, std::string> pair = absl::StrSplit(arg, absl::MaxSplits('=', 1));
    options.values[pair.first] = pair.second;
  }
  return options;
}

std::string ReadToken(const Options& options) {
  const std::string path = options.Get("token-file");
  if (path.empty()) {
    return "";
  }
  std::ifstream file(path);
  std::string token;
  std::getline(file, token);
  return token;
}

int ConnectTo(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    std::cerr << "bench_load_tool: connect to port " << port << ": " << strerror(errno) << "\n";
    exit(1);
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t written = write(fd, data.data(), data.size());
    if (written < 0 && errno == EINTR) {
      continue;
    }
    if (written <= 0) {
      return false;
    }
    data.remove_prefix(written);
  }
  return true;
}

struct BufferDeleter {
  void operator()(evbuffer* buffer) const { evbuffer_free(buffer); }
};
using Buffer = std::unique_ptr<evbuffer, BufferDeleter>;

// One HTTP/1.1 response stream on a client connection: the status and the body as it arrives.
class ResponseReader : public http::Parser::Callbacks {
 public:
  ResponseReader() : parser_(http::Parser::Mode::kResponse, {}, *this) {}

  // Parses what `input` holds; false on a framing error.
  bool Feed(evbuffer* input) {
    parser_.Dispatch(input);
    return parser_.error() == http::Parser::Error::kNone;
  }

  void OnMessageBegin() override { complete_ = false; }
  void OnResponseHead(http::ResponseHead&& head, const http::Parser::Framing&) override {
    status_ = head.status;
  }
  void OnBody(absl::string_view data) override { body_.append(data.data(), data.size()); }
  void OnMessageComplete() override { complete_ = true; }

  int status_ = 0;
  bool complete_ = false;
  std::string body_;

 private:
  http::Parser parser_;
};

// `requests`: --port, --count, --token-file, --accept (the Accept header; default JSON).
int RunRequests(const Options& options) {
  const uint16_t port = static_cast<uint16_t>(options.Int("port", 0));
  const int64_t count = options.Int("count", 1000);
  const std::string token = ReadToken(options);
  std::string request = absl::StrCat(
      "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: ",
      options.Get("accept", "application/json"),
      "\r\nMcp-Protocol-Version: 2025-06-18\r\nContent-Length: ", strlen(kRequestBody), "\r\n");
  if (!token.empty()) {
    absl::StrAppend(&request, "Authorization: Bearer ", token, "\r\n");
  }
  absl::StrAppend(&request, "\r\n", kRequestBody);
  const int fd = ConnectTo(port);
  Buffer input(evbuffer_new());
  ResponseReader reader;
  const int64_t start = NowNs();
  for (int64_t i = 0; i < count; ++i) {
    if (!WriteAll(fd, request)) {
      std::cerr << "bench_load_tool: write failed at request " << i << "\n";
      return 1;
    }
    reader.complete_ = false;
    while (!reader.complete_) {
      const int read = evbuffer_read(input.get(), fd, -1);
      if (read <= 0 || !reader.Feed(input.get())) {
        std::cerr << "bench_load_tool: connection ended or bad framing at request " << i << "\n";
        return 1;
      }
    }
    if (reader.status_ != 200) {
      std::cerr << "bench_load_tool: request " << i << " got " << reader.status_ << ": "
                << reader.body_ << "\n";
      return 1;
    }
    reader.body_.clear();
  }
  const double seconds = static_cast<double>(NowNs() - start) / 1e9;
  std::cout << "requests=" << count << " seconds=" << seconds << "\n";
  close(fd);
  return 0;
}

// ---- sse-upstream ----------------------------------------------------------------------------

// One client connection of the SSE upstream.
class UpstreamConnection : public http::Parser::Callbacks {
 public:
  explicit UpstreamConnection(int fd)
      : fd_(fd),
        input_(evbuffer_new()),
        output_(evbuffer_new()),
        parser_(http::Parser::Mode::kRequest, {}, *this) {}
  ~UpstreamConnection() override { close(fd_); }

  void OnMessageBegin() override {}
  void OnRequestHead(http::RequestHead&& head, const http::Parser::Framing&) override {
    if (head.method != "GET" || head.path != "/mcp") {
      evbuffer_add_printf(output_.get(), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    const std::string* mode = head.headers.Get("x-bench-stream");
    absl::string_view value = mode != nullptr ? *mode : "flood";
    flood_ = value == "flood";
    if (absl::ConsumePrefix(&value, "period-ms=")) {
      int64_t period_ms = 0;
      period_ns_ = absl::SimpleAtoi(value, &period_ms) && period_ms > 0 ? period_ms * 1'000'000
                                                                        : 1'000'000'000;
      // Streams opened together must not all fire in the same millisecond.
      next_due_ns_ = NowNs() + static_cast<int64_t>(fd_ * 7919 % 1000) * period_ns_ / 1000;
    }
    streaming_ = true;
    evbuffer_add_printf(output_.get(),
                        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                        "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "8\r\n: open\n\n\r\n");
  }
  void OnBody(absl::string_view) override {}
  void OnMessageComplete() override {}

  // Reads what arrived; false when the peer has gone.
  bool OnReadable() {
    const int read = evbuffer_read(input_.get(), fd_, -1);
    if (read == 0 || (read < 0 && errno != EAGAIN && errno != EINTR)) {
      return false;
    }
    parser_.Dispatch(input_.get());
    return parser_.error() == http::Parser::Error::kNone;
  }

  // Adds one event, stamped now, as one chunk.
  void AddEvent() {
    char event[200];
    const int length = snprintf(event, sizeof(event),
                                "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":"
                                "\"notifications/message\",\"params\":{\"level\":\"info\","
                                "\"data\":{\"t\":%lld}}}\n\n",
                                static_cast<long long>(NowNs()));
    evbuffer_add_printf(output_.get(), "%x\r\n", length);
    evbuffer_add(output_.get(), event, length);
    evbuffer_add(output_.get(), "\r\n", 2);
  }

  // Writes what is pending (a flooding stream first tops its output up); false when the peer
  // has gone. `wants_write` tells whether to wait for the socket to drain.
  bool Flush(bool* wants_write) {
    if (streaming_ && flood_) {
      while (evbuffer_get_length(output_.get()) < 64 * 1024) {
        AddEvent();
      }
    }
    while (evbuffer_get_length(output_.get()) > 0) {
      const int written = evbuffer_write(output_.get(), fd_);
      if (written < 0) {
        if (errno == EAGAIN) {
          break;
        }
        return false;
      }
    }
    *wants_write = evbuffer_get_length(output_.get()) > 0 || (streaming_ && flood_);
    return true;
  }

  // A periodic stream whose event is due adds it; returns whether it did.
  bool AddDueEvent(int64_t now_ns) {
    if (!streaming_ || flood_ || now_ns < next_due_ns_) {
      return false;
    }
    AddEvent();
    next_due_ns_ += period_ns_;
    return true;
  }

  int fd() const { return fd_; }

 private:
  const int fd_;
  Buffer input_;
  Buffer output_;
  http::Parser parser_;
  bool streaming_ = false;
  bool flood_ = false;
  int64_t period_ns_ = 0;
  int64_t next_due_ns_ = 0;
};

void RaiseFileLimit() {
  rlimit limit;
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

void Watch(int epoll, int fd, uint32_t events, bool add) {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  epoll_ctl(epoll, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &event);
}

// `sse-upstream`: --port (0: the kernel chooses), --port-file (where the port is written).
int RunSseUpstream(const Options& options) {
  RaiseFileLimit();
  signal(SIGPIPE, SIG_IGN);
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(options.Int("port", 0)));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(listener, 4096) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::cerr << "bench_load_tool: cannot listen: " << strerror(errno) << "\n";
    return 1;
  }
  const uint16_t port = ntohs(address.sin_port);
  std::cout << "sse-upstream listening on port " << port << std::endl;
  if (!options.Get("port-file").empty()) {
    std::ofstream(options.Get("port-file")) << port;
  }
  const int epoll = epoll_create1(0);
  Watch(epoll, listener, EPOLLIN, true);
  const int timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  itimerspec tick{{0, 1'000'000}, {0, 1'000'000}};
  timerfd_settime(timer, 0, &tick, nullptr);
  Watch(epoll, timer, EPOLLIN, true);
  std::map<int, std::unique_ptr<UpstreamConnection>> connections;
  // Writes what `connection` has pending; closes it when its peer has gone.
  auto flush = [&](UpstreamConnection& connection) {
    bool wants_write = false;
    if (!connection.Flush(&wants_write)) {
      connections.erase(connection.fd());
      return;
    }
    Watch(epoll, connection.fd(),
          static_cast<uint32_t>(EPOLLIN) | (wants_write ? static_cast<uint32_t>(EPOLLOUT) : 0u),
          false);
  };
  std::vector<epoll_event> events(1024);
  while (true) {
    const int ready = epoll_wait(epoll, events.data(), static_cast<int>(events.size()), -1);
    for (int i = 0; i < ready; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener) {
        int client;
        while ((client = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0) {
          setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          connections[client] = std::make_unique<UpstreamConnection>(client);
          Watch(epoll, client, EPOLLIN, true);
        }
        continue;
      }
      if (fd == timer) {
        uint64_t expirations;
        if (read(timer, &expirations, sizeof(expirations)) < 0) {
          continue;
        }
        const int64_t now = NowNs();
        std::vector<UpstreamConnection*> due;
        for (auto& [unused, connection] : connections) {
          if (connection->AddDueEvent(now)) {
            due.push_back(connection.get());
          }
        }
        for (UpstreamConnection* connection : due) {
          flush(*connection);
        }
        continue;
      }
      auto it = connections.find(fd);
      if (it == connections.end()) {
        continue;
      }
      if ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0 && !it->second->OnReadable()) {
        connections.erase(it);
        continue;
      }
      flush(*it->second);
    }
  }
}

// ---- streams ---------------------------------------------------------------------------------

// One event stream read by the `streams` client: the response through the gateway's parser, then
// the body split into events.
class StreamReader : public http::Parser::Callbacks {
 public:
  StreamReader(int fd, std::vector<int64_t>* latencies_ns)
      : fd_(fd),
        input_(evbuffer_new()),
        parser_(http::Parser::Mode::kResponse, {}, *this),
        latencies_ns_(latencies_ns) {}
  ~StreamReader() override { close(fd_); }

  void OnMessageBegin() override {}
  void OnResponseHead(http::ResponseHead&& head, const http::Parser::Framing&) override {
    status_ = head.status;
  }
  void OnBody(absl::string_view data) override {
    pending_.append(data.data(), data.size());
    size_t start = 0;
    size_t end;
    while ((end = pending_.find("\n\n", start)) != std::string::npos) {
      OnEvent(absl::string_view(pending_).substr(start, end - start));
      start = end + 2;
    }
    pending_.erase(0, start);
  }
  void OnMessageComplete() override { ended_ = true; }

  // Reads and parses what arrived; false when the stream ended or broke.
  bool OnReadable() {
    const int read = evbuffer_read(input_.get(), fd_, -1);
    if (read == 0 || (read < 0 && errno != EAGAIN && errno != EINTR)) {
      return false;
    }
    parser_.Dispatch(input_.get());
    return parser_.error() == http::Parser::Error::kNone && !ended_ && status_ == 200;
  }

  bool open() const { return open_; }
  int status() const { return status_; }
  static inline bool counting_ = false;
  static inline int64_t events_ = 0;

 private:
  void OnEvent(absl::string_view event) {
    if (absl::StartsWith(event, ": open")) {
      open_ = true;
      return;
    }
    if (!counting_) {
      return;
    }
    ++events_;
    if (latencies_ns_ == nullptr) {
      return;
    }
    const size_t stamp = event.find("\"t\":");
    int64_t sent_ns = 0;
    if (stamp != absl::string_view::npos &&
        absl::SimpleAtoi(event.substr(stamp + 4, event.find('}', stamp) - stamp - 4), &sent_ns)) {
      latencies_ns_->push_back(NowNs() - sent_ns);
    }
  }

  const int fd_;
  Buffer input_;
  http::Parser parser_;
  std::vector<int64_t>* latencies_ns_;
  std::string pending_;
  int status_ = 0;
  bool open_ = false;
  bool ended_ = false;
};

int64_t Percentile(std::vector<int64_t>& values, double fraction) {
  if (values.empty()) {
    return 0;
  }
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(fraction * values.size()));
  std::nth_element(values.begin(), values.begin() + index, values.end());
  return values[index];
}

// `streams`: --port, --token-file, --streams (how many), --mode (flood | period-ms=N),
// --seconds (the measured window), --warmup (seconds before it), --cpu-pid (a process whose
// CPU time over the window is reported per event).
int RunStreams(const Options& options) {
  RaiseFileLimit();
  signal(SIGPIPE, SIG_IGN);
  const uint16_t port = static_cast<uint16_t>(options.Int("port", 0));
  const int64_t count = options.Int("streams", 1);
  const std::string mode = options.Get("mode", "flood");
  const double seconds = static_cast<double>(options.Int("seconds-ms", 3000)) / 1000;
  const double warmup = static_cast<double>(options.Int("warmup-ms", 500)) / 1000;
  const int cpu_pid = static_cast<int>(options.Int("cpu-pid", 0));
  const std::string token = ReadToken(options);
  std::string request = absl::StrCat(
      "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nX-Bench-Stream: ", mode,
      "\r\n");
  if (!token.empty()) {
    absl::StrAppend(&request, "Authorization: Bearer ", token, "\r\n");
  }
  absl::StrAppend(&request, "\r\n");
  std::vector<int64_t> latencies_ns;
  const bool timed = mode != "flood";
  const int epoll = epoll_create1(0);
  std::map<int, std::unique_ptr<StreamReader>> streams;
  for (int64_t i = 0; i < count; ++i) {
    const int fd = ConnectTo(port);
    if (!WriteAll(fd, request)) {
      std::cerr << "bench_load_tool: cannot send stream request " << i << "\n";
      return 1;
    }
    SetNonBlocking(fd);
    streams[fd] = std::make_unique<StreamReader>(fd, timed ? &latencies_ns : nullptr);
    Watch(epoll, fd, EPOLLIN, true);
  }
  std::vector<epoll_event> events(1024);
  const int64_t open_deadline = NowNs() + 60'000'000'000;
  int64_t phase_start = 0;
  int64_t window_end = 0;
  int64_t cpu_start = 0;
  int64_t open_ns = 0;
  const int64_t start_open = NowNs();
  while (window_end == 0 || NowNs() < window_end) {
    const int ready = epoll_wait(epoll, events.data(), static_cast<int>(events.size()), 10);
    for (int i = 0; i < ready; ++i) {
      auto it = streams.find(events[i].data.fd);
      if (it != streams.end() && !it->second->OnReadable()) {
        std::cerr << "bench_load_tool: a stream ended or broke (status " << it->second->status()
                  << ")\n";
        return 1;
      }
    }
    const int64_t now = NowNs();
    if (phase_start == 0) {
      const bool all_open = std::all_of(streams.begin(), streams.end(),
                                        [](const auto& entry) { return entry.second->open(); });
      if (all_open) {
        open_ns = now - start_open;
        phase_start = now + static_cast<int64_t>(warmup * 1e9);
      } else if (now > open_deadline) {
        std::cerr << "bench_load_tool: not every stream opened within 60 s\n";
        return 1;
      }
    } else if (window_end == 0 && now >= phase_start) {
      StreamReader::counting_ = true;
      cpu_start = cpu_pid > 0 ? CpuNanos(cpu_pid) : 0;
      window_end = now + static_cast<int64_t>(seconds * 1e9);
    }
  }
  const int64_t cpu_end = cpu_pid > 0 ? CpuNanos(cpu_pid) : 0;
  const int64_t total = StreamReader::events_;
  std::cout << "streams=" << count << " open_s=" << static_cast<double>(open_ns) / 1e9
            << " events=" << total << " events_per_s=" << static_cast<double>(total) / seconds;
  if (cpu_pid > 0 && total > 0) {
    const double cpu_us = static_cast<double>(cpu_end - cpu_start) / 1e3;
    std::cout << " cpu_us_per_event=" << cpu_us / static_cast<double>(total);
  }
  if (timed) {
    std::cout << " samples=" << latencies_ns.size()
              << " p50_us=" << static_cast<double>(Percentile(latencies_ns, 0.50)) / 1000
              << " p99_us=" << static_cast<double>(Percentile(latencies_ns, 0.99)) / 1000;
  }
  std::cout << "\n";
  return 0;
}

// `free-port`: prints a loopback port that was free a moment ago (for nginx's configuration).
int RunFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return 1;
  }
  std::cout << ntohs(address.sin_port) << "\n";
  close(fd);
  return 0;
}

}  // namespace
}  // namespace gateway::bench

int main(int argc, char** argv) {
  using namespace gateway::bench;
  const std::string command = argc > 1 ? argv[1] : "";
  const Options options = ParseOptions(argc, argv);
  if (command == "requests") {
    return RunRequests(options);
  }
  if (command == "sse-upstream") {
    return RunSseUpstream(options);
  }
  if (command == "streams") {
    return RunStreams(options);
  }
  if (command == "free-port") {
    return RunFreePort();
  }
  std::cerr
      << "usage: bench_load_tool requests|sse-upstream|streams|free-port [--option=value...]\n";
  return 2;
}

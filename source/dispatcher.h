#pragma once

// The dispatcher owns one libevent event_base and is the only code that touches it (STYLE.md).
// There is one per worker thread and one on the main thread (signals). Every method runs on the
// dispatcher's own thread, except Post() and Exit(), which any thread may call: they are how other
// threads hand a dispatcher work.
//
// Objects that the event loop may still call back into during the current callback (a connection
// that closes itself from its own read callback) are handed to DeferredDelete() and destroyed when
// the current loop iteration has unwound.

#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "source/common/net.h"

struct bufferevent;
struct evbuffer;
struct event;
struct event_base;
struct evdns_base;
struct evconnlistener;
struct ssl_st;

namespace gateway {

using MonotonicTime = std::chrono::steady_clock::time_point;

// A one-shot timer. Destroying it disables it.
class Timer {
 public:
  virtual ~Timer() = default;
  // Arms the timer to fire once after `delay`, replacing any earlier arming.
  virtual void Enable(absl::Duration delay) = 0;
  virtual void Disable() = 0;
  virtual bool Enabled() const = 0;
};

// A callback run once after Schedule(), when the callback that scheduled it has returned, in the
// same turn of the loop (before the loop next waits for I/O). Scheduling it again before it ran
// runs it once. Destroying it cancels it.
class SoonEvent {
 public:
  virtual ~SoonEvent() = default;
  virtual void Schedule() = 0;
};

// Readiness of a file descriptor the dispatcher does not own (a client library's socket, such as
// hiredis's). Destroying it stops watching; the descriptor stays open.
class FileEvent {
 public:
  virtual ~FileEvent() = default;
  // Which readiness to report. Level-triggered: the callback keeps firing while the descriptor
  // is ready and watched.
  virtual void SetEnabled(bool read, bool write) = 0;
};
// Called with readable and writable as they are.
using FileReadyCallback = std::function<void(bool readable, bool writable)>;

// Something destroyed later through Dispatcher::DeferredDelete().
class DeferredDeletable {
 public:
  virtual ~DeferredDeletable() = default;
};

struct BufferEventDeleter {
  void operator()(bufferevent* bev) const;
};
using BufferEventPtr = std::unique_ptr<bufferevent, BufferEventDeleter>;

// A pending name lookup. Destroying it cancels the lookup: its callback is then never called.
class DnsQuery {
 public:
  virtual ~DnsQuery() = default;
};
using ResolveCallback = std::function<void(absl::StatusOr<std::vector<Address>>)>;

// Accepts on one listening socket. Destroying it stops accepting and closes the socket.
class Listener {
 public:
  virtual ~Listener() = default;
};
using AcceptCallback = std::function<void(int fd, const Address& peer)>;

// Watches one POSIX signal. Destroying it stops watching.
class SignalWatch {
 public:
  virtual ~SignalWatch() = default;
};

class Dispatcher {
 public:
  explicit Dispatcher(std::string name);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  const std::string& name() const { return name_; }

  // Runs the loop on the calling thread until Exit(). Posted work and deferred deletions run on it.
  void Run();
  // Makes Run() return after the current iteration. Thread-safe.
  void Exit();
  // Runs `work` on the dispatcher's thread, in the order posted. Thread-safe.
  void Post(std::function<void()> work);
  // Destroys `object` once the current callback has returned.
  void DeferredDelete(std::unique_ptr<DeferredDeletable> object);

  std::unique_ptr<Timer> CreateTimer(std::function<void()> callback);
  std::unique_ptr<SoonEvent> CreateSoonEvent(std::function<void()> callback);
  // Watches `fd` (not taken over); nothing is reported until SetEnabled().
  std::unique_ptr<FileEvent> CreateFileEvent(int fd, FileReadyCallback callback);
  // Runs `callback` on this loop each time `signal_number` arrives, read from a signalfd. The
  // signal must be blocked in every thread of the process (block it before starting any), so that
  // it waits in the kernel for the loop; fails (FailedPrecondition) if it is not blocked in the
  // calling thread.
  absl::StatusOr<std::unique_ptr<SignalWatch>> WatchSignal(int signal_number,
                                                           std::function<void()> callback);
  // Starts accepting on `listen_fd` (a bound, listening socket); takes ownership of it.
  std::unique_ptr<Listener> CreateListener(int listen_fd, AcceptCallback callback);

  // A buffered socket for `fd` (taken over: closed with the bufferevent), reading its socket
  // itself (ReadSocketDirectly). `fd` may be -1 for a client socket that
  // bufferevent_socket_connect() will create; call ReadSocketDirectly() after that call, which
  // assigns the read event anew.
  // With SocketReads::kOffered, the bytes of a read that finds the input empty are offered to
  // the read callback where they were read instead (OfferedInput()).
  enum class SocketReads { kIntoInput, kOffered };
  BufferEventPtr CreateSocketBufferEvent(int fd, SocketReads reads = SocketReads::kIntoInput);
  // Has a plain socket bufferevent read its socket with the dispatcher's own read callback
  // instead of libevent's: no ioctl(FIONREAD) before each read (see dispatcher.cc).
  static void ReadSocketDirectly(bufferevent* bev, SocketReads reads = SocketReads::kIntoInput);
  // For the read callback of a bufferevent made with SocketReads::kOffered, which parses its
  // input as it comes: the bytes just read for `input` that are not in it, to be taken before
  // it (empty for any other input, or outside the read callback). So a read is parsed where it
  // was read, without the copy into the input and the drain. TakeOffered() says how many of
  // them the callback used (from the front); KeepOffered() appends the rest to `input`, as
  // they would have been, and the read callback's return does so too. Nothing else may see the
  // input in between: it lacks those bytes.
  static absl::string_view OfferedInput(const evbuffer* input);
  static void TakeOffered(size_t bytes);
  static void KeepOffered(evbuffer* input);
  // Bounds `bev`'s input at `bytes` (libevent's read high watermark; low stays 0), as
  // bufferevent_setwatermark(bev, EV_READ, 0, bytes) does, at less cost for a bufferevent that
  // reads directly (see dispatcher.cc). Call it before or after ReadSocketDirectly().
  static void SetReadLimit(bufferevent* bev, size_t bytes);
  // Removes libevent's callback from a plain socket bufferevent's output, which adds the write
  // event whenever output is queued while writing is enabled, and otherwise runs for nothing at
  // every add and drain (see dispatcher.cc). For a bufferevent whose owner writes its output
  // itself (DirectWriter), and enables writing only to have libevent write the rest. Returns
  // whether it was removed: it stays if this libevent's callbacks are not laid out as expected.
  static bool DropOutputCallback(bufferevent* bev);
  // As above, wrapped in TLS with `ssl` (taken over). `server` selects the accepting side.
  BufferEventPtr CreateTlsBufferEvent(int fd, ssl_st* ssl, bool server);
  // Has a connected TLS bufferevent write what its output holds in this turn of the loop, after
  // the callbacks that queued it, without adding its write event to epoll unless the socket is
  // full (see dispatcher.cc). Call after queuing output.
  static void WriteTlsOutputSoon(bufferevent* bev);

  // Resolves `host` to addresses without blocking (evdns: /etc/hosts, then DNS). A numeric host
  // answers at once. The callback runs on this dispatcher, unless the query is destroyed first.
  std::unique_ptr<DnsQuery> Resolve(const std::string& host, uint16_t port,
                                    ResolveCallback callback);

  MonotonicTime Now() const { return std::chrono::steady_clock::now(); }
  // Now() as read by the first call in this turn of the loop (one clock read per turn, not one
  // per call): behind Now() by the time the turn has run since. For deadlines (timers count from
  // it, as libevent's own timeouts count from the time it cached at the start of the turn) and
  // for the idle bookkeeping every read and write of a connection updates, and for when a
  // request began (its head was read in this turn). The other ends of reported latencies take
  // Now(). Only on the dispatcher's thread; outside Run() it is Now().
  MonotonicTime LoopTime() { return loop_time_valid_ ? loop_time_ : ReadLoopTime(); }

 private:
  static void OnPostedTrampoline(int fd, short events, void* arg);
  static void OnDeferredDeleteTrampoline(int fd, short events, void* arg);
  void RunPosted();
  void RunDeferredDeletes();
  MonotonicTime ReadLoopTime();
  evdns_base* DnsBase();

  std::string name_;
  event_base* base_ = nullptr;
  // Post() wakes the loop through this eventfd: the base itself has no lock (one thread uses
  // it), so no other thread may touch it, not even to activate an event.
  int wake_fd_ = -1;
  event* post_event_ = nullptr;
  event* deferred_delete_event_ = nullptr;
  evdns_base* dns_base_ = nullptr;
  absl::Mutex post_mutex_;
  std::vector<std::function<void()>> posted_ ABSL_GUARDED_BY(post_mutex_);
  std::vector<std::unique_ptr<DeferredDeletable>> to_delete_;
  std::vector<std::unique_ptr<DeferredDeletable>> spare_batch_;  // see RunDeferredDeletes()
  MonotonicTime loop_time_;                                      // see LoopTime()
  bool loop_time_valid_ = false;                                 // cleared by Run() between turns
  bool exit_requested_ = false;                                  // by Exit(), on this thread
};

}  // namespace gateway

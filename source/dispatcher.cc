#include "source/dispatcher.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "source/common/log.h"

namespace gateway {
namespace {

timeval DelayToTimeval(absl::Duration duration) {
  if (duration < absl::ZeroDuration()) {
    duration = absl::ZeroDuration();
  }
  return absl::ToTimeval(duration);
}

// The dispatcher whose Run() is on this thread's stack, if any.
thread_local Dispatcher* running_here = nullptr;

// libevent is told once, before any event_base exists, that threads exist (evdns and the
// listener then lock their own state). The dispatchers' bases are made without a lock: each is
// used by its own thread only, and other threads reach it through Post()'s eventfd. Locking
// every event_add and event_del cost some 4% of a proxied request's instructions.
void EnableLibeventThreads() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (evthread_use_pthreads() != 0) {
      log::Error("libevent has no pthreads support; cannot run workers");
      std::abort();
    }
  });
}

// Connections push their idle deadlines back on every request; libevent's event_add (a heap
// update) each time cost some 2% of a proxied request's instructions. So a timer pushed later
// only notes its new deadline: the event, armed for the earlier one, fires, finds the deadline
// not reached, and waits again for the rest. Only an earlier deadline re-arms the event. The
// deadline counts from the dispatcher's LoopTime(), and the timer fires once LoopTime() has
// reached it: an event that fires a little before (libevent's own clock is the coarse one)
// waits for the rest too. So a timer fires no earlier than `delay` after the turn of the loop
// that enabled it began, and may fire up to a millisecond late (epoll_wait's resolution).
// The event is held inline (event_assign, not event_new): a request's response timer is one
// allocation, not two. The layout of struct event is then compiled in, which ties the binary to
// the libevent version it was built against (Debian's, one ABI per release).
class TimerImpl : public Timer {
 public:
  TimerImpl(Dispatcher& dispatcher, event_base* base, std::function<void()> callback)
      : dispatcher_(dispatcher), callback_(std::move(callback)) {
    evtimer_assign(&event_, base, &TimerImpl::OnTimerTrampoline, this);
  }
  ~TimerImpl() override { evtimer_del(&event_); }

  void Enable(absl::Duration delay) override {
    if (delay < absl::ZeroDuration()) {
      delay = absl::ZeroDuration();
    }
    if (delay != converted_delay_) {
      // A timer is nearly always enabled with the delay it had before (a connection's timeout,
      // once per message): Abseil's conversion (out of line) runs when the delay changes.
      converted_delay_ = delay;
      converted_ = absl::ToChronoNanoseconds(delay);
    }
    const MonotonicTime deadline = dispatcher_.LoopTime() + converted_;
    deadline_ = deadline;
    if (armed_ && deadline >= armed_for_) {
      return;  // the event fires first and waits again
    }
    Arm(delay, deadline);
  }
  void Disable() override {
    armed_ = false;
    evtimer_del(&event_);
  }
  bool Enabled() const override { return armed_; }

 private:
  void Arm(absl::Duration delay, MonotonicTime deadline) {
    timeval tv = DelayToTimeval(delay);
    evtimer_add(&event_, &tv);
    armed_ = true;
    armed_for_ = deadline;
  }

  static void OnTimerTrampoline(evutil_socket_t, short, void* arg) {
    auto* timer = static_cast<TimerImpl*>(arg);
    timer->armed_ = false;
    const MonotonicTime now = timer->dispatcher_.LoopTime();
    if (now < timer->deadline_) {
      // Pushed back since it was armed (or libevent's cached clock ran a little behind).
      timer->Arm(absl::FromChrono(timer->deadline_ - now), timer->deadline_);
      return;
    }
    timer->callback_();
  }

  Dispatcher& dispatcher_;
  std::function<void()> callback_;
  event event_;
  bool armed_ = false;
  MonotonicTime armed_for_;                // when the event was armed to fire
  MonotonicTime deadline_;                 // when the callback is due
  absl::Duration converted_delay_;         // the last delay Enable() was given...
  std::chrono::nanoseconds converted_{0};  // ...as a std::chrono duration
};

class SoonEventImpl;

// Soon events scheduled while ReadSocket() runs a plain socket's read callback, run as soon as
// that callback returns (SoonEventImpl::Schedule()). Per thread: a dispatcher runs on one.
struct AfterRead {
  bool reading = false;
  std::vector<SoonEventImpl*> due;  // null where one was destroyed before its turn
};
thread_local AfterRead after_read;

// A soon event runs after the callback that scheduled it, in the same turn of the loop. Most
// are scheduled by a read callback (a connection's writer, with the request or response it
// queued): those ReadSocket() runs itself when the callback returns, without libevent (an
// event_active and the loop's dispatch of it, some 250 instructions each). Any other is an
// active event, which joins the queue being run. Scheduling it again before it ran does nothing
// more (a request schedules its connections' writers several times per turn).
class SoonEventImpl : public SoonEvent {
 public:
  SoonEventImpl(event_base* base, std::function<void()> callback)
      : callback_(std::move(callback)),
        event_(event_new(base, -1, 0, &SoonEventImpl::OnActiveTrampoline, this)) {}
  ~SoonEventImpl() override {
    if (due_after_read_) {
      std::replace(after_read.due.begin(), after_read.due.end(), this,
                   static_cast<SoonEventImpl*>(nullptr));
    }
    event_free(event_);
  }

  void Schedule() override {
    if (scheduled_) {
      return;
    }
    scheduled_ = true;
    if (after_read.reading) {
      due_after_read_ = true;
      after_read.due.push_back(this);
    } else {
      event_active(event_, EV_TIMEOUT, 0);
    }
  }

  // Runs what was scheduled during the read callback that just returned.
  static void RunDueAfterRead() {
    for (size_t i = 0; i < after_read.due.size(); ++i) {
      if (SoonEventImpl* soon = std::exchange(after_read.due[i], nullptr)) {
        soon->due_after_read_ = false;
        soon->Run();
      }
    }
    after_read.due.clear();
  }

 private:
  static void OnActiveTrampoline(evutil_socket_t, short, void* arg) {
    static_cast<SoonEventImpl*>(arg)->Run();
  }
  void Run() {
    scheduled_ = false;  // the callback may schedule it again
    callback_();
  }

  std::function<void()> callback_;
  event* const event_;
  bool scheduled_ = false;
  bool due_after_read_ = false;  // in after_read.due, not an active event
};

class FileEventImpl : public FileEvent {
 public:
  // One persistent event per direction, switched with event_add/event_del: never freed or
  // reassigned from inside its own callback.
  FileEventImpl(event_base* base, int fd, FileReadyCallback callback)
      : callback_(std::move(callback)),
        read_(event_new(base, fd, EV_READ | EV_PERSIST, &FileEventImpl::OnReadTrampoline, this)),
        write_(
            event_new(base, fd, EV_WRITE | EV_PERSIST, &FileEventImpl::OnWriteTrampoline, this)) {}
  ~FileEventImpl() override {
    event_free(read_);
    event_free(write_);
  }

  void SetEnabled(bool read, bool write) override {
    Switch(read_, read, reading_);
    Switch(write_, write, writing_);
  }

 private:
  static void Switch(event* ev, bool on, bool& state) {
    if (on != state) {
      state = on;
      if (on) {
        event_add(ev, nullptr);
      } else {
        event_del(ev);
      }
    }
  }
  static void OnReadTrampoline(evutil_socket_t, short, void* arg) {
    static_cast<FileEventImpl*>(arg)->callback_(true, false);
  }
  static void OnWriteTrampoline(evutil_socket_t, short, void* arg) {
    static_cast<FileEventImpl*>(arg)->callback_(false, true);
  }

  FileReadyCallback callback_;
  event* const read_;
  event* const write_;
  bool reading_ = false;
  bool writing_ = false;
};

// Reads its signal from a signalfd: the signal stays pending in the kernel until the loop reads
// it, and no handler runs (an asynchronous handler is what ThreadSanitizer defers, and in about
// one run in a hundred under load never ran: the signal was lost). Each read takes one signal;
// the persistent event fires again while another is pending.
class SignalWatchImpl : public SignalWatch {
 public:
  SignalWatchImpl(event_base* base, int fd, std::function<void()> callback)
      : callback_(std::move(callback)),
        fd_(fd),
        event_(event_new(base, fd, EV_READ | EV_PERSIST, &SignalWatchImpl::OnReadable, this)) {
    event_add(event_, nullptr);
  }
  ~SignalWatchImpl() override {
    event_free(event_);
    ::close(fd_);
  }

 private:
  static void OnReadable(evutil_socket_t fd, short, void* arg) {
    signalfd_siginfo info;
    if (::read(fd, &info, sizeof(info)) == sizeof(info)) {
      static_cast<SignalWatchImpl*>(arg)->callback_();
    }
  }

  std::function<void()> callback_;
  const int fd_;
  event* const event_;
};

class ListenerImpl : public Listener {
 public:
  ListenerImpl(event_base* base, int fd, AcceptCallback callback) : callback_(std::move(callback)) {
    listener_ = evconnlistener_new(base, &ListenerImpl::OnAcceptTrampoline, this,
                                   LEV_OPT_CLOSE_ON_FREE, /*backlog=*/-1, fd);
    evconnlistener_set_error_cb(listener_, &ListenerImpl::OnErrorTrampoline);
  }
  ~ListenerImpl() override {
    if (resume_ != nullptr) {
      event_free(resume_);
    }
    evconnlistener_free(listener_);
  }

 private:
  static void OnAcceptTrampoline(evconnlistener*, evutil_socket_t fd, sockaddr* address, int length,
                                 void* arg) {
    static_cast<ListenerImpl*>(arg)->callback_(
        fd, Address::FromSockaddr(address, static_cast<socklen_t>(length)));
  }
  // Out of file descriptors (or kernel memory), the listening socket stays readable: accepting
  // pauses for a moment instead of spinning, and the pending connections wait in the backlog
  // until connections close.
  static void OnErrorTrampoline(evconnlistener*, void* arg) {
    static_cast<ListenerImpl*>(arg)->OnError(EVUTIL_SOCKET_ERROR());
  }

  void OnError(int error) {
    const absl::Time now = absl::Now();
    if (now - last_error_log_ >= absl::Seconds(1)) {
      last_error_log_ = now;
      log::Warning(absl::StrCat(
          "accept failed: ", evutil_socket_error_to_string(error),
          error == EMFILE || error == ENFILE
              ? "; the process is at its file descriptor limit (ulimit -n; limits.max_connections)"
              : ""));
    }
    if (error != EMFILE && error != ENFILE && error != ENOBUFS && error != ENOMEM) {
      return;
    }
    if (resume_ == nullptr) {
      resume_ =
          evtimer_new(evconnlistener_get_base(listener_), &ListenerImpl::OnResumeTrampoline, this);
    }
    evconnlistener_disable(listener_);
    const timeval pause = absl::ToTimeval(kAcceptPause);
    evtimer_add(resume_, &pause);
  }

  static void OnResumeTrampoline(evutil_socket_t, short, void* arg) {
    evconnlistener_enable(static_cast<ListenerImpl*>(arg)->listener_);
  }

  static constexpr absl::Duration kAcceptPause = absl::Milliseconds(100);
  AcceptCallback callback_;
  evconnlistener* listener_ = nullptr;
  event* resume_ = nullptr;
  absl::Time last_error_log_ = absl::InfinitePast();
};

// State of one lookup, shared between the DnsQuery handle and libevent's callback, so that either
// may go first.
struct PendingLookup {
  Dispatcher* dispatcher = nullptr;
  ResolveCallback callback;
  evdns_getaddrinfo_request* request = nullptr;
  bool cancelled = false;
};

class DnsQueryImpl : public DnsQuery {
 public:
  explicit DnsQueryImpl(std::shared_ptr<PendingLookup> pending) : pending_(std::move(pending)) {}
  ~DnsQueryImpl() override {
    pending_->cancelled = true;
    if (pending_->request != nullptr) {
      evdns_getaddrinfo_cancel(pending_->request);
    }
  }

 private:
  std::shared_ptr<PendingLookup> pending_;
};

// Answers a lookup on a later turn of the loop, always: evdns answers numeric hosts and
// /etc/hosts entries synchronously, and a callback that runs before Resolve() returns is a trap
// for the caller. Nothing is delivered to a lookup cancelled in the meantime.
void AnswerLater(const std::shared_ptr<PendingLookup>& pending,
                 absl::StatusOr<std::vector<Address>> addresses) {
  std::weak_ptr<PendingLookup> weak = pending;
  pending->dispatcher->Post([weak, addresses = std::move(addresses)]() mutable {
    std::shared_ptr<PendingLookup> alive = weak.lock();
    if (alive != nullptr && !alive->cancelled) {
      alive->callback(std::move(addresses));
    }
  });
}

void OnResolvedTrampoline(int result, evutil_addrinfo* info, void* arg) {
  std::unique_ptr<std::shared_ptr<PendingLookup>> holder(
      static_cast<std::shared_ptr<PendingLookup>*>(arg));
  std::shared_ptr<PendingLookup> pending = *holder;
  pending->request = nullptr;
  absl::StatusOr<std::vector<Address>> addresses;
  if (result != 0) {
    addresses = absl::UnavailableError(evutil_gai_strerror(result));
  } else {
    std::vector<Address> list;
    for (evutil_addrinfo* entry = info; entry != nullptr; entry = entry->ai_next) {
      list.push_back(
          Address::FromSockaddr(entry->ai_addr, static_cast<socklen_t>(entry->ai_addrlen)));
    }
    addresses = std::move(list);
  }
  if (info != nullptr) {
    evutil_freeaddrinfo(info);
  }
  if (!pending->cancelled) {
    AnswerLater(pending, std::move(addresses));
  }
}

// Runs `bev`'s read callback now. bufferevent_trigger() would defer it, as the bufferevent's
// options ask (BEV_OPT_DEFER_CALLBACKS, so that a callback never runs inside a libevent function
// that another callback called): scheduled as an event, run later in this turn of the loop
// through libevent's deferred-callback runner, some 300 instructions per read. ReadSocket() is
// an event's callback, called by the loop alone, so the read callback can run from it directly,
// as libevent's own read callback runs it for a bufferevent without that option. The reference
// held around it keeps the bufferevent (not its owner) while a callback that frees it returns.
// Bytes offered in place (below) that the callback left join the input when it returns.
void RunReadCallback(bufferevent* bev) {
  bufferevent_data_cb read_callback = nullptr;
  void* argument = nullptr;
  bufferevent_getcb(bev, &read_callback, nullptr, nullptr, &argument);
  bufferevent_incref(bev);
  if (read_callback != nullptr) {
    read_callback(bev, argument);
  }
  Dispatcher::KeepOffered(bufferevent_get_input(bev));
  bufferevent_decref(bev);
}

// The bytes of the read whose callback is running, when they were offered in place
// (Dispatcher::OfferedInput()) rather than appended to `input`: not yet taken, from `data` on.
// Per thread, as the read buffer.
struct OfferedRead {
  const evbuffer* input = nullptr;
  const char* data = nullptr;
  size_t length = 0;
};
thread_local OfferedRead offered_read;

// Appends to a bufferevent's input from outside its read: its end is frozen to all but the
// bufferevent, which thaws it around its reads.
void AppendToInput(evbuffer* input, const char* data, size_t length) {
  evbuffer_unfreeze(input, /*at_front=*/0);
  evbuffer_add(input, data, length);
  evbuffer_freeze(input, /*at_front=*/0);
}

// The read callback of a plain socket's bufferevent, in place of libevent's own
// (bufferevent_readcb, which it follows otherwise). libevent 2.1's evbuffer_read() asks the
// kernel how much is waiting (ioctl FIONREAD) before every read: one system call more per read,
// two per proxied request of the six it costs, and reads of at most 4 KiB. This reads with
// recv() alone, up to the bufferevent's single-read bound (16 KiB) and what its high watermark
// leaves, into this thread's buffer, and appends that to the input: the same chunk sizes as
// libevent's read, for one copy of the bytes read. Watermarks, suspension and the EOF and error
// events (deferred) are libevent's; the read callback runs at once (RunReadCallback()), and the
// soon events it scheduled run when it returns (SoonEventImpl).
// A bufferevent made with SocketReads::kOffered (a connection, whose parser reads its input)
// skips the copy when the input is empty: the read callback is offered the bytes where they were
// read, and parses them there; what it leaves is appended when it returns. The parse of a
// proxied request's head and of its response then neither allocate the input's chain nor copy
// into it and drain it (~700 instructions and 2 allocations per request, bench/README.md).
// The event stays level-triggered: with EV_ET a short read would have to stand for a drained
// socket, and libevent 2.1's epoll backend drops EPOLLRDHUP when EPOLLERR or EPOLLHUP come
// with it, so a reset behind the data would never be reported (bench/README.md, "Edge-triggered
// reads").
template <Dispatcher::SocketReads kReads>
void ReadSocket(evutil_socket_t fd, short what, void* arg) {
  auto* bev = static_cast<bufferevent*>(arg);
  if (what == EV_TIMEOUT) {  // only a read timeout (bufferevent_set_timeouts) wakes it so
    bufferevent_disable(bev, EV_READ);
    bufferevent_trigger_event(bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, 0);
    return;
  }
  thread_local char buffer[16384];
  size_t wanted = sizeof(buffer);
  const ev_ssize_t single_read = bufferevent_get_max_single_read(bev);
  if (single_read > 0 && static_cast<size_t>(single_read) < wanted) {
    wanted = static_cast<size_t>(single_read);
  }
  evbuffer* input = bufferevent_get_input(bev);
  size_t low = 0;
  size_t high = 0;
  bufferevent_getwatermark(bev, EV_READ, &low, &high);
  const size_t buffered = evbuffer_get_length(input);
  if (high != 0) {
    if (buffered >= high) {
      // The input is full. Setting the mark the libevent way suspends reading now, and its
      // input callback resumes it as the input drains (see Dispatcher::SetReadLimit()).
      bufferevent_setwatermark(bev, EV_READ, low, high);
      return;
    }
    wanted = std::min(wanted, high - buffered);
  }
  const ssize_t got = ::recv(fd, buffer, wanted, 0);
  if (got > 0) {
    if (kReads == Dispatcher::SocketReads::kOffered && buffered == 0) {
      offered_read = {input, buffer, static_cast<size_t>(got)};
    } else {
      AppendToInput(input, buffer, static_cast<size_t>(got));
    }
    after_read.reading = true;
    RunReadCallback(bev);
    after_read.reading = false;
    SoonEventImpl::RunDueAfterRead();
    return;
  }
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    return;
  }
  bufferevent_disable(bev, EV_READ);
  bufferevent_trigger_event(bev, BEV_EVENT_READING | (got == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR),
                            0);
}

}  // namespace

void BufferEventDeleter::operator()(bufferevent* bev) const { bufferevent_free(bev); }

Dispatcher::Dispatcher(std::string name) : name_(std::move(name)) {
  EnableLibeventThreads();
  event_config* config = event_config_new();
  if (config != nullptr) {
    event_config_set_flag(config, EVENT_BASE_FLAG_NOLOCK);
    // Not EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST: it defers epoll_ctl to the end of the turn, by
    // when a closed socket's number may belong to another socket (ThreadSanitizer reported it
    // in the tests; bench/README.md).
    base_ = event_base_new_with_config(config);
    event_config_free(config);
  }
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (base_ == nullptr || wake_fd_ < 0) {
    log::Error(absl::StrCat("cannot create an event loop: ", std::strerror(errno)));
    std::abort();
  }
  post_event_ =
      event_new(base_, wake_fd_, EV_READ | EV_PERSIST, &Dispatcher::OnPostedTrampoline, this);
  event_add(post_event_, nullptr);
  deferred_delete_event_ = event_new(base_, -1, 0, &Dispatcher::OnDeferredDeleteTrampoline, this);
}

Dispatcher::~Dispatcher() {
  RunDeferredDeletes();
  if (dns_base_ != nullptr) {
    evdns_base_free(dns_base_, /*fail_requests=*/0);
  }
  event_free(post_event_);
  event_free(deferred_delete_event_);
  event_base_free(base_);
  close(wake_fd_);
}

// One turn of libevent's loop per call (EVLOOP_ONCE: wait, run what became active and what that
// activated, return), so that LoopTime() is read again in each turn. A call waits at most once
// before any callback runs: after callbacks ran, it loops again only while some are active, and
// then does not wait. Exit() ends the turn it is called in as event_base_loopexit() would: the
// callbacks already active still run.
void Dispatcher::Run() {
  Dispatcher* const outer = running_here;
  running_here = this;
  exit_requested_ = false;
  while (!exit_requested_) {
    loop_time_valid_ = false;
    if (event_base_loop(base_, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY) != 0) {
      log::Error(absl::StrCat("dispatcher ", name_, ": libevent's loop failed"));
      break;
    }
  }
  loop_time_valid_ = false;
  running_here = outer;
}

MonotonicTime Dispatcher::ReadLoopTime() {
  loop_time_ = std::chrono::steady_clock::now();
  loop_time_valid_ = running_here == this;
  return loop_time_;
}

void Dispatcher::Exit() {
  if (running_here == this) {
    exit_requested_ = true;
  } else {
    Post([this] { exit_requested_ = true; });
  }
}

void Dispatcher::Post(std::function<void()> work) {
  bool wake = false;
  {
    absl::MutexLock lock(&post_mutex_);
    posted_.push_back(std::move(work));
    // A queue that had work has a wake-up pending already: RunPosted() reads the eventfd before
    // it takes the queue, so work added after the take finds the queue empty and wakes again.
    wake = posted_.size() == 1;
  }
  if (wake) {
    const uint64_t one = 1;
    while (write(wake_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
  }
}

void Dispatcher::DeferredDelete(std::unique_ptr<DeferredDeletable> object) {
  to_delete_.push_back(std::move(object));
  if (to_delete_.size() == 1) {
    event_active(deferred_delete_event_, EV_READ, 0);
  }
}

void Dispatcher::OnPostedTrampoline(evutil_socket_t, short, void* arg) {
  static_cast<Dispatcher*>(arg)->RunPosted();
}

void Dispatcher::OnDeferredDeleteTrampoline(evutil_socket_t, short, void* arg) {
  static_cast<Dispatcher*>(arg)->RunDeferredDeletes();
}

void Dispatcher::RunPosted() {
  uint64_t count = 0;
  while (read(wake_fd_, &count, sizeof(count)) < 0 && errno == EINTR) {
  }
  std::vector<std::function<void()>> work;
  {
    absl::MutexLock lock(&post_mutex_);
    work.swap(posted_);
  }
  for (auto& item : work) {
    item();
  }
}

void Dispatcher::RunDeferredDeletes() {
  // Destructors may defer more deletions; keep going until none are left. The emptied batch is
  // kept for the next one, so a turn of the loop allocates nothing here (a batch is local: a
  // destructor that ends up here again works on its own).
  while (!to_delete_.empty()) {
    std::vector<std::unique_ptr<DeferredDeletable>> batch =
        std::exchange(to_delete_, std::move(spare_batch_));
    batch.clear();
    spare_batch_ = std::move(batch);
  }
}

std::unique_ptr<Timer> Dispatcher::CreateTimer(std::function<void()> callback) {
  return std::make_unique<TimerImpl>(*this, base_, std::move(callback));
}

std::unique_ptr<SoonEvent> Dispatcher::CreateSoonEvent(std::function<void()> callback) {
  return std::make_unique<SoonEventImpl>(base_, std::move(callback));
}

std::unique_ptr<FileEvent> Dispatcher::CreateFileEvent(int fd, FileReadyCallback callback) {
  return std::make_unique<FileEventImpl>(base_, fd, std::move(callback));
}

absl::StatusOr<std::unique_ptr<SignalWatch>> Dispatcher::WatchSignal(
    int signal_number, std::function<void()> callback) {
  sigset_t set;
  sigemptyset(&set);
  if (sigaddset(&set, signal_number) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("no signal number ", signal_number));
  }
  sigset_t blocked;
  if (pthread_sigmask(SIG_BLOCK, nullptr, &blocked) != 0 ||
      sigismember(&blocked, signal_number) != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "signal ", signal_number,
        " is not blocked in this thread: block it in every thread before watching it"));
  }
  const int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) {
    return absl::Status(
        absl::ErrnoToStatusCode(errno),
        absl::StrCat("signalfd for signal ", signal_number, ": ", std::strerror(errno)));
  }
  return std::make_unique<SignalWatchImpl>(base_, fd, std::move(callback));
}

std::unique_ptr<Listener> Dispatcher::CreateListener(int listen_fd, AcceptCallback callback) {
  return std::make_unique<ListenerImpl>(base_, listen_fd, std::move(callback));
}

BufferEventPtr Dispatcher::CreateSocketBufferEvent(int fd, SocketReads reads) {
  BufferEventPtr bev(
      bufferevent_socket_new(base_, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS));
  if (bev != nullptr && fd >= 0) {
    ReadSocketDirectly(bev.get(), reads);
  }
  return bev;
}

absl::string_view Dispatcher::OfferedInput(const evbuffer* input) {
  if (offered_read.input != input) {
    return {};
  }
  return absl::string_view(offered_read.data, offered_read.length);
}

void Dispatcher::TakeOffered(size_t bytes) {
  offered_read.data += bytes;
  offered_read.length -= bytes;
}

void Dispatcher::KeepOffered(evbuffer* input) {
  if (offered_read.input != input) {
    return;
  }
  if (offered_read.length > 0) {
    AppendToInput(input, offered_read.data, offered_read.length);
  }
  offered_read = {};
}

namespace {

// Gives `ev`, the read or write (`what`) event of `bev` (struct bufferevent's own,
// event2/bufferevent_struct.h), `callback`, with the flags, socket and argument libevent gives
// it, so that enabling, disabling, suspending and freeing the bufferevent work on it as before;
// an event that was added is added again.
void TakeOverEvent(bufferevent* bev, event* ev, short what, event_callback_fn callback) {
  const bool added = event_pending(ev, what, nullptr) != 0;
  event_del(ev);
  event_assign(ev, event_get_base(ev), bufferevent_getfd(bev), what | EV_PERSIST | EV_FINALIZE,
               callback, bev);
  if (added) {
    event_add(ev, nullptr);
  }
}

}  // namespace

void Dispatcher::ReadSocketDirectly(bufferevent* bev, SocketReads reads) {
  TakeOverEvent(bev, &bev->ev_read, EV_READ,
                reads == SocketReads::kOffered ? &ReadSocket<SocketReads::kOffered>
                                               : &ReadSocket<SocketReads::kIntoInput>);
  if (bev->wm_read.high != 0) {
    SetReadLimit(bev, bev->wm_read.high);  // set before: kept the cheaper way from now on
  }
}

// bufferevent_setwatermark() with a read high mark adds a callback to the input
// (bufferevent_inbuf_wm_cb) that runs at every add to it and every drain of it, and re-enables
// the read event each time (bufferevent_unsuspend_read_, then event_add of an event already
// added): four times per proxied request (a read and a parse on each side), some 800 of its
// instructions with the callback machinery. ReadSocket() bounds its reads by the mark itself.
// So a bufferevent it reads keeps the mark in its fields only (struct bufferevent's wm_read,
// event2/bufferevent_struct.h, which bufferevent_getwatermark() reports), and libevent's
// callback only from the first time the input fills (ReadSocket() sets the mark the libevent
// way then), which suspends reading as before.
void Dispatcher::SetReadLimit(bufferevent* bev, size_t bytes) {
  const event_callback_fn reader = event_get_callback(&bev->ev_read);
  if (reader != &ReadSocket<SocketReads::kIntoInput> &&
      reader != &ReadSocket<SocketReads::kOffered>) {
    bufferevent_setwatermark(bev, EV_READ, 0, bytes);  // libevent reads it: libevent's mark
    return;
  }
  bufferevent_setwatermark(bev, EV_READ, 0, 0);  // no input callback, reading not suspended
  bev->wm_read.high = bytes;
}

namespace {

// libevent's output callback of a plain socket bufferevent (bufferevent_socket_outbuf_cb, static
// in libevent, the same for every one), found the first time one is dropped.
std::atomic<evbuffer_cb_func> socket_output_callback{nullptr};

// How libevent 2.1 lays out an evbuffer callback (evbuffer-internal.h, not installed): a list link
// (next, then the previous one's next field), the function, its argument, the flags.
struct CallbackEntryLayout {
  CallbackEntryLayout* next;
  CallbackEntryLayout** previous_next;
  evbuffer_cb_func function;
  void* argument;
  uint32_t flags;
};

void MarkerCallback(evbuffer*, const evbuffer_cb_info*, void*) {}

// The function of the only callback `output` holds, which is to have `argument`: read from the
// callback list behind one added for the purpose (evbuffer_add_cb() puts the newest first), once
// that one is seen where CallbackEntryLayout puts its fields. nullptr if anything differs.
evbuffer_cb_func FindOnlyCallback(evbuffer* output, void* argument) {
  static char marker;
  evbuffer_cb_entry* added = evbuffer_add_cb(output, &MarkerCallback, &marker);
  if (added == nullptr) {
    return nullptr;
  }
  auto* entry = reinterpret_cast<CallbackEntryLayout*>(added);
  const CallbackEntryLayout* only = entry->next;
  evbuffer_cb_func found = nullptr;
  if (entry->function == &MarkerCallback && entry->argument == &marker &&
      entry->flags == EVBUFFER_CB_ENABLED && only != nullptr &&
      only->previous_next == &entry->next && only->next == nullptr && only->argument == argument &&
      only->flags == EVBUFFER_CB_ENABLED) {
    found = only->function;
  }
  evbuffer_remove_cb_entry(output, added);
  return found;
}

}  // namespace

// A socket bufferevent's output callback adds the write event when output is queued while
// writing is enabled. A bufferevent written by its owner (DirectWriter) keeps writing disabled
// but for a socket that was full, so the callback finds nothing to do, and costs its call
// (evbuffer_invoke_callbacks_ and the callback) at every add to the output and every drain of
// it: some 500 instructions per proxied request. Dropped, an output without callbacks returns
// from that at once. The callback is libevent's own function, static in libevent: found the
// first time behind a callback added for the purpose (the list's layout is libevent's private
// one, checked field by field; with any other, the callback stays), then removed by its name
// for each bufferevent, as libevent's public API allows.
bool Dispatcher::DropOutputCallback(bufferevent* bev) {
  if (bufferevent_openssl_get_ssl(bev) != nullptr) {
    return false;  // a TLS bufferevent's output callback is another, and needed
  }
  evbuffer* output = bufferevent_get_output(bev);
  evbuffer_cb_func callback = socket_output_callback.load(std::memory_order_relaxed);
  if (callback == nullptr) {
    callback = FindOnlyCallback(output, bev);
    if (callback == nullptr) {
      return false;
    }
    socket_output_callback.store(callback, std::memory_order_relaxed);
  }
  return evbuffer_remove_cb(output, callback, bev) == 0;
}

BufferEventPtr Dispatcher::CreateTlsBufferEvent(int fd, ssl_st* ssl, bool server) {
  return BufferEventPtr(bufferevent_openssl_socket_new(
      base_, fd, ssl, server ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING,
      BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS));
}

namespace {

// libevent's own write callback of an open TLS bufferevent (be_openssl_writeeventcb, static in
// libevent, the same for every TLS bufferevent), taken from the first one taken over.
std::atomic<event_callback_fn> tls_write_callback{nullptr};

// The write event's callback once WriteTlsOutputSoon() has taken it over: libevent's, then, if
// the socket took less than the output held, the event is added so that epoll reports when it
// takes more (libevent's callback counts on the event being added already; see below).
void WriteTls(evutil_socket_t fd, short what, void* arg) {
  auto* bev = static_cast<bufferevent*>(arg);
  tls_write_callback.load(std::memory_order_relaxed)(fd, what, arg);
  if (evbuffer_get_length(bev->output) > 0 && (bufferevent_get_enabled(bev) & EV_WRITE) != 0 &&
      event_pending(&bev->ev_write, EV_WRITE | EV_TIMEOUT, nullptr) == 0) {
    event_add(&bev->ev_write, nullptr);
  }
}

// Runs before libevent's own output callback (evbuffer_add_cb puts the newest first): output
// arriving in an empty buffer makes the write event active (it runs this turn), so libevent's
// callback, which would add the event to epoll, finds it active and leaves epoll alone.
void OnTlsOutput(evbuffer*, const evbuffer_cb_info* info, void* arg) {
  auto* bev = static_cast<bufferevent*>(arg);
  if (info->n_added > 0 && info->orig_size == 0 &&
      event_pending(&bev->ev_write, EV_WRITE | EV_TIMEOUT, nullptr) == 0) {
    event_active(&bev->ev_write, EV_WRITE, 1);
  }
}

// See WriteTlsOutputSoon().
void TakeOverTlsWrites(bufferevent* bev) {
  SSL* ssl = bufferevent_openssl_get_ssl(bev);
  if (ssl == nullptr || SSL_is_init_finished(ssl) == 0) {
    return;  // the handshake's callbacks are the event's until it completes: left as they are
  }
  event* write = &bev->ev_write;
  event_callback_fn own = event_get_callback(write);
  event_callback_fn seen = nullptr;
  if (event_get_callback_arg(write) != bev ||
      (!tls_write_callback.compare_exchange_strong(seen, own) && seen != own)) {
    return;  // not the callback this expects: libevent's stays in charge
  }
  TakeOverEvent(bev, write, EV_WRITE, &WriteTls);
  evbuffer_add_cb(bufferevent_get_output(bev), &OnTlsOutput, bev);
}

}  // namespace

// libevent's TLS bufferevent (socket-based, 2.1) writes only from its write event: queued output
// adds the event (epoll_ctl), the loop waits a turn for epoll to report the socket writable,
// SSL_write runs, and the emptied output removes the event (epoll_ctl again): two system calls,
// one more epoll_wait and a turn's delay per write, where the plain-socket path (DirectWriter)
// writes at once. So, the first time output is queued on a connection, the write event is taken
// over (WriteTls) and an output callback is put before libevent's (OnTlsOutput): output queued
// on an empty buffer makes the write event active instead of added, its callback writes in this
// turn (behind the callbacks already running), and the event is never in epoll unless the
// socket is full. The event is struct bufferevent's own (event2/bufferevent_struct.h), which
// ties the binary to the libevent it was built against, as ReadSocketDirectly() does.
void Dispatcher::WriteTlsOutputSoon(bufferevent* bev) {
  event* write = &bev->ev_write;
  if (event_get_callback(write) != &WriteTls) {
    TakeOverTlsWrites(bev);
  }
  if (evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
    event_active(write, EV_WRITE, 1);
  }
}

evdns_base* Dispatcher::DnsBase() {
  if (dns_base_ == nullptr) {
    // Reads /etc/resolv.conf and /etc/hosts once per dispatcher; the lookups themselves never
    // block the loop.
    dns_base_ = evdns_base_new(base_, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (dns_base_ == nullptr) {
      dns_base_ = evdns_base_new(base_, 0);
      evdns_base_load_hosts(dns_base_, nullptr);
    }
  }
  return dns_base_;
}

std::unique_ptr<DnsQuery> Dispatcher::Resolve(const std::string& host, uint16_t port,
                                              ResolveCallback callback) {
  auto pending = std::make_shared<PendingLookup>();
  pending->dispatcher = this;
  pending->callback = std::move(callback);
  // An IP address needs no lookup (and no resolver, whose sockets would stay open).
  if (absl::StatusOr<Address> numeric = Address::FromIp(host, port); numeric.ok()) {
    AnswerLater(pending, std::vector<Address>{*numeric});
    return std::make_unique<DnsQueryImpl>(std::move(pending));
  }
  evutil_addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  const std::string service = absl::StrCat(port);
  auto* holder = new std::shared_ptr<PendingLookup>(pending);
  pending->request = evdns_getaddrinfo(DnsBase(), host.c_str(), service.c_str(), &hints,
                                       &OnResolvedTrampoline, holder);
  return std::make_unique<DnsQueryImpl>(std::move(pending));
}

}  // namespace gateway

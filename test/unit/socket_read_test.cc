// Dispatcher::ReadSocketDirectly: a plain socket bufferevent reads its socket with the
// dispatcher's own callback (recv, no ioctl FIONREAD first), and keeps libevent's watermarks,
// read callback and EOF and error events.

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "source/dispatcher.h"
#include "test/support/test_server.h"

namespace gateway {
namespace {

using testing::LoopRunner;
using testing::Pattern;

void WriteAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::write(fd, data.data() + sent, data.size() - sent);
    ASSERT_GT(n, 0);
    sent += static_cast<size_t>(n);
  }
}

// Runs one turn of the loop: what is ready is read, then the turn ends.
void RunOneTurn(Dispatcher& dispatcher, LoopRunner& runner) {
  dispatcher.Post([&runner] { runner.Done(); });
  ASSERT_TRUE(runner.Run());
}

// A bufferevent whose read callback records the input's length at each call and takes what a
// test asks it to take; its event callback records the events.
class SocketReadTest : public ::testing::Test {
 protected:
  SocketReadTest() : dispatcher_("test"), runner_(dispatcher_) {}
  ~SocketReadTest() override {
    bev_.reset();
    if (peer_ >= 0) {
      ::close(peer_);
    }
  }

  // A connected AF_UNIX pair: the gateway's end in a bufferevent, the other end is `peer_`.
  void StartOnSocketPair() {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    evutil_make_socket_nonblocking(fds[0]);
    const int large = 1 << 20;  // the peer's writes below must not block
    ::setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &large, sizeof(large));
    ::setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &large, sizeof(large));
    bev_ = dispatcher_.CreateSocketBufferEvent(fds[0]);
    peer_ = fds[1];
    SetCallbacks();
  }

  void SetCallbacks() {
    bufferevent_setcb(bev_.get(), &SocketReadTest::OnRead, nullptr, &SocketReadTest::OnEvent, this);
  }

  static void OnRead(bufferevent* bev, void* arg) {
    auto* test = static_cast<SocketReadTest*>(arg);
    evbuffer* input = bufferevent_get_input(bev);
    const size_t length = evbuffer_get_length(input);
    test->lengths_.push_back(length);
    if (test->take_) {
      std::string chunk(length, '\0');
      evbuffer_remove(input, chunk.data(), length);
      test->received_ += chunk;
    }
    if (test->received_.size() >= test->wanted_ || test->stop_after_first_read_) {
      test->runner_.Done();
    }
  }
  static void OnEvent(bufferevent*, short events, void* arg) {
    auto* test = static_cast<SocketReadTest*>(arg);
    test->events_ |= events;
    test->runner_.Done();
  }

  // With the input bounded at `mark` and `data` (longer) on its way, reading enabled: the input
  // fills up to the mark and stays there, whatever turns of the loop pass; draining it resumes
  // reading, a mark's worth at a time at most, until all of `data` arrived.
  void ExpectBoundedByTheMark(const std::string& data, size_t mark) {
    take_ = false;
    stop_after_first_read_ = true;
    ASSERT_TRUE(runner_.Run());
    evbuffer* input = bufferevent_get_input(bev_.get());
    EXPECT_EQ(evbuffer_get_length(input), mark);
    // Reading is suspended: more turns of the loop read nothing more. (libevent 2.1.12 runs the
    // read callback again at each turn while the input stays at the mark, whoever reads.)
    for (int turn = 0; turn < 3; ++turn) {
      RunOneTurn(dispatcher_, runner_);
    }
    EXPECT_EQ(evbuffer_get_length(input), mark);
    for (size_t length : lengths_) {
      EXPECT_EQ(length, mark);
    }
    lengths_.clear();

    received_.resize(mark);
    evbuffer_remove(input, received_.data(), mark);
    take_ = true;
    stop_after_first_read_ = false;
    wanted_ = data.size();
    ASSERT_TRUE(runner_.Run());
    EXPECT_EQ(received_, data);
    for (size_t length : lengths_) {
      EXPECT_LE(length, mark);
    }
  }

  Dispatcher dispatcher_;
  LoopRunner runner_;
  BufferEventPtr bev_;
  int peer_ = -1;
  std::vector<size_t> lengths_;
  std::string received_;
  size_t wanted_ = 0;
  bool take_ = true;
  bool stop_after_first_read_ = false;
  short events_ = 0;
};

TEST_F(SocketReadTest, ReadsUpTo16KiBAtOnceWhereLibeventsReadTakes4KiB) {
  StartOnSocketPair();
  const std::string data = Pattern(40000);
  WriteAll(peer_, data);
  wanted_ = data.size();
  bufferevent_enable(bev_.get(), EV_READ);
  ASSERT_TRUE(runner_.Run());
  EXPECT_EQ(received_, data);
  ASSERT_FALSE(lengths_.empty());
  // libevent's evbuffer_read() reads at most 4,096 bytes a call (EVBUFFER_MAX_READ in 2.1).
  EXPECT_EQ(lengths_.front(), 16384u);
  EXPECT_EQ(events_, 0);
}

// Nothing is left in the socket without a later report: reading that was off finds what came
// meanwhile, and data with the end behind it in one report are both delivered. (Guards for an
// edge-triggered read event, which ReadSocket's comment in dispatcher.cc explains is not used.)
TEST_F(SocketReadTest, ReadingTurnedOffAndOnFindsWhatArrivedMeanwhile) {
  StartOnSocketPair();
  bufferevent_enable(bev_.get(), EV_READ);
  WriteAll(peer_, "first");
  wanted_ = 5;
  ASSERT_TRUE(runner_.Run());
  bufferevent_disable(bev_.get(), EV_READ);
  WriteAll(peer_, "second");
  RunOneTurn(dispatcher_, runner_);
  EXPECT_EQ(received_, "first");  // not read while reading is off
  bufferevent_enable(bev_.get(), EV_READ);
  wanted_ = 11;
  ASSERT_TRUE(runner_.Run());
  EXPECT_EQ(received_, "firstsecond");
}

TEST_F(SocketReadTest, DataAndTheEndArrivingInOneReportAreBothDelivered) {
  StartOnSocketPair();
  bufferevent_enable(bev_.get(), EV_READ);
  RunOneTurn(dispatcher_, runner_);  // the event is in epoll before anything arrives
  // Both arrive before the loop waits again: one report, and a short read takes the data.
  WriteAll(peer_, "last words");
  ::shutdown(peer_, SHUT_WR);
  wanted_ = 1000;  // more than comes: the run ends at the event
  ASSERT_TRUE(runner_.Run());
  EXPECT_EQ(received_, "last words");
  EXPECT_EQ(events_, BEV_EVENT_READING | BEV_EVENT_EOF);
}

// The mark set the libevent way (bufferevent_setwatermark), or kept by the dispatcher's read
// (Dispatcher::SetReadLimit, which the connections use): the same bound, the same resumption.
class SocketReadMarkTest : public SocketReadTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetMark(size_t bytes) {
    if (GetParam()) {
      Dispatcher::SetReadLimit(bev_.get(), bytes);
    } else {
      bufferevent_setwatermark(bev_.get(), EV_READ, 0, bytes);
    }
  }
};
INSTANTIATE_TEST_SUITE_P(Marks, SocketReadMarkTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "SetReadLimit" : "Libevent";
                         });

TEST_P(SocketReadMarkTest, StopsAtTheHighWatermarkAndResumesOnceTheInputDrains) {
  StartOnSocketPair();
  SetMark(1000);
  size_t low = 1;
  size_t high = 0;
  bufferevent_getwatermark(bev_.get(), EV_READ, &low, &high);
  EXPECT_EQ(low, 0u);
  EXPECT_EQ(high, 1000u);
  const std::string data = Pattern(5000);
  WriteAll(peer_, data);
  bufferevent_enable(bev_.get(), EV_READ);
  ExpectBoundedByTheMark(data, 1000);
}

TEST_F(SocketReadTest, ThePeerClosingIsAnEndOfFileEvent) {
  StartOnSocketPair();
  WriteAll(peer_, "last words");
  ::close(peer_);
  peer_ = -1;
  wanted_ = 1000;  // more than comes: the run ends at the event
  bufferevent_enable(bev_.get(), EV_READ);
  ASSERT_TRUE(runner_.Run());
  EXPECT_EQ(received_, "last words");
  EXPECT_EQ(events_, BEV_EVENT_READING | BEV_EVENT_EOF);
  EXPECT_EQ(bufferevent_get_enabled(bev_.get()) & EV_READ, 0);
}

// Over TCP, so that a reset reaches the reader as an error (ECONNRESET).
class SocketReadTcpTest : public SocketReadTest {
 protected:
  void SetUp() override {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(listener_, 0);
    address_.sin_family = AF_INET;
    address_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address_.sin_port = 0;
    ASSERT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&address_), sizeof(address_)), 0);
    socklen_t length = sizeof(address_);
    ASSERT_EQ(::getsockname(listener_, reinterpret_cast<sockaddr*>(&address_), &length), 0);
    ASSERT_EQ(::listen(listener_, 4), 0);
  }
  void TearDown() override { ::close(listener_); }

  // Connects as the gateway's upstream side does: a bufferevent without a socket, then
  // bufferevent_socket_connect(), then ReadSocketDirectly().
  // `limit`, if not 0, bounds the input from before the connect, as the upstream side sets it.
  void Connect(size_t limit = 0) {
    bev_ = dispatcher_.CreateSocketBufferEvent(-1);
    SetCallbacks();
    if (limit != 0) {
      Dispatcher::SetReadLimit(bev_.get(), limit);
    }
    ASSERT_EQ(bufferevent_socket_connect(bev_.get(), reinterpret_cast<sockaddr*>(&address_),
                                         sizeof(address_)),
              0);
    Dispatcher::ReadSocketDirectly(bev_.get());
    peer_ = ::accept(listener_, nullptr, nullptr);
    ASSERT_GE(peer_, 0);
    ASSERT_TRUE(runner_.Run());  // the connected event
    EXPECT_EQ(events_, BEV_EVENT_CONNECTED);
    events_ = 0;
    bufferevent_enable(bev_.get(), EV_READ);
  }

  int listener_ = -1;
  sockaddr_in address_{};
};

TEST_F(SocketReadTcpTest, AConnectedClientSocketReadsDirectlyToo) {
  Connect();
  const int large = 1 << 20;
  ::setsockopt(peer_, SOL_SOCKET, SO_SNDBUF, &large, sizeof(large));
  const std::string data = Pattern(20000);
  WriteAll(peer_, data);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // all of it at the socket
  wanted_ = data.size();
  ASSERT_TRUE(runner_.Run());
  EXPECT_EQ(received_, data);
  ASSERT_FALSE(lengths_.empty());
  EXPECT_EQ(lengths_.front(), 16384u);
}

TEST_F(SocketReadTcpTest, ALimitSetBeforeTheConnectBoundsTheInputAfterIt) {
  Connect(/*limit=*/1000);
  size_t high = 0;
  bufferevent_getwatermark(bev_.get(), EV_READ, nullptr, &high);
  EXPECT_EQ(high, 1000u);
  const std::string data = Pattern(5000);
  WriteAll(peer_, data);
  ExpectBoundedByTheMark(data, 1000);
}

TEST_F(SocketReadTcpTest, DataAndAResetArrivingInOneReportAreBothDelivered) {
  Connect();
  RunOneTurn(dispatcher_, runner_);  // the event is in epoll before anything arrives
  WriteAll(peer_, "last words");
  // The data is at the reading socket before the reset is sent.
  const int reading = bufferevent_getfd(bev_.get());
  char peek[16];
  for (int i = 0; i < 1000 && ::recv(reading, peek, sizeof(peek), MSG_PEEK | MSG_DONTWAIT) < 10;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(::recv(reading, peek, sizeof(peek), MSG_PEEK | MSG_DONTWAIT), 10);
  const linger abort{1, 0};  // close() sends RST
  ::setsockopt(peer_, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
  ::close(peer_);
  peer_ = -1;
  wanted_ = 1000;  // more than comes: the run ends at the event
  ASSERT_TRUE(runner_.Run());
  EXPECT_EQ(received_, "last words");
  EXPECT_EQ(events_, BEV_EVENT_READING | BEV_EVENT_ERROR);
}

TEST_F(SocketReadTcpTest, AResetIsAnErrorEvent) {
  Connect();
  const linger abort{1, 0};  // close() sends RST
  ::setsockopt(peer_, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
  ::close(peer_);
  peer_ = -1;
  wanted_ = 1;
  ASSERT_TRUE(runner_.Run());
  EXPECT_EQ(events_, BEV_EVENT_READING | BEV_EVENT_ERROR);
  EXPECT_EQ(bufferevent_get_enabled(bev_.get()) & EV_READ, 0);
}

// SocketReads::kOffered: a read that finds the input empty offers its bytes to the read callback
// where they were read (Dispatcher::OfferedInput()); the callback takes some from the front
// (TakeOffered()) and the rest joins the input when it returns. A read that finds bytes in the
// input appends to them, so the order holds.
class OfferedReadTest : public ::testing::Test {
 protected:
  OfferedReadTest() : dispatcher_("test"), runner_(dispatcher_) {}
  ~OfferedReadTest() override {
    bev_.reset();
    other_.reset();
    ::close(peer_);
  }

  void Start(Dispatcher::SocketReads reads) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    evutil_make_socket_nonblocking(fds[0]);
    bev_ = dispatcher_.CreateSocketBufferEvent(fds[0], reads);
    peer_ = fds[1];
    other_ = dispatcher_.CreateSocketBufferEvent(-1);
    bufferevent_setcb(bev_.get(), &OfferedReadTest::OnRead, nullptr, nullptr, this);
    bufferevent_enable(bev_.get(), EV_READ);
  }

  // Records what is offered and what the input holds, takes `take_` of the offered bytes.
  static void OnRead(bufferevent* bev, void* arg) {
    auto* test = static_cast<OfferedReadTest*>(arg);
    evbuffer* input = bufferevent_get_input(bev);
    test->offered_.emplace_back(Dispatcher::OfferedInput(input));
    test->other_offered_ +=
        std::string(Dispatcher::OfferedInput(bufferevent_get_input(test->other_.get())));
    test->held_.push_back(Contents(input));
    Dispatcher::TakeOffered(std::min(test->take_, test->offered_.back().size()));
    test->runner_.Done();
  }

  // Takes 2 of the offered bytes, keeps the rest, and records what it sees after that.
  static void OnReadKeeping(bufferevent* bev, void* arg) {
    auto* test = static_cast<OfferedReadTest*>(arg);
    evbuffer* input = bufferevent_get_input(bev);
    Dispatcher::TakeOffered(2);
    Dispatcher::KeepOffered(input);
    test->offered_.emplace_back(Dispatcher::OfferedInput(input));
    test->held_.push_back(Contents(input));
    test->runner_.Done();
  }

  static std::string Contents(evbuffer* input) {
    std::string contents(evbuffer_get_length(input), '\0');
    evbuffer_copyout(input, contents.data(), contents.size());
    return contents;
  }

  // Sends `data` and runs the loop until the read callback ran for it.
  void Deliver(const std::string& data) {
    WriteAll(peer_, data);
    ASSERT_TRUE(runner_.Run());
  }

  Dispatcher dispatcher_;
  LoopRunner runner_;
  BufferEventPtr bev_;
  BufferEventPtr other_;  // another input, never offered this one's bytes
  int peer_ = -1;
  size_t take_ = 0;
  std::vector<std::string> offered_;
  std::vector<std::string> held_;
  std::string other_offered_;
};

TEST_F(OfferedReadTest, WhatTheCallbackLeavesJoinsTheInputAndLaterReadsFollowIt) {
  Start(Dispatcher::SocketReads::kOffered);
  take_ = 6;
  Deliver("hello world");
  ASSERT_EQ(offered_.size(), 1u);
  EXPECT_EQ(offered_[0], "hello world");
  EXPECT_EQ(held_[0], "");  // not copied into the input
  evbuffer* input = bufferevent_get_input(bev_.get());
  EXPECT_EQ(Contents(input), "world");             // the untaken rest, after the callback returned
  EXPECT_EQ(Dispatcher::OfferedInput(input), "");  // nothing offered outside the callback

  Deliver("!");  // the input holds bytes: appended behind them, not offered
  ASSERT_EQ(offered_.size(), 2u);
  EXPECT_EQ(offered_[1], "");
  EXPECT_EQ(held_[1], "world!");

  evbuffer_drain(input, evbuffer_get_length(input));
  take_ = 100;
  Deliver("all of it");  // the input empty again: offered, and all taken
  EXPECT_EQ(offered_[2], "all of it");
  EXPECT_EQ(Contents(input), "");
  EXPECT_EQ(other_offered_, "");
}

TEST_F(OfferedReadTest, ABufferEventMadeToReadIntoItsInputIsOfferedNothing) {
  Start(Dispatcher::SocketReads::kIntoInput);
  take_ = 100;
  Deliver("hello");
  ASSERT_EQ(offered_.size(), 1u);
  EXPECT_EQ(offered_[0], "");
  EXPECT_EQ(held_[0], "hello");
}

// KeepOffered() inside the callback puts the rest in the input at once (a parser that paused):
// the callback then sees it there, and the return appends nothing twice.
TEST_F(OfferedReadTest, KeptBytesAreInTheInputBeforeTheCallbackReturns) {
  Start(Dispatcher::SocketReads::kOffered);
  bufferevent_setcb(bev_.get(), &OfferedReadTest::OnReadKeeping, nullptr, nullptr, this);
  Deliver("abcdef");
  ASSERT_EQ(held_.size(), 1u);
  EXPECT_EQ(held_[0], "cdef");
  EXPECT_EQ(offered_[0], "");
  EXPECT_EQ(Contents(bufferevent_get_input(bev_.get())), "cdef");
}

}  // namespace
}  // namespace gateway

// DirectWriter: output written by the writer itself while the socket takes it, by libevent while
// it is full, and back; failures reported through the bufferevent as before.

#include "source/common/http/direct_writer.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "source/dispatcher.h"
#include "test/support/test_server.h"

namespace gateway::http {
namespace {

using testing::LoopRunner;
using testing::Pattern;

// Reads `size` bytes from `fd` (blocking), slowly at first so that the writer meets a full socket.
// `progress`, when given, counts the bytes read so far.
std::string ReadAll(int fd, size_t size, std::atomic<size_t>* progress = nullptr) {
  std::string got;
  char chunk[16384];
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  while (got.size() < size) {
    const ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n <= 0) {
      break;
    }
    got.append(chunk, static_cast<size_t>(n));
    if (progress != nullptr) {
      progress->store(got.size());
    }
  }
  return got;
}

class DirectWriterTest : public ::testing::Test {
 protected:
  DirectWriterTest() : dispatcher_("test") {
    ::signal(SIGPIPE, SIG_IGN);  // as the gateway does: a closed peer is an error, not a signal
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    evutil_make_socket_nonblocking(fds[0]);
    const int small = 4096;  // a send buffer that a few writes fill
    ::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    bev_ = dispatcher_.CreateSocketBufferEvent(fds[0]);
    peer_ = fds[1];
    bufferevent_setcb(bev_.get(), nullptr, &DirectWriterTest::OnLibeventWrite,
                      &DirectWriterTest::OnEvent, this);
    bufferevent_enable(bev_.get(), EV_READ);
    writer_ = std::make_unique<DirectWriter>(dispatcher_, bev_.get(), [this] { OnWritten(); });
  }
  ~DirectWriterTest() override {
    writer_.reset();
    bev_.reset();
    if (peer_ >= 0) {
      ::close(peer_);
    }
  }

  static void OnLibeventWrite(bufferevent*, void* arg) {
    auto* test = static_cast<DirectWriterTest*>(arg);
    ++test->libevent_writes_;
    test->writer_->OnLibeventWrite();
    test->OnWritten();
  }
  static void OnEvent(bufferevent*, short events, void* arg) {
    auto* test = static_cast<DirectWriterTest*>(arg);
    test->events_ |= events;
    test->runner_.Done();
  }
  void OnWritten() {
    if (evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) {
      ++emptied_;
      if (done_when_empty_) {
        runner_.Done();
      }
    }
  }
  void Queue(const std::string& data) {
    evbuffer_add(bufferevent_get_output(bev_.get()), data.data(), data.size());
    writer_->Schedule();
  }
  bool WriteEventOn() { return (bufferevent_get_enabled(bev_.get()) & EV_WRITE) != 0; }

  Dispatcher dispatcher_;
  LoopRunner runner_{dispatcher_};
  BufferEventPtr bev_;
  int peer_ = -1;
  std::unique_ptr<DirectWriter> writer_;
  int libevent_writes_ = 0;
  int emptied_ = 0;
  short events_ = 0;
  bool done_when_empty_ = true;
};

TEST_F(DirectWriterTest, WritesWhatTheSocketTakesItselfWithoutTheWriteEvent) {
  EXPECT_FALSE(WriteEventOn());  // a new bufferevent has it on; the writer turns it off
  Queue("HTTP/1.1 200 OK\r\n");
  Queue("Content-Length: 2\r\n\r\nok");
  ASSERT_TRUE(runner_.Run());
  EXPECT_EQ(libevent_writes_, 0);
  EXPECT_EQ(emptied_, 1);  // both pieces in one write, this turn of the loop
  EXPECT_FALSE(WriteEventOn());
  char got[64] = {0};
  EXPECT_EQ(::read(peer_, got, sizeof(got)),
            static_cast<ssize_t>(sizeof("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") - 1));
}

TEST_F(DirectWriterTest, AFullSocketIsLeftToLibeventAndDirectWritesResumeAfter) {
  const std::string big = Pattern(4 << 20);
  std::string received;
  std::atomic<size_t> read_so_far{0};
  std::thread reader([&] { received = ReadAll(peer_, big.size() + 5, &read_so_far); });
  Queue(big);
  ASSERT_TRUE(runner_.Run());  // done once the output is empty
  EXPECT_GT(libevent_writes_, 0);
  EXPECT_FALSE(WriteEventOn());  // handed back once libevent emptied the output
  const int libevent_writes = libevent_writes_;
  // An empty output buffer is not yet a socket with room: the last of it may still fill the
  // socket's buffer. Once the reader has it all, the socket takes a small write.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (read_so_far.load() < big.size() && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(read_so_far.load(), big.size());  // (an ASSERT would leave the reader unjoined)
  Queue("after");
  ASSERT_TRUE(runner_.Run());
  reader.join();
  EXPECT_EQ(libevent_writes_, libevent_writes);  // the small one went directly
  ASSERT_EQ(received.size(), big.size() + 5);
  EXPECT_TRUE(received == big + "after");  // in order, nothing lost or doubled
}

TEST_F(DirectWriterTest, QueuedOutputNeverAddsTheWriteEventItself) {
  // libevent's output callback is gone: with writing enabled and the event not added, queued
  // output leaves the event as it is (libevent's callback would add it).
  bufferevent_enable(bev_.get(), EV_WRITE);
  event_del(&bev_->ev_write);
  evbuffer_add(bufferevent_get_output(bev_.get()), "x", 1);
  EXPECT_EQ(event_pending(&bev_->ev_write, EV_WRITE, nullptr), 0);
  evbuffer_drain(bufferevent_get_output(bev_.get()), 1);
  bufferevent_disable(bev_.get(), EV_WRITE);
  // And only libevent's own socket callback was ever there to drop.
  EXPECT_FALSE(Dispatcher::DropOutputCallback(bev_.get()));
  BufferEventPtr other = dispatcher_.CreateSocketBufferEvent(-1);
  EXPECT_TRUE(Dispatcher::DropOutputCallback(other.get()));
  EXPECT_FALSE(Dispatcher::DropOutputCallback(other.get()));
}

TEST_F(DirectWriterTest, OutputQueuedAfterLibeventEmptiedTheBufferIsWrittenDirectly) {
  // libevent, writing for a full socket, empties the output and removes its event; its write
  // callback is deferred, and output queued before it runs must not wait for an event that is
  // no longer there. What it then finds: writing handed to libevent, output queued (here, the
  // rest of `big` and more), the event not added.
  const std::string big = Pattern(1 << 20);
  done_when_empty_ = false;
  Queue(big);
  std::unique_ptr<Timer> later = dispatcher_.CreateTimer([this] { runner_.Done(); });
  later->Enable(absl::Milliseconds(20));
  ASSERT_TRUE(runner_.Run());
  ASSERT_TRUE(WriteEventOn());  // the socket was full: libevent's to write
  event_del(&bev_->ev_write);
  Queue("after");
  writer_->OnLibeventWrite();
  EXPECT_FALSE(WriteEventOn());  // taken back, and a direct write scheduled
  std::string received;
  std::atomic<size_t> read_so_far{0};
  std::thread reader([&] { received = ReadAll(peer_, big.size() + 5, &read_so_far); });
  done_when_empty_ = true;
  const bool emptied = runner_.Run(absl::Seconds(5));
  if (!emptied) {
    ::shutdown(peer_, SHUT_RDWR);  // a stalled writer: the reader gives up, the test fails
  }
  reader.join();
  ASSERT_TRUE(emptied);
  ASSERT_EQ(received.size(), big.size() + 5);
  EXPECT_TRUE(received == big + "after");
}

TEST_F(DirectWriterTest, AFailedWriteIsReportedThroughTheBufferevent) {
  bufferevent_disable(bev_.get(), EV_READ);  // the write, not the read, is to find the failure
  ::close(peer_);
  peer_ = -1;
  done_when_empty_ = false;
  Queue("nobody reads this");
  ASSERT_TRUE(runner_.Run());
  EXPECT_NE(events_ & BEV_EVENT_ERROR, 0);
  EXPECT_NE(events_ & BEV_EVENT_WRITING, 0);
  EXPECT_EQ(emptied_, 0);
}

TEST_F(DirectWriterTest, NothingIsWrittenOnceStopped) {
  done_when_empty_ = false;
  Queue("never sent");
  writer_->Stop();
  std::unique_ptr<Timer> later = dispatcher_.CreateTimer([this] { runner_.Done(); });
  later->Enable(absl::Milliseconds(50));
  ASSERT_TRUE(runner_.Run());
  EXPECT_EQ(emptied_, 0);
  char got[16];
  EXPECT_EQ(::recv(peer_, got, sizeof(got), MSG_DONTWAIT), -1);  // nothing arrived
}

}  // namespace
}  // namespace gateway::http

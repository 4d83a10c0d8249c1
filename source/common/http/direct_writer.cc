#include "source/common/http/direct_writer.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>

#include <cerrno>
#include <utility>

namespace gateway::http {

DirectWriter::DirectWriter(Dispatcher& dispatcher, bufferevent* bev,
                           std::function<void()> on_written)
    : bev_(bev),
      on_written_(std::move(on_written)),
      soon_(dispatcher.CreateSoonEvent([this] { Write(); })) {
  bufferevent_disable(bev_, EV_WRITE);  // a new bufferevent has it on
  // Queued output no longer adds the write event: only Write() enables it, for libevent to
  // write what the socket did not take.
  Dispatcher::DropOutputCallback(bev_);
}

void DirectWriter::Schedule() {
  if (!libevent_writing_ && !stopped_) {
    soon_->Schedule();
  }
}

void DirectWriter::OnLibeventWrite() {
  if (!libevent_writing_) {
    return;
  }
  evbuffer* output = bufferevent_get_output(bev_);
  if (evbuffer_get_length(output) > 0 && event_pending(&bev_->ev_write, EV_WRITE, nullptr) != 0) {
    return;  // libevent is still writing (the callback came at the low watermark)
  }
  // libevent emptied the output and removed its event; anything queued since (before this
  // deferred callback ran) is written directly, as the socket had room.
  libevent_writing_ = false;
  bufferevent_disable(bev_, EV_WRITE);
  if (evbuffer_get_length(output) > 0) {
    Schedule();
  }
}

void DirectWriter::Stop() { stopped_ = true; }

void DirectWriter::Write() {
  if (libevent_writing_ || stopped_) {
    return;
  }
  evbuffer* output = bufferevent_get_output(bev_);
  const evutil_socket_t fd = bufferevent_getfd(bev_);
  // A socket bufferevent keeps its output's start frozen (only it may drain it); it thaws it
  // around its own writes, and so does this.
  evbuffer_unfreeze(output, /*at_front=*/1);
  while (evbuffer_get_length(output) > 0) {
    const int written = evbuffer_write(output, fd);
    if (written <= 0 && !(written < 0 && errno == EINTR)) {
      break;  // the socket is full, or failed
    }
  }
  evbuffer_freeze(output, /*at_front=*/1);
  if (evbuffer_get_length(output) > 0) {
    libevent_writing_ = true;
    bufferevent_enable(bev_, EV_WRITE);
    return;
  }
  on_written_();
}

}  // namespace gateway::http

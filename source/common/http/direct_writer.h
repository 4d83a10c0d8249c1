#pragma once

// Writes a plain socket's output itself, instead of through libevent's write event.
//
// A bufferevent writes by adding its write event when output is queued (epoll_ctl), waiting a
// turn of the loop for the socket to be writable (epoll_wait), writing, and removing the event
// again (epoll_ctl): three system calls around each write to a socket that nearly always has
// room. A DirectWriter keeps the write event off and writes when the callback that queued output
// has returned, in the same turn of the loop (a head and its body leave in one writev). Only when
// the socket is full, or failed, is the rest handed to libevent, which writes it when it can, or
// reports the error through the bufferevent's event callback as before; once libevent has
// emptied the output, direct writes resume.
//
// Not for TLS bufferevents: their output goes through OpenSSL.

#include <functional>
#include <memory>

#include "source/dispatcher.h"

namespace gateway::http {

class DirectWriter {
 public:
  // `bev` is a connected plain socket bufferevent; its write event is turned off. `on_written`
  // runs after each direct write, which always empties the output: what libevent's write
  // callback would have been told.
  DirectWriter(Dispatcher& dispatcher, bufferevent* bev, std::function<void()> on_written);

  // Output was queued: it is written this turn of the loop.
  void Schedule();
  // To be called from the bufferevent's write callback (libevent wrote some of the output).
  void OnLibeventWrite();
  // The connection is closing without its output: nothing more is written.
  void Stop();

 private:
  void Write();

  bufferevent* const bev_;
  const std::function<void()> on_written_;
  const std::unique_ptr<SoonEvent> soon_;
  bool libevent_writing_ = false;
  bool stopped_ = false;
};

}  // namespace gateway::http

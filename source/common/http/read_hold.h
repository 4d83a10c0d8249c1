#pragma once

// Turns a bufferevent's reading off while its parser is paused and its input is full.
//
// A bufferevent stops reading its socket once the input reaches the read high watermark, but
// libevent 2.1.12 then runs the read callback again at every turn of the loop for as long as the
// input stays there, whether the callback can take anything or not. A connection whose parser is
// paused with a full input (a client pipelining behind a streamed response, an upstream's
// stream to a client that reads slowly) would keep its worker's loop spinning. Holding turns
// reading off instead, until the parser resumes. A peer's close is noticed once reading is back,
// as with libevent's own suspension.

#include <cstddef>

struct bufferevent;

namespace gateway::http {

class ReadHold {
 public:
  // From the read callback: when the parser is paused and the input has reached the
  // bufferevent's read high watermark, turns reading off and answers true: the callback has
  // nothing to do.
  bool HoldIfFull(bufferevent* bev, bool parser_paused);
  // When the parser resumes: turns reading back on if HoldIfFull() turned it off.
  void Release(bufferevent* bev);

 private:
  bool holding_ = false;
};

}  // namespace gateway::http

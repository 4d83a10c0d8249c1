#include "source/common/http/read_hold.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

namespace gateway::http {

bool ReadHold::HoldIfFull(bufferevent* bev, bool parser_paused) {
  if (!parser_paused) {
    return false;
  }
  size_t high = 0;
  bufferevent_getwatermark(bev, EV_READ, nullptr, &high);
  if (high == 0 || evbuffer_get_length(bufferevent_get_input(bev)) < high) {
    return false;
  }
  holding_ = true;
  bufferevent_disable(bev, EV_READ);
  return true;
}

void ReadHold::Release(bufferevent* bev) {
  if (holding_) {
    holding_ = false;
    bufferevent_enable(bev, EV_READ);
  }
}

}  // namespace gateway::http

#include "test/support/producer_stream.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace gateway::testing {

ProducerStream::ProducerStream(http::ResponseEncoder& encoder, Stats& stats, size_t total,
                               size_t chunk)
    : encoder_(encoder), stats_(stats), remaining_(total), chunk_(chunk, 'x') {}

void ProducerStream::OnHeaders(http::RequestHead&&, bool) {
  http::ResponseHead head;
  head.headers.Add("Content-Length", absl::StrCat(remaining_));
  encoder_.EncodeHeaders(std::move(head), false);
  Produce();
}

void ProducerStream::OnWatermark(bool above) {
  paused_ = above;
  if (above) {
    ++stats_.pauses;
    if (!stats_.paused.HasBeenNotified()) {
      stats_.paused.Notify();
    }
  } else {
    Produce();
  }
}

void ProducerStream::Produce() {
  while (!paused_ && remaining_ > 0) {
    const size_t size = std::min(remaining_, chunk_.size());
    remaining_ -= size;
    encoder_.EncodeData(absl::string_view(chunk_.data(), size), remaining_ == 0);
    const size_t buffered = encoder_.BufferedBytes();
    if (buffered > stats_.max_buffered) {
      stats_.max_buffered = buffered;
    }
  }
}

}  // namespace gateway::testing

#pragma once

// A server stream that answers with `total` bytes of 'x', written in `chunk`-sized pieces only
// while the connection's output is below its watermark: the well-behaved producer that flow
// control tests need on either side of the codec. It records, for the test thread, the most it
// ever had queued and when it was first told to stop.

#include <atomic>
#include <string>

#include "absl/synchronization/notification.h"
#include "source/common/http/server_connection.h"

namespace gateway::testing {

class ProducerStream : public http::ServerStream {
 public:
  struct Stats {
    absl::Notification paused;    // first told to stop
    absl::Notification finished;  // the stream ended
    std::atomic<size_t> max_buffered{0};
    std::atomic<int> pauses{0};
  };

  ProducerStream(http::ResponseEncoder& encoder, Stats& stats, size_t total, size_t chunk);

  void OnHeaders(http::RequestHead&& head, bool end_stream) override;
  void OnData(absl::string_view, bool) override {}
  void OnWatermark(bool above) override;
  void OnEnd(http::StreamEnd) override { stats_.finished.Notify(); }

 private:
  void Produce();

  http::ResponseEncoder& encoder_;
  Stats& stats_;
  size_t remaining_;
  std::string chunk_;
  bool paused_ = false;
};

}  // namespace gateway::testing

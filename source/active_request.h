#pragma once

// One request walking the filter chain. The server connection makes one per HTTP request (it is
// the connection's ServerStream) and destroys it, deferred, after OnEnd(). It creates the filters
// of the entries that match the request as the walk reaches them, gives each its own
// FilterCallbacks, buffers the request body until a filter takes it, and hands the response to
// the connection's ResponseEncoder.
//
// Runs on one worker thread. Rules it keeps: a local reply (or any response head) ends the walk;
// ContinueChain() resumes only the filter that stopped; after OnEnd() every filter has had
// OnDestroy() and nothing resumes or replies any more; a request no filter answers gets a 404.

#include <memory>
#include <optional>
#include <string>

#include "absl/types/span.h"
#include "source/common/http/server_connection.h"
#include "source/filter.h"
#include "source/filter_chain.h"
#include "source/request_recorder.h"

namespace gateway {

// The worker's services a request needs.
struct WorkerServices {
  Dispatcher& dispatcher;
  http::HttpClient& http_client;
  store::Store& store;
  size_t buffer_bytes;  // request body held before a filter takes it, before reading pauses
  RequestRecorder* recorder = nullptr;  // counts and logs each request; none in unit tests
};

class ActiveRequest : public http::ServerStream {
 public:
  ActiveRequest(const FilterChain& chain, WorkerServices services, http::ResponseEncoder& encoder,
                std::string request_id);
  ~ActiveRequest() override;

  // http::ServerStream
  void OnHeaders(http::RequestHead&& head, bool end_stream) override;
  void OnData(absl::string_view data, bool end_stream) override;
  void OnWatermark(bool above) override;
  void OnEnd(http::StreamEnd reason) override;

 private:
  // The callbacks of one filter of this request.
  class ActiveFilter : public FilterCallbacks {
   public:
    ActiveFilter(ActiveRequest& request, const FilterChain::Entry& entry);
    RequestContext& context() override { return request_.context_; }
    Dispatcher& dispatcher() override { return request_.services_.dispatcher; }
    http::HttpClient& http_client() override { return request_.services_.http_client; }
    store::Store& store() override { return request_.services_.store; }
    void ContinueChain() override { request_.ContinueFrom(*this); }
    void SendLocalReply(http::LocalReply reply) override;
    void EncodeHeaders(http::ResponseHead head, bool end_stream) override;
    void EncodeData(absl::string_view data, bool end_stream) override;
    size_t BufferedResponseBytes() const override;
    void StreamRequestBody() override { request_.StreamBodyTo(*this); }
    void ReadDisable(bool disable) override;
    void ResetStream() override;

    Filter& filter() { return *filter_; }
    // False when the factory function made no filter (a bug in that filter).
    bool valid() const { return filter_ != nullptr; }
    const std::string& name() const { return entry_.name; }
    // This filter's position in the chain.
    size_t index() const { return static_cast<size_t>(&entry_ - request_.chain_.entries().data()); }

   private:
    ActiveRequest& request_;
    const FilterChain::Entry& entry_;
    std::unique_ptr<Filter> filter_;
  };

  // Walks from the next chain entry until a filter stops or answers; 404 past the last entry.
  void Walk();
  // Handles what a filter returned from OnRequestHeaders/OnRequestBody. Returns true when the
  // walk goes on past it.
  bool Proceed(ActiveFilter& filter, FilterStatus status);
  void ContinueFrom(ActiveFilter& filter);
  void StreamBodyTo(ActiveFilter& filter);
  void SendReply(http::LocalReply reply);
  void EncodeHeaders(http::ResponseHead head, bool end_stream);
  bool done() const { return ended_ || response_started_; }

  const FilterChain& chain_;
  WorkerServices services_;
  http::ResponseEncoder& encoder_;
  RequestContext context_;
  // The filters made so far, in chain order. One slot per chain entry, allocated at once by the
  // first Walk(): a filter holds on to its ActiveFilter, which therefore never moves.
  absl::Span<std::optional<ActiveFilter>> Filters() {
    return absl::MakeSpan(filter_slots_.get(), filter_count_);
  }
  std::unique_ptr<std::optional<ActiveFilter>[]> filter_slots_;
  size_t filter_count_ = 0;
  size_t next_entry_ = 0;

  ActiveFilter* stopped_ = nullptr;      // the filter the walk waits on
  ActiveFilter* running_ = nullptr;      // the filter inside OnRequestHeaders/OnRequestBody
  bool continue_requested_ = false;      // ContinueChain() from inside that call
  ActiveFilter* body_waiter_ = nullptr;  // returned kStopAndBufferBody
  ActiveFilter* body_consumer_ = nullptr;
  bool body_complete_ = false;
  bool body_read_paused_ = false;
  bool response_started_ = false;
  bool ended_ = false;
  RequestOutcome outcome_;  // for the recorder
};

}  // namespace gateway

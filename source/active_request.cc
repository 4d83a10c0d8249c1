#include "source/active_request.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "source/common/log.h"

namespace gateway {

ActiveRequest::ActiveFilter::ActiveFilter(ActiveRequest& request, const FilterChain::Entry& entry)
    : request_(request), entry_(entry), filter_(entry.create(*this)) {}

void ActiveRequest::ActiveFilter::SendLocalReply(http::LocalReply reply) {
  if (!request_.done()) {
    request_.outcome_.entry = index();
  }
  request_.SendReply(std::move(reply));
}

void ActiveRequest::ActiveFilter::EncodeHeaders(http::ResponseHead head, bool end_stream) {
  if (!request_.done()) {
    request_.outcome_.entry = index();
  }
  request_.EncodeHeaders(std::move(head), end_stream);
}

void ActiveRequest::ActiveFilter::EncodeData(absl::string_view data, bool end_stream) {
  if (!request_.ended_ && request_.response_started_) {
    request_.outcome_.bytes += data.size();
    request_.encoder_.EncodeData(data, end_stream);
  }
}

size_t ActiveRequest::ActiveFilter::BufferedResponseBytes() const {
  return request_.ended_ ? 0 : request_.encoder_.BufferedBytes();
}

void ActiveRequest::ActiveFilter::ReadDisable(bool disable) {
  if (!request_.ended_) {
    request_.encoder_.ReadDisable(disable);
  }
}

void ActiveRequest::ActiveFilter::ResetStream() {
  if (!request_.ended_) {
    request_.encoder_.Reset();
  }
}

ActiveRequest::ActiveRequest(const FilterChain& chain, WorkerServices services,
                             http::ResponseEncoder& encoder, std::string request_id)
    : chain_(chain), services_(services), encoder_(encoder) {
  context_.request_id = std::move(request_id);
  context_.peer = encoder.peer();
  // The request begins in this turn of the loop, whose clock reading its connection has taken
  // (the idle bookkeeping of its reads and writes): no clock read of its own.
  context_.start_time = services_.dispatcher.LoopTime();
}

ActiveRequest::~ActiveRequest() {
  // The connection always ends a stream before destroying it; this is the safety net that keeps
  // the promise of exactly one OnDestroy() per filter.
  if (!ended_) {
    ended_ = true;
    for (auto it = Filters().rbegin(); it != Filters().rend(); ++it) {
      (*it)->filter().OnDestroy(http::StreamEnd::kShutdown);
    }
  }
}

void ActiveRequest::OnHeaders(http::RequestHead&& head, bool end_stream) {
  context_.request = std::move(head);
  // A caller's id ties the gateway's log lines to its own; a malformed one is replaced.
  if (const std::string* id = context_.request.headers.Get("x-request-id");
      id != nullptr && IsWellFormedRequestId(*id)) {
    context_.request_id = *id;
  }
  if (log::Enabled(log::Level::kDebug)) {
    log::Debug(absl::StrCat("request ", context_.request_id, " ", context_.request.method, " ",
                            context_.request.path, " from ", context_.peer.ToString()));
  }
  body_complete_ = end_stream;
  Walk();
}

void ActiveRequest::Walk() {
  const std::vector<FilterChain::Entry>& entries = chain_.entries();
  if (filter_slots_ == nullptr) {
    filter_slots_ = std::make_unique<std::optional<ActiveFilter>[]>(entries.size());
  }
  while (!done() && stopped_ == nullptr && next_entry_ < entries.size()) {
    const FilterChain::Entry& entry = entries[next_entry_++];
    if (!entry.match.Matches(context_.request.method, context_.request.path)) {
      continue;
    }
    std::optional<ActiveFilter>& slot = filter_slots_[filter_count_];
    slot.emplace(*this, entry);
    if (!slot->valid()) {
      slot.reset();
      log::Error(absl::StrCat("filter ", entry.name, " made no filter object; answering 500"));
      SendReply(http::ErrorReply(500, "server_error", "a filter failed"));
      return;
    }
    ++filter_count_;
    ActiveFilter& filter = *slot;
    running_ = &filter;
    continue_requested_ = false;
    const FilterStatus status = filter.filter().OnRequestHeaders();
    running_ = nullptr;
    if (!Proceed(filter, status)) {
      return;
    }
  }
  if (!done() && stopped_ == nullptr) {
    SendReply(http::ErrorReply(
        404, "not_found",
        absl::StrCat("no route for ", context_.request.method, " ", context_.request.path)));
  }
}

bool ActiveRequest::Proceed(ActiveFilter& filter, FilterStatus status) {
  if (done()) {
    return false;
  }
  if (status == FilterStatus::kContinue || continue_requested_) {
    continue_requested_ = false;
    return true;
  }
  if (status == FilterStatus::kStopAndBufferBody) {
    if (body_complete_) {
      // The body is already here (or there is none): hand it over at once.
      running_ = &filter;
      const FilterStatus next = filter.filter().OnRequestBody();
      running_ = nullptr;
      return Proceed(
          filter, next == FilterStatus::kStopAndBufferBody ? FilterStatus::kStopIteration : next);
    }
    body_waiter_ = &filter;
    stopped_ = &filter;
    if (body_read_paused_) {
      // The filter takes the whole body (bounded by the connection's body limit).
      body_read_paused_ = false;
      encoder_.ReadDisable(false);
    }
    return false;
  }
  stopped_ = &filter;
  return false;
}

void ActiveRequest::ContinueFrom(ActiveFilter& filter) {
  if (done()) {
    return;
  }
  if (running_ == &filter) {
    continue_requested_ = true;  // from inside its own call: counts as kContinue
    return;
  }
  if (stopped_ != &filter) {
    log::Debug(absl::StrCat("request ", context_.request_id, ": ", filter.name(),
                            " called ContinueChain() while the chain was not waiting on it"));
    return;
  }
  stopped_ = nullptr;
  if (body_waiter_ == &filter) {
    body_waiter_ = nullptr;
  }
  Walk();
}

void ActiveRequest::OnData(absl::string_view data, bool end_stream) {
  if (ended_) {
    return;
  }
  if (end_stream) {
    body_complete_ = true;
  }
  if (body_consumer_ != nullptr) {
    body_consumer_->filter().OnRequestData(data, end_stream);
    return;
  }
  if (response_started_) {
    return;  // answered already; nobody wants the rest
  }
  context_.body.append(data.data(), data.size());
  if (body_waiter_ != nullptr && body_complete_) {
    ActiveFilter& filter = *body_waiter_;
    body_waiter_ = nullptr;
    stopped_ = nullptr;
    running_ = &filter;
    continue_requested_ = false;
    const FilterStatus status = filter.filter().OnRequestBody();
    running_ = nullptr;
    if (Proceed(filter, status == FilterStatus::kStopAndBufferBody ? FilterStatus::kStopIteration
                                                                   : status)) {
      Walk();
    }
    return;
  }
  if (body_waiter_ == nullptr && !body_complete_ && !body_read_paused_ &&
      context_.body.size() >= services_.buffer_bytes) {
    // Nobody has taken the body yet (a filter is still deciding, say an asynchronous token
    // check): hold the client rather than the bytes.
    body_read_paused_ = true;
    encoder_.ReadDisable(true);
  }
}

void ActiveRequest::StreamBodyTo(ActiveFilter& filter) {
  if (ended_) {
    return;
  }
  body_consumer_ = &filter;
  if (body_waiter_ == &filter) {
    body_waiter_ = nullptr;
  }
  // What is buffered goes first; only then may reading resume, or newer bytes would overtake it.
  if (!context_.body.empty() || body_complete_) {
    std::string pending;
    pending.swap(context_.body);
    filter.filter().OnRequestData(pending, body_complete_);
  }
  if (body_read_paused_ && !ended_) {
    body_read_paused_ = false;
    encoder_.ReadDisable(false);
  }
}

void ActiveRequest::SendReply(http::LocalReply reply) {
  http::ResponseHead head;
  head.status = reply.status;
  head.headers = std::move(reply.headers);
  if (!reply.content_type.empty()) {
    head.headers.Set("Content-Type", reply.content_type);
  }
  head.headers.Set("Content-Length", absl::StrCat(reply.body.size()));
  const bool has_body = !reply.body.empty();
  EncodeHeaders(std::move(head), !has_body);
  if (has_body && !ended_) {
    outcome_.bytes += reply.body.size();
    encoder_.EncodeData(reply.body, /*end_stream=*/true);
  }
}

void ActiveRequest::EncodeHeaders(http::ResponseHead head, bool end_stream) {
  if (done()) {
    return;
  }
  response_started_ = true;
  stopped_ = nullptr;
  body_waiter_ = nullptr;
  for (auto it = Filters().rbegin(); it != Filters().rend(); ++it) {
    (*it)->filter().OnResponseHeaders(head);
  }
  outcome_.status = head.status;
  // Ours or a caller's well-formed one, but a filter may have changed it: checked, not trusted.
  head.headers.SetCheckingValue("X-Request-Id", context_.request_id);
  encoder_.EncodeHeaders(std::move(head), end_stream);
}

void ActiveRequest::OnWatermark(bool above) {
  for (std::optional<ActiveFilter>& filter : Filters()) {
    filter->filter().OnDownstreamWatermark(above);
  }
}

void ActiveRequest::OnEnd(http::StreamEnd reason) {
  if (ended_) {
    return;
  }
  ended_ = true;
  if (reason != http::StreamEnd::kComplete && log::Enabled(log::Level::kDebug)) {
    log::Debug(absl::StrCat("request ", context_.request_id, " ", context_.request.method, " ",
                            context_.request.path, " ended: ", http::StreamEndName(reason)));
  }
  for (auto it = Filters().rbegin(); it != Filters().rend(); ++it) {
    (*it)->filter().OnDestroy(reason);
  }
  if (services_.recorder != nullptr) {
    outcome_.end = reason;
    outcome_.end_time = services_.dispatcher.Now();
    services_.recorder->OnRequestEnd(context_, outcome_);
  }
}

}  // namespace gateway

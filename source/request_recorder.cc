#include "source/request_recorder.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "source/common/crypto.h"

namespace gateway {
namespace {

constexpr absl::string_view kNoRoute = "none";

absl::Duration Between(MonotonicTime from, MonotonicTime to) { return absl::FromChrono(to - from); }

}  // namespace

RequestRecorder::RequestRecorder(Metrics& metrics, AccessLog* access_log, const FilterChain& chain)
    : metrics_(metrics), access_log_(access_log), no_route_(metrics.RouteId(kNoRoute)) {
  for (const FilterChain::Entry& entry : chain.entries()) {
    entry_names_.push_back(entry.name);
    entry_routes_.push_back(metrics.RouteId(entry.name));
  }
}

void RequestRecorder::OnRequestEnd(const RequestContext& context, const RequestOutcome& outcome) {
  const bool routed = outcome.entry < entry_routes_.size();
  metrics_.CountRequest(routed ? entry_routes_[outcome.entry] : no_route_, outcome.status);
  if (access_log_ == nullptr) {
    return;
  }
  // A path is at most limits.max_uri_bytes; the log keeps the first 512 bytes of it.
  constexpr size_t kMaxPath = 512;
  AccessRecord record;
  record.time = absl::Now();
  record.request_id = context.request_id;
  const std::string remote = context.peer.Ip();
  record.remote = remote;
  record.method = context.request.method;
  record.route = routed ? absl::string_view(entry_names_[outcome.entry]) : kNoRoute;
  record.path = absl::string_view(context.request.path).substr(0, kMaxPath);
  record.status = outcome.status;
  record.bytes = outcome.bytes;
  record.duration = Between(context.start_time, outcome.end_time);
  record.upstream = context.upstream_time;
  record.client_id = context.client_id;
  record.user = context.user;
  record.end = http::StreamEndName(outcome.end);
  access_log_->Write(record);
}

bool IsWellFormedRequestId(absl::string_view id) {
  if (id.empty() || id.size() > 128) {
    return false;
  }
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' &&
        c != ':') {
      return false;
    }
  }
  return true;
}

const std::string& RequestIdPrefix() {
  static const std::string* const prefix =
      new std::string(absl::StrCat(absl::BytesToHexString(crypto::RandomBytes(4)), "-"));
  return *prefix;
}

}  // namespace gateway

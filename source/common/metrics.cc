#include "source/common/metrics.h"

#include <array>
#include <cstdint>
#include <thread>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gateway {
namespace {

std::atomic<uint64_t> next_metrics_id{1};

// Metrics::kBuckets in nanoseconds: Observe() compares whole numbers, with no conversion to
// seconds (out of line in Abseil) per observation.
constexpr std::array<int64_t, Metrics::kBuckets.size()> MakeBucketNanos() {
  std::array<int64_t, Metrics::kBuckets.size()> nanos{};
  for (size_t i = 0; i < nanos.size(); ++i) {
    nanos[i] = static_cast<int64_t>(Metrics::kBuckets[i] * 1e9 + 0.5);
  }
  return nanos;
}
constexpr std::array<int64_t, Metrics::kBuckets.size()> kBucketNanos = MakeBucketNanos();
static_assert(kBucketNanos[0] == 5'000'000 && kBucketNanos.back() == 10'000'000'000);

// What each thread remembers of the Metrics object it counted into last.
struct ThreadCache {
  uint64_t metrics_id = 0;
  void* shard = nullptr;
};
thread_local ThreadCache thread_cache;

struct Description {
  const char* family;
  const char* help;
  const char* label;  // "kind=connect" style, or nullptr
};

constexpr Description kCounters[] = {
    {"gateway_tokens_issued_total", "Token pairs issued for an authorization code.", nullptr},
    {"gateway_tokens_refreshed_total", "Token pairs issued for a refresh token.", nullptr},
    {"gateway_tokens_revoked_total", "Revocation requests accepted at /revoke (RFC 7009).",
     nullptr},
    {"gateway_login_failures_total", "Sign-in attempts refused for a wrong user or password.",
     nullptr},
    {"gateway_registrations_total", "Clients registered at /register (RFC 7591).", nullptr},
    {"gateway_connections_refused_total",
     "Connections answered 503 because a worker was at limits.max_connections.", nullptr},
    {"gateway_upstream_errors_total", "Failed calls to the upstream, by kind.", "timeout"},
    {"gateway_upstream_errors_total", "", "unavailable"},
    {"gateway_upstream_errors_total", "", "reset"},
    {"gateway_upstream_errors_total", "", "unauthorized"},
    {"gateway_upstream_errors_total", "", "server_error"},
    {"gateway_upstream_errors_total", "", "oauth"},
    {"gateway_access_log_dropped_total",
     "Access-log lines dropped because the log could not be written fast enough.", nullptr},
};
static_assert(std::size(kCounters) == static_cast<size_t>(Counter::kCount));

constexpr Description kGauges[] = {
    {"gateway_active_connections", "Open client connections.", nullptr},
    {"gateway_active_streams", "Proxied event streams (SSE) open right now.", nullptr},
};
static_assert(std::size(kGauges) == static_cast<size_t>(Gauge::kCount));

constexpr Description kHistograms[] = {
    {"gateway_upstream_response_seconds",
     "Time from sending a request upstream to its response head, by upstream.", "mcp"},
    {"gateway_upstream_response_seconds", "", "oauth"},
};
static_assert(std::size(kHistograms) == static_cast<size_t>(Histogram::kCount));

// The label of the families that have one.
const char* LabelName(absl::string_view family) {
  if (family == "gateway_upstream_errors_total") {
    return "kind";
  }
  return "upstream";
}

// Text format 0.0.4: a label value escapes backslash, double quote and line feed.
std::string EscapeLabel(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string FormatDouble(double value) { return absl::StrFormat("%.9g", value); }

// Writes HELP and TYPE once per family, before its first sample.
class Exposition {
 public:
  void Family(absl::string_view name, absl::string_view type, absl::string_view help) {
    if (name == current_) {
      return;
    }
    current_ = std::string(name);
    absl::StrAppend(&out_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
  }
  void Sample(absl::string_view name, absl::string_view labels, absl::string_view value) {
    absl::StrAppend(&out_, name, labels.empty() ? "" : "{", labels, labels.empty() ? "" : "}", " ",
                    value, "\n");
  }
  std::string Finish() { return std::move(out_); }

 private:
  std::string current_;
  std::string out_;
};

std::string Label(absl::string_view name, absl::string_view value) {
  return absl::StrCat(name, "=\"", EscapeLabel(value), "\"");
}

}  // namespace

// One thread's counts. Written by that thread only (relaxed adds), read by Render().
struct Metrics::Shard {
  using Row = std::array<std::atomic<uint64_t>, kMaxStatus>;

  std::array<std::atomic<uint64_t>, static_cast<size_t>(Counter::kCount)> counters{};
  std::array<std::atomic<int64_t>, static_cast<size_t>(Gauge::kCount)> gauges{};
  struct HistogramCells {
    std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets{};  // not cumulative; +Inf last
    std::atomic<uint64_t> sum_nanos{0};
  };
  std::array<HistogramCells, static_cast<size_t>(Histogram::kCount)> histograms{};
  // Requests per route and status; a route's row is made on its first request by this thread.
  std::array<std::atomic<Row*>, kMaxRoutes> requests{};

  ~Shard() {
    for (auto& row : requests) {
      delete row.load(std::memory_order_acquire);
    }
  }
};

Metrics::Metrics() : id_(next_metrics_id.fetch_add(1)) {}

Metrics::~Metrics() = default;

Metrics::Shard& Metrics::LocalShard() {
  if (thread_cache.metrics_id == id_) {
    return *static_cast<Shard*>(thread_cache.shard);
  }
  // A thread's shard for this object, found again if the thread counted here before.
  static thread_local std::unordered_map<uint64_t, Shard*> known;
  Shard*& shard = known[id_];
  if (shard == nullptr) {
    absl::MutexLock lock(&mutex_);
    shards_.push_back(std::make_unique<Shard>());
    shard = shards_.back().get();
  }
  thread_cache = ThreadCache{id_, shard};
  return *shard;
}

void Metrics::Add(Counter counter, uint64_t amount) {
  LocalShard().counters[static_cast<size_t>(counter)].fetch_add(amount, std::memory_order_relaxed);
}

void Metrics::Add(Gauge gauge, int64_t amount) {
  LocalShard().gauges[static_cast<size_t>(gauge)].fetch_add(amount, std::memory_order_relaxed);
}

void Metrics::Observe(Histogram histogram, absl::Duration value) {
  Shard::HistogramCells& cells = LocalShard().histograms[static_cast<size_t>(histogram)];
  const int64_t nanos = absl::ToInt64Nanoseconds(value);
  size_t bucket = 0;
  while (bucket < kBucketNanos.size() && nanos > kBucketNanos[bucket]) {
    ++bucket;
  }
  cells.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  cells.sum_nanos.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, nanos)),
                            std::memory_order_relaxed);
}

size_t Metrics::RouteId(absl::string_view name) {
  absl::MutexLock lock(&mutex_);
  for (size_t i = 0; i < routes_.size(); ++i) {
    if (routes_[i] == name) {
      return i;
    }
  }
  if (routes_.size() + 1 >= kMaxRoutes) {
    if (routes_.size() + 1 == kMaxRoutes) {
      routes_.push_back("other");
    }
    return kMaxRoutes - 1;
  }
  routes_.push_back(std::string(name));
  return routes_.size() - 1;
}

void Metrics::CountRequest(size_t route, int status) {
  if (route >= kMaxRoutes) {
    return;
  }
  Shard& shard = LocalShard();
  Shard::Row* row = shard.requests[route].load(std::memory_order_relaxed);
  if (row == nullptr) {
    row = new Shard::Row{};
    shard.requests[route].store(row, std::memory_order_release);
  }
  const size_t slot = status >= 100 && status < kMaxStatus ? static_cast<size_t>(status) : 0;
  (*row)[slot].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::SetStoreSizes(std::function<bool(StoreSizes&)> sizes) {
  absl::MutexLock lock(&mutex_);
  store_sizes_ = std::move(sizes);
}

std::string Metrics::Render() const {
  absl::MutexLock lock(&mutex_);
  Exposition out;

  // Requests, summed over the shards, per route and status.
  std::vector<std::array<uint64_t, kMaxStatus>> requests(routes_.size());
  for (const auto& shard : shards_) {
    for (size_t route = 0; route < routes_.size(); ++route) {
      const Shard::Row* row = shard->requests[route].load(std::memory_order_acquire);
      for (int status = 0; row != nullptr && status < kMaxStatus; ++status) {
        requests[route][status] += (*row)[status].load(std::memory_order_relaxed);
      }
    }
  }
  out.Family("gateway_requests_total", "counter",
             "Requests answered, by the route (the filter that answered; none: no filter did) "
             "and status code (none: no response was sent).");
  for (size_t route = 0; route < routes_.size(); ++route) {
    for (int status = 0; status < kMaxStatus; ++status) {
      if (requests[route][status] == 0) {
        continue;
      }
      out.Sample("gateway_requests_total",
                 absl::StrCat(Label("route", routes_[route]), ",",
                              Label("code", status == 0 ? "none" : absl::StrCat(status))),
                 absl::StrCat(requests[route][status]));
    }
  }

  for (size_t i = 0; i < std::size(kCounters); ++i) {
    uint64_t total = 0;
    for (const auto& shard : shards_) {
      total += shard->counters[i].load(std::memory_order_relaxed);
    }
    const Description& what = kCounters[i];
    out.Family(what.family, "counter", what.help);
    out.Sample(what.family, what.label ? Label(LabelName(what.family), what.label) : "",
               absl::StrCat(total));
  }

  for (size_t i = 0; i < std::size(kGauges); ++i) {
    int64_t total = 0;
    for (const auto& shard : shards_) {
      total += shard->gauges[i].load(std::memory_order_relaxed);
    }
    out.Family(kGauges[i].family, "gauge", kGauges[i].help);
    out.Sample(kGauges[i].family, "", absl::StrCat(total));
  }

  for (size_t i = 0; i < std::size(kHistograms); ++i) {
    std::array<uint64_t, kBuckets.size() + 1> buckets{};
    uint64_t sum_nanos = 0;
    for (const auto& shard : shards_) {
      const Shard::HistogramCells& cells = shard->histograms[i];
      for (size_t b = 0; b < buckets.size(); ++b) {
        buckets[b] += cells.buckets[b].load(std::memory_order_relaxed);
      }
      sum_nanos += cells.sum_nanos.load(std::memory_order_relaxed);
    }
    const Description& what = kHistograms[i];
    const std::string family = what.family;
    const std::string label = Label(LabelName(family), what.label);
    out.Family(family, "histogram", what.help);
    uint64_t cumulative = 0;
    for (size_t b = 0; b < buckets.size(); ++b) {
      cumulative += buckets[b];
      const std::string le = b < kBuckets.size() ? FormatDouble(kBuckets[b]) : "+Inf";
      out.Sample(family + "_bucket", absl::StrCat(label, ",", Label("le", le)),
                 absl::StrCat(cumulative));
    }
    out.Sample(family + "_sum", label, FormatDouble(static_cast<double>(sum_nanos) / 1e9));
    out.Sample(family + "_count", label, absl::StrCat(cumulative));
  }

  StoreSizes sizes;
  if (store_sizes_ && store_sizes_(sizes)) {
    out.Family("gateway_store_records", "gauge", "Records held by the store, by kind.");
    out.Sample("gateway_store_records", Label("kind", "clients"), absl::StrCat(sizes.clients));
    out.Sample("gateway_store_records", Label("kind", "grants"), absl::StrCat(sizes.grants));
    out.Sample("gateway_store_records", Label("kind", "tokens"), absl::StrCat(sizes.tokens));
  }
  return out.Finish();
}

}  // namespace gateway

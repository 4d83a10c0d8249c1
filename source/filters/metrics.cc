#include "source/filters/metrics.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace gateway::filters {
namespace {

// The content type of the text exposition format, version 0.0.4.
constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

class MetricsFilter : public Filter {
 public:
  MetricsFilter(FilterCallbacks& callbacks, const Metrics& metrics)
      : callbacks_(callbacks), metrics_(metrics) {}

  FilterStatus OnRequestHeaders() override {
    const std::string& method = callbacks_.context().request.method;
    if (method != "GET" && method != "HEAD") {
      http::LocalReply reply = http::ErrorReply(405, "invalid_request", "/metrics takes GET");
      reply.headers.Add("Allow", "GET, HEAD");
      callbacks_.SendLocalReply(std::move(reply));
      return FilterStatus::kStopIteration;
    }
    http::LocalReply reply;
    reply.status = 200;
    reply.content_type = kContentType;
    reply.body = metrics_.Render();
    reply.headers.Add("Cache-Control", "no-store");
    callbacks_.SendLocalReply(std::move(reply));
    return FilterStatus::kStopIteration;
  }

 private:
  FilterCallbacks& callbacks_;
  const Metrics& metrics_;
};

}  // namespace

absl::StatusOr<FilterFactoryFn> MetricsFactory::CreateFilterFactory(const config::Node& config,
                                                                    FactoryContext& context) const {
  config::MapReader reader(config);
  if (absl::Status status = reader.Finish(); !status.ok()) {
    return status;
  }
  const Metrics& metrics = context.server_state.metrics;
  return [&metrics](FilterCallbacks& callbacks) -> std::unique_ptr<Filter> {
    return std::make_unique<MetricsFilter>(callbacks, metrics);
  };
}

absl::StatusOr<std::shared_ptr<const FilterChain>> BuildAdminChain(const FilterRegistry& registry,
                                                                   FactoryContext& context) {
  std::vector<FilterChain::Entry> entries;
  constexpr std::pair<const char*, const char*> kRoutes[] = {{"health", "/healthz"},
                                                             {"metrics", "/metrics"}};
  for (const auto& [name, path] : kRoutes) {
    const FilterFactory* factory = registry.Find(name);
    if (factory == nullptr) {
      return absl::InternalError(absl::StrCat("the admin listener needs the ", name, " filter"));
    }
    absl::StatusOr<FilterFactoryFn> create = factory->CreateFilterFactory(config::Node(), context);
    if (!create.ok()) {
      return create.status();
    }
    RouteMatch match;
    match.path = path;
    match.methods = {"GET", "HEAD"};
    entries.push_back(FilterChain::Entry{name, std::move(match), std::move(*create)});
  }
  return std::make_shared<const FilterChain>(std::move(entries));
}

}  // namespace gateway::filters

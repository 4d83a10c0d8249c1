#include "source/filters/health.h"

namespace gateway::filters {
namespace {

class HealthFilter : public Filter {
 public:
  HealthFilter(FilterCallbacks& callbacks, const ServerState& state)
      : callbacks_(callbacks), state_(state) {}

  FilterStatus OnRequestHeaders() override {
    const bool draining = state_.draining.load(std::memory_order_relaxed);
    http::LocalReply reply;
    reply.status = draining ? 503 : 200;
    reply.content_type = "application/json";
    reply.body = draining ? R"({"status":"draining"})" : R"({"status":"ok"})";
    reply.headers.Add("Cache-Control", "no-store");
    callbacks_.SendLocalReply(std::move(reply));
    return FilterStatus::kStopIteration;
  }

 private:
  FilterCallbacks& callbacks_;
  const ServerState& state_;
};

}  // namespace

absl::StatusOr<FilterFactoryFn> HealthFactory::CreateFilterFactory(const config::Node& config,
                                                                   FactoryContext& context) const {
  config::MapReader reader(config);
  if (absl::Status status = reader.Finish(); !status.ok()) {
    return status;
  }
  const ServerState& state = context.server_state;
  return [&state](FilterCallbacks& callbacks) -> std::unique_ptr<Filter> {
    return std::make_unique<HealthFilter>(callbacks, state);
  };
}

}  // namespace gateway::filters

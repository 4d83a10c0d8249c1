#include "source/filters/delay.h"

#include <memory>

namespace gateway::filters {
namespace {

struct DelayConfig {
  absl::Duration duration;
};

class DelayFilter : public Filter {
 public:
  DelayFilter(FilterCallbacks& callbacks, std::shared_ptr<const DelayConfig> config)
      : callbacks_(callbacks), config_(std::move(config)) {}

  FilterStatus OnRequestHeaders() override {
    timer_ = callbacks_.dispatcher().CreateTimer([this] { callbacks_.ContinueChain(); });
    timer_->Enable(config_->duration);
    return FilterStatus::kStopIteration;
  }

  void OnDestroy(http::StreamEnd) override { timer_.reset(); }

 private:
  FilterCallbacks& callbacks_;
  const std::shared_ptr<const DelayConfig> config_;
  std::unique_ptr<Timer> timer_;
};

}  // namespace

absl::StatusOr<FilterFactoryFn> DelayFactory::CreateFilterFactory(const config::Node& config,
                                                                  FactoryContext&) const {
  config::MapReader reader(config);
  auto parsed = std::make_shared<DelayConfig>();
  if (!reader.Has("duration")) {
    reader.AddError(config.Error("delay needs a duration, such as {duration: 250ms}"));
  }
  parsed->duration = reader.Duration("duration", absl::ZeroDuration());
  if (parsed->duration > absl::Hours(1)) {
    reader.AddError(reader.Child("duration").Error("must be at most 1h"));
  }
  if (absl::Status status = reader.Finish(); !status.ok()) {
    return status;
  }
  std::shared_ptr<const DelayConfig> shared = std::move(parsed);
  return [shared](FilterCallbacks& callbacks) -> std::unique_ptr<Filter> {
    return std::make_unique<DelayFilter>(callbacks, shared);
  };
}

}  // namespace gateway::filters

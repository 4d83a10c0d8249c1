#include "source/filters/direct_response.h"

#include <memory>

namespace gateway::filters {
namespace {

class DirectResponseFilter : public Filter {
 public:
  DirectResponseFilter(FilterCallbacks& callbacks, std::shared_ptr<const http::LocalReply> reply)
      : callbacks_(callbacks), reply_(std::move(reply)) {}

  FilterStatus OnRequestHeaders() override {
    callbacks_.SendLocalReply(*reply_);
    return FilterStatus::kStopIteration;
  }

 private:
  FilterCallbacks& callbacks_;
  std::shared_ptr<const http::LocalReply> reply_;
};

}  // namespace

absl::StatusOr<FilterFactoryFn> DirectResponseFactory::CreateFilterFactory(
    const config::Node& config, FactoryContext&) const {
  config::MapReader reader(config);
  auto reply = std::make_shared<http::LocalReply>();
  reply->status = static_cast<int>(reader.Int("status", 200, 200, 599));
  reply->body = reader.String("body");
  reply->content_type = reader.String("content_type", "text/plain; charset=utf-8");
  if (!http::IsValidHeaderValue(reply->content_type)) {
    reader.AddError(reader.Child("content_type").Error("must not contain CR, LF or NUL"));
  }
  if (absl::Status status = reader.Finish(); !status.ok()) {
    return status;
  }
  std::shared_ptr<const http::LocalReply> shared = std::move(reply);
  return [shared](FilterCallbacks& callbacks) -> std::unique_ptr<Filter> {
    return std::make_unique<DirectResponseFilter>(callbacks, shared);
  };
}

}  // namespace gateway::filters

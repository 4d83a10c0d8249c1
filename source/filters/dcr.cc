#include "source/filters/dcr.h"

#include <memory>

#include "source/common/crypto.h"
#include "source/common/liveness.h"
#include "source/common/log.h"
#include "source/common/oauth/cors.h"
#include "source/common/oauth/registration.h"
#include "source/filters/oauth_endpoint.h"

namespace gateway::filters {
namespace {

class DcrFilter : public Filter {
 public:
  DcrFilter(FilterCallbacks& callbacks, const FactoryContext& context)
      : callbacks_(callbacks), clock_(context.clock), metrics_(context.server_state.metrics) {}

  FilterStatus OnRequestHeaders() override {
    std::optional<FilterStatus> status = PostEndpointHead(callbacks_, "/register");
    answered_ = status.has_value();
    return status.value_or(FilterStatus::kContinue);
  }

  FilterStatus OnRequestBody() override {
    std::string error_code;
    absl::StatusOr<oauth::ParsedRegistration> parsed =
        oauth::ParseRegistration(callbacks_.context().body, &error_code);
    if (!parsed.ok()) {
      callbacks_.SendLocalReply(http::ErrorReply(400, error_code, parsed.status().message()));
      return FilterStatus::kStopIteration;
    }
    store::Client client = std::move(parsed->client);
    client.client_id = crypto::RandomToken();
    std::string secret;
    if (parsed->confidential) {
      secret = crypto::RandomToken();
      client.secret_hash = crypto::SecretHash(secret);
    }
    client.created_at = client.last_used_at = clock_.Now();
    std::string response = oauth::RegistrationResponse(client, secret);
    const std::string client_id = client.client_id;
    callbacks_.store().PutClient(
        std::move(client),
        liveness_.Guard([this, response = std::move(response), client_id](absl::Status status) {
          if (!status.ok()) {
            callbacks_.SendLocalReply(http::ReplyFromStatus(status));
            return;
          }
          log::Info(absl::StrCat("registered client ", client_id));
          metrics_.Add(Counter::kRegistrations);
          callbacks_.context().client_id = client_id;
          http::LocalReply reply;
          reply.status = 201;
          reply.content_type = "application/json";
          reply.body = response;
          reply.headers.Add("Cache-Control", "no-store");
          callbacks_.SendLocalReply(std::move(reply));
        }));
    return FilterStatus::kStopIteration;
  }

  void OnResponseHeaders(http::ResponseHead& head) override {
    if (answered_) {
      oauth::AddCorsHeaders(head.headers);
    }
  }

 private:
  FilterCallbacks& callbacks_;
  const Clock& clock_;
  Metrics& metrics_;
  bool answered_ = false;
  Liveness liveness_;
};

}  // namespace

absl::StatusOr<FilterFactoryFn> DcrFactory::CreateFilterFactory(const config::Node& config,
                                                                FactoryContext& context) const {
  return ContextOnlyFactory<DcrFilter>(config, context);
}

}  // namespace gateway::filters

#include "source/filters/dcr.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "source/common/config/config.h"
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
      : callbacks_(callbacks),
        clock_(context.clock),
        limit_(context.config.registration),
        metrics_(context.server_state.metrics) {}

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
    if (limit_.max_per_address == 0) {
      Register(std::move(*parsed));
      return FilterStatus::kStopIteration;
    }
    // Counted before the registration, so a burst cannot get ahead of the limit; only requests
    // that would register count (a malformed one is refused above and changes nothing).
    const std::string address = callbacks_.context().peer.Ip();
    callbacks_.store().CountAttempt(
        absl::StrCat("register:address:", address), limit_.window,
        liveness_.Guard(
            [this, parsed = std::move(*parsed), address](absl::StatusOr<int64_t> count) mutable {
              if (!count.ok()) {
                callbacks_.SendLocalReply(http::ReplyFromStatus(count.status()));
                return;
              }
              if (*count > limit_.max_per_address) {
                log::Warning(absl::StrCat("registrations over the limit from ", address,
                                          " (registration.max_per_address)"));
                http::LocalReply reply = http::ErrorReply(
                    429, "too_many_requests",
                    absl::StrCat("too many client registrations from this address; try again in ",
                                 absl::FormatDuration(limit_.window)));
                reply.headers.Add("Retry-After", absl::StrCat(absl::ToInt64Seconds(limit_.window)));
                callbacks_.SendLocalReply(std::move(reply));
                return;
              }
              Register(std::move(parsed));
            }));
    return FilterStatus::kStopIteration;
  }

  void OnResponseHeaders(http::ResponseHead& head) override {
    if (answered_) {
      oauth::AddCorsHeaders(head.headers);
    }
  }

 private:
  void Register(oauth::ParsedRegistration parsed) {
    store::Client client = std::move(parsed.client);
    client.client_id = crypto::RandomToken();
    std::string secret;
    if (parsed.confidential) {
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
  }

  FilterCallbacks& callbacks_;
  const Clock& clock_;
  const RegistrationConfig& limit_;
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

#include "source/filters/revoke.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "source/common/crypto.h"
#include "source/common/liveness.h"
#include "source/common/log.h"
#include "source/common/oauth/cors.h"
#include "source/common/oauth/form.h"
#include "source/common/token/token_pair.h"
#include "source/filters/oauth_endpoint.h"

namespace gateway::filters {
namespace {

class RevokeFilter : public Filter {
 public:
  RevokeFilter(FilterCallbacks& callbacks, const FactoryContext& context)
      : callbacks_(callbacks), context_(context) {}

  FilterStatus OnRequestHeaders() override {
    std::optional<FilterStatus> status = PostEndpointHead(callbacks_, "/revoke");
    answered_ = status.has_value();
    return status.value_or(FilterStatus::kContinue);
  }

  FilterStatus OnRequestBody() override {
    absl::StatusOr<oauth::Form> form = oauth::Form::Parse(callbacks_.context().body);
    if (!form.ok()) {
      callbacks_.SendLocalReply(http::ErrorReply(400, "invalid_request", form.status().message()));
      return FilterStatus::kStopIteration;
    }
    form_ = std::move(*form);
    AuthenticateClient(callbacks_, liveness_, form_,
                       [this](const oauth::ClientCredentials& credentials) {
                         credentials_ = credentials;
                         if (form_.Get("token").empty()) {
                           callbacks_.SendLocalReply(
                               http::ErrorReply(400, "invalid_request", "token is required"));
                           return;
                         }
                         FindToken();
                       });
    return FilterStatus::kStopIteration;
  }

  void OnResponseHeaders(http::ResponseHead& head) override {
    if (answered_) {
      oauth::AddCorsHeaders(head.headers);
    }
  }

  void OnDestroy(http::StreamEnd) override {
    revoke_.reset();
    prepare_.reset();
  }

 private:
  void Done() {
    http::LocalReply reply;
    reply.headers.Add("Cache-Control", "no-store");
    callbacks_.SendLocalReply(std::move(reply));
  }

  void FindToken() {
    std::string scratch;
    absl::StatusOr<token::SplitPair> pair = token::DecodePair(form_.Get("token"), scratch);
    if (!pair.ok()) {
      Done();  // not a token of this gateway: nothing to revoke (RFC 7009 section 2.2)
      return;
    }
    callbacks_.store().GetToken(
        crypto::SecretHash(pair->gateway_half),
        liveness_.Guard([this](absl::StatusOr<std::shared_ptr<const store::TokenRecord>> token) {
          // Another client's token is left alone, as if unknown (RFC 7009 section 2.1).
          if (!token.ok() || *token == nullptr || (*token)->client_id != credentials_.client_id) {
            Done();
            return;
          }
          const std::string grant_id = (*token)->grant_id;
          callbacks_.store().GetGrant(
              grant_id,
              liveness_.Guard([this, grant_id](absl::StatusOr<std::optional<store::Grant>> grant) {
                std::optional<store::Grant> held;
                if (grant.ok()) {
                  held = std::move(*grant);
                }
                callbacks_.store().RevokeGrant(grant_id, liveness_.Guard([this,
                                                                          held](absl::Status) {
                  log::Info(absl::StrCat("client ", credentials_.client_id, " revoked a grant"));
                  context_.server_state.metrics.Add(Counter::kTokensRevoked);
                  if (held.has_value()) {
                    RevokeUpstream(*held);
                  } else {
                    Done();
                  }
                }));
              }));
        }));
  }

  // Best effort: the gateway's side is revoked already; the upstream's answer is only logged.
  void RevokeUpstream(const store::Grant& grant) {
    const std::string token = !grant.upstream_refresh_token.empty() ? grant.upstream_refresh_token
                                                                    : grant.upstream_access_token;
    const std::string hint =
        !grant.upstream_refresh_token.empty() ? "refresh_token" : "access_token";
    prepare_ = context_.upstream.Prepare(
        callbacks_.http_client(), callbacks_.store(),
        liveness_.Guard([this, token,
                         hint](absl::StatusOr<std::shared_ptr<const oauth::UpstreamSetup>> setup) {
          if (!setup.ok()) {
            Done();
            return;
          }
          revoke_ =
              context_.upstream.Revoke(callbacks_.http_client(), **setup, token, hint,
                                       liveness_.Guard([this](absl::StatusOr<bool> revoked) {
                                         if (!revoked.ok()) {
                                           log::Warning(absl::StrCat("upstream revocation failed: ",
                                                                     revoked.status().message()));
                                         }
                                         Done();
                                       }));
        }));
  }

  FilterCallbacks& callbacks_;
  const FactoryContext context_;
  bool answered_ = false;
  oauth::Form form_;
  oauth::ClientCredentials credentials_;
  std::unique_ptr<oauth::Operation> prepare_;
  std::unique_ptr<oauth::Operation> revoke_;
  Liveness liveness_;
};

}  // namespace

absl::StatusOr<FilterFactoryFn> RevokeFactory::CreateFilterFactory(const config::Node& config,
                                                                   FactoryContext& context) const {
  return ContextOnlyFactory<RevokeFilter>(config, context);
}

}  // namespace gateway::filters

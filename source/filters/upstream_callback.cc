#include "source/filters/upstream_callback.h"

#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "source/common/crypto.h"
#include "source/common/liveness.h"
#include "source/common/log.h"
#include "source/common/oauth/form.h"
#include "source/common/oauth/pages.h"
#include "source/filters/oauth_endpoint.h"

namespace gateway::filters {
namespace {

// Upstream errors a client understands as they are (RFC 6749 section 4.1.2.1); anything else is
// the gateway's problem as far as the client can tell.
std::string ClientError(absl::string_view upstream_error) {
  for (absl::string_view known : {"access_denied", "invalid_scope", "temporarily_unavailable"}) {
    if (upstream_error == known) {
      return std::string(known);
    }
  }
  return "server_error";
}

class UpstreamCallbackFilter : public Filter {
 public:
  UpstreamCallbackFilter(FilterCallbacks& callbacks, const FactoryContext& context)
      : callbacks_(callbacks), context_(context) {}

  FilterStatus OnRequestHeaders() override {
    const http::RequestHead& request = callbacks_.context().request;
    if (request.path != "/upstream/callback") {
      return FilterStatus::kContinue;
    }
    if (request.method != "GET") {
      Reply(oauth::RenderError(405, "Method not allowed", "The callback is opened with GET."));
      return FilterStatus::kStopIteration;
    }
    absl::StatusOr<oauth::Form> query = oauth::Form::Parse(request.query);
    if (!query.ok() || query->Get("state").empty()) {
      Reply(oauth::RenderError(400, "Invalid callback",
                               "The upstream's answer carries no usable state."));
      return FilterStatus::kStopIteration;
    }
    query_ = std::move(*query);
    callbacks_.store().TakeFlowByUpstreamState(
        query_.Get("state"),
        liveness_.Guard([this](absl::StatusOr<std::optional<store::Flow>> flow) {
          if (!flow.ok()) {
            Reply(http::ReplyFromStatus(flow.status()));
          } else if (!flow->has_value() || (*flow)->user.empty()) {
            Reply(oauth::RenderError(
                400, "Unknown or used callback",
                "This authorization was already completed, expired, or never started here. Go "
                "back to your application and start again."));
          } else {
            flow_ = std::move(**flow);
            Continue();
          }
        }));
    return FilterStatus::kStopIteration;
  }

  void OnDestroy(http::StreamEnd) override {
    exchange_.reset();
    prepare_.reset();
  }

 private:
  void Reply(http::LocalReply reply) { callbacks_.SendLocalReply(std::move(reply)); }

  void FailToClient(absl::string_view error, absl::string_view description) {
    Reply(oauth::RedirectToClient(
        flow_.redirect_uri,
        {{"error", std::string(error)}, {"error_description", std::string(description)}},
        flow_.state, context_.config.Issuer()));
  }

  void Continue() {
    prepare_ = context_.upstream.Prepare(
        callbacks_.http_client(), callbacks_.store(),
        liveness_.Guard([this](absl::StatusOr<std::shared_ptr<const oauth::UpstreamSetup>> setup) {
          if (!setup.ok()) {
            // The discovery logged why.
            const oauth::ClientError error = oauth::PrepareFailureForClient(setup.status());
            FailToClient(error.error, error.description);
            return;
          }
          setup_ = *setup;
          // An answer (error answers too) from another authorization server than the one the
          // user was sent to is a mix-up attack: its code is never exchanged (RFC 9207).
          if (!oauth::AuthorizationResponseIssuerAccepted(*setup_, query_.Has("iss"),
                                                          query_.Get("iss"))) {
            log::Warning(absl::StrCat(
                "refused an upstream authorization response for client ", flow_.client_id,
                query_.Has("iss") ? " from issuer \"" + absl::CHexEscape(query_.Get("iss")) + "\""
                                  : std::string(" without iss"),
                "; the upstream is ", setup_->issuer, " (RFC 9207)"));
            FailToClient("server_error",
                         "the upstream's answer did not come from its authorization server");
            return;
          }
          if (!query_.Get("error").empty()) {
            FailToClient(ClientError(query_.Get("error")),
                         absl::StrCat("the upstream answered ", query_.Get("error")));
            return;
          }
          if (query_.Get("code").empty()) {
            FailToClient("server_error", "the upstream sent no authorization code");
            return;
          }
          exchange_ = context_.upstream.ExchangeCode(
              callbacks_.http_client(), *setup_, query_.Get("code"), flow_.upstream_code_verifier,
              context_.upstream.redirect_uri(),
              liveness_.Guard([this](absl::StatusOr<oauth::UpstreamTokens> tokens) {
                OnUpstreamTokens(std::move(tokens));
              }));
        }));
  }

  void OnUpstreamTokens(absl::StatusOr<oauth::UpstreamTokens> tokens) {
    if (!tokens.ok()) {
      log::Warning(absl::StrCat("the upstream code exchange failed: ", tokens.status().message()));
      FailToClient("server_error", "the upstream did not accept the authorization");
      return;
    }
    const absl::Time now = context_.clock.Now();
    store::Grant grant;
    grant.grant_id = crypto::RandomToken();
    grant.user = flow_.user;
    grant.client_id = flow_.client_id;
    grant.scope = flow_.scope;
    grant.resource = flow_.resource;
    grant.upstream_access_token = tokens->access_token;
    grant.upstream_refresh_token = tokens->refresh_token;
    if (tokens->expires_in.has_value()) {
      grant.upstream_expires_at = now + *tokens->expires_in;
    }
    grant.upstream_scope = tokens->scope;
    grant.created_at = now;
    grant.expires_at = now + context_.config.tokens.refresh_ttl;

    store::Code code;
    const std::string code_value = crypto::RandomToken();
    code.code_hash = crypto::SecretHash(code_value);
    code.client_id = flow_.client_id;
    code.redirect_uri = flow_.redirect_uri;
    code.code_challenge = flow_.code_challenge;
    code.scope = flow_.scope;
    code.resource = flow_.resource;
    code.user = flow_.user;
    code.grant_id = grant.grant_id;
    code.expires_at = now + context_.config.tokens.code_ttl;

    callbacks_.store().PutGrant(
        std::move(grant),
        liveness_.Guard([this, code = std::move(code), code_value](absl::Status status) mutable {
          if (!status.ok()) {
            FailToClient("temporarily_unavailable", status.message());
            return;
          }
          callbacks_.store().PutCode(std::move(code), liveness_.Guard([this, code_value](
                                                                          absl::Status stored) {
            if (!stored.ok()) {
              FailToClient("temporarily_unavailable", stored.message());
              return;
            }
            log::Info(absl::StrCat("user ", flow_.user, " authorized client ", flow_.client_id));
            Reply(oauth::RedirectToClient(flow_.redirect_uri, {{"code", code_value}}, flow_.state,
                                          context_.config.Issuer()));
          }));
        }));
  }

  FilterCallbacks& callbacks_;
  const FactoryContext context_;
  oauth::Form query_;
  store::Flow flow_;
  std::shared_ptr<const oauth::UpstreamSetup> setup_;
  // Two handles: Prepare() may answer before it returns, and the exchange it starts must not be
  // overwritten by its handle.
  std::unique_ptr<oauth::Operation> prepare_;
  std::unique_ptr<oauth::Operation> exchange_;
  Liveness liveness_;
};

}  // namespace

absl::StatusOr<FilterFactoryFn> UpstreamCallbackFactory::CreateFilterFactory(
    const config::Node& config, FactoryContext& context) const {
  return ContextOnlyFactory<UpstreamCallbackFilter>(config, context);
}

}  // namespace gateway::filters

#include "source/filters/login.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "source/common/crypto.h"
#include "source/common/liveness.h"
#include "source/common/log.h"
#include "source/common/oauth/form.h"
#include "source/common/oauth/pages.h"
#include "source/common/oauth/redirect_uri.h"
#include "source/common/url.h"
#include "source/filters/oauth_endpoint.h"

namespace gateway::filters {
namespace {

class LoginFilter : public Filter {
 public:
  LoginFilter(FilterCallbacks& callbacks, const FactoryContext& context)
      : callbacks_(callbacks), context_(context) {}

  FilterStatus OnRequestHeaders() override {
    const http::RequestHead& request = callbacks_.context().request;
    const bool form_post = request.path == "/login/callback" || request.path == "/consent";
    if (request.path != "/login" && !form_post) {
      return FilterStatus::kContinue;
    }
    if (form_post) {
      if (request.method == "POST") {
        return FilterStatus::kStopAndBufferBody;
      }
      Reply(oauth::RenderError(405, "Method not allowed", "This form is sent with POST."));
      return FilterStatus::kStopIteration;
    }
    if (request.method != "GET" && request.method != "HEAD") {
      Reply(oauth::RenderError(405, "Method not allowed", "Open this page with GET."));
      return FilterStatus::kStopIteration;
    }
    absl::StatusOr<oauth::Form> query = oauth::Form::Parse(request.query);
    WithFlow(query.ok() ? query->Get("flow") : "", [this](store::Flow flow) {
      Reply(oauth::RenderLogin({flow.flow_id, flow.csrf_token, flow.client_name, "", ""}));
    });
    return FilterStatus::kStopIteration;
  }

  FilterStatus OnRequestBody() override {
    absl::StatusOr<oauth::Form> form = oauth::Form::Parse(callbacks_.context().body);
    if (!form.ok()) {
      Reply(oauth::RenderError(400, "Invalid form", form.status().message()));
      return FilterStatus::kStopIteration;
    }
    form_ = std::move(*form);
    const bool consent = callbacks_.context().request.path == "/consent";
    WithFlow(form_.Get("flow"), [this, consent](store::Flow flow) {
      // The form must come from the page this flow served (login CSRF, RFC 6749 section 10.12).
      if (!crypto::ConstantTimeEquals(form_.Get("csrf"), flow.csrf_token)) {
        Reply(oauth::RenderError(403, "Form expired",
                                 "This form is no longer valid. Go back to your application "
                                 "and start again."));
        return;
      }
      if (consent) {
        Decide(std::move(flow));
      } else {
        SignIn(std::move(flow));
      }
    });
    return FilterStatus::kStopIteration;
  }

  void OnDestroy(http::StreamEnd) override { operation_.reset(); }

 private:
  void Reply(http::LocalReply reply) { callbacks_.SendLocalReply(std::move(reply)); }

  // Finds the flow named `flow_id`, or answers with an error page.
  void WithFlow(const std::string& flow_id, std::function<void(store::Flow)> next) {
    if (flow_id.empty()) {
      Reply(oauth::RenderError(400, "Invalid request", "No sign-in is in progress."));
      return;
    }
    callbacks_.store().GetFlow(
        flow_id, liveness_.Guard([this, next = std::move(next)](
                                     absl::StatusOr<std::optional<store::Flow>> flow) {
          if (!flow.ok()) {
            Reply(http::ReplyFromStatus(flow.status()));
          } else if (!flow->has_value() || !(*flow)->upstream_state.empty()) {
            Reply(oauth::RenderError(400, "Sign-in expired",
                                     "This sign-in is no longer valid. Go back to your "
                                     "application and start again."));
          } else {
            next(std::move(**flow));
          }
        }));
  }

  void SignIn(store::Flow flow) {
    const std::string user = form_.Get("username");
    const std::string user_key = absl::StrCat("login:user:", user);
    const std::string address_key = absl::StrCat("login:address:", callbacks_.context().peer.Ip());
    const absl::Duration window = context_.config.login.failure_window;
    // Attempts are counted before the check, so a guesser cannot get ahead of the limit by
    // sending many at once; a success clears the count.
    callbacks_.store().CountAttempt(
        user_key, window,
        liveness_.Guard([this, flow = std::move(flow), user, user_key, address_key,
                         window](absl::StatusOr<int64_t> user_count) mutable {
          callbacks_.store().CountAttempt(
              address_key, window,
              liveness_.Guard([this, flow = std::move(flow), user, user_key, address_key,
                               user_count](absl::StatusOr<int64_t> address_count) mutable {
                const int64_t limit = context_.config.login.max_failures;
                if (!user_count.ok() || !address_count.ok() || *user_count > limit ||
                    *address_count > limit) {
                  log::Warning(absl::StrCat("login attempts over the limit from ",
                                            callbacks_.context().peer.Ip()));
                  Reply(oauth::RenderError(
                      429, "Too many attempts",
                      absl::StrCat("Too many sign-in attempts. Wait ",
                                   absl::FormatDuration(context_.config.login.failure_window),
                                   " and try again.")));
                  return;
                }
                context_.users.Verify(
                    callbacks_.dispatcher(), user, form_.Get("password"),
                    liveness_.Guard([this, flow = std::move(flow), user, user_key,
                                     address_key](bool ok) mutable {
                      if (!ok) {
                        context_.server_state.metrics.Add(Counter::kLoginFailures);
                        Reply(oauth::RenderLogin({flow.flow_id, flow.csrf_token, flow.client_name,
                                                  user, "Wrong user name or password."},
                                                 401));
                        return;
                      }
                      callbacks_.store().ResetAttempts(user_key);
                      callbacks_.store().ResetAttempts(address_key);
                      flow.user = user;
                      callbacks_.context().user = user;         // for the access log
                      flow.csrf_token = crypto::RandomToken();  // a new form, a new token
                      AfterSignIn(std::move(flow));
                    }));
              }));
        }));
  }

  void AfterSignIn(store::Flow flow) {
    if (!context_.config.oauth.remember_consent) {
      AskConsent(std::move(flow));
      return;
    }
    const std::string user = flow.user;
    const std::string client_id = flow.client_id;
    callbacks_.store().GetConsent(
        user, client_id,
        liveness_.Guard([this, flow = std::move(flow)](
                            absl::StatusOr<std::optional<store::Consent>> consent) mutable {
          if (consent.ok() && consent->has_value() && (*consent)->scope == flow.scope) {
            GoUpstream(std::move(flow));
          } else {
            AskConsent(std::move(flow));
          }
        }));
  }

  void AskConsent(store::Flow flow) {
    oauth::ConsentPage page;
    page.flow_id = flow.flow_id;
    page.csrf_token = flow.csrf_token;
    page.user = flow.user;
    page.client_name = flow.client_name;
    page.redirect_host = oauth::RedirectUriHost(flow.redirect_uri);
    absl::StatusOr<Url> upstream = ParseUrl(context_.config.upstream.rs);
    page.upstream_host = upstream.ok() ? upstream->host : context_.config.upstream.rs;
    page.upstream_scopes = context_.config.upstream.scopes;
    page.offer_remember = context_.config.oauth.remember_consent;
    callbacks_.store().PutFlow(std::move(flow), liveness_.Guard([this, page](absl::Status status) {
      Reply(status.ok() ? oauth::RenderConsent(page) : http::ReplyFromStatus(status));
    }));
  }

  void Decide(store::Flow flow) {
    if (flow.user.empty()) {
      Reply(oauth::RenderError(403, "Not signed in", "Sign in before deciding."));
      return;
    }
    if (form_.Get("decision") != "approve") {
      callbacks_.store().DeleteFlow(flow.flow_id);
      Reply(oauth::RedirectToClient(
          flow.redirect_uri,
          {{"error", "access_denied"}, {"error_description", "the user denied the request"}},
          flow.state, context_.config.Issuer()));
      return;
    }
    if (context_.config.oauth.remember_consent && form_.Get("remember") == "1") {
      store::Consent consent{flow.user, flow.client_id, flow.scope, context_.clock.Now()};
      callbacks_.store().PutConsent(std::move(consent), [](absl::Status) {});
    }
    GoUpstream(std::move(flow));
  }

  // Screen 2: the upstream's authorization, with a fresh single-use state and PKCE pair.
  void GoUpstream(store::Flow flow) {
    operation_ = context_.upstream.Prepare(
        callbacks_.http_client(), callbacks_.store(),
        liveness_.Guard(
            [this, flow = std::move(flow)](
                absl::StatusOr<std::shared_ptr<const oauth::UpstreamSetup>> setup) mutable {
              if (!setup.ok()) {
                // The discovery logged why.
                log::Warning(absl::StrCat("cannot send user ", flow.user, " upstream for client ",
                                          flow.client_id));
                callbacks_.store().DeleteFlow(flow.flow_id);
                const oauth::ClientError error = oauth::PrepareFailureForClient(setup.status());
                Reply(oauth::RedirectToClient(
                    flow.redirect_uri,
                    {{"error", error.error}, {"error_description", error.description}}, flow.state,
                    context_.config.Issuer()));
                return;
              }
              const oauth::UpstreamSetup& upstream = **setup;
              flow.upstream_state = crypto::RandomToken();
              flow.upstream_code_verifier = crypto::RandomToken();
              std::vector<std::pair<std::string, std::string>> params = {
                  {"response_type", "code"},
                  {"client_id", upstream.client_id},
                  {"redirect_uri", context_.upstream.redirect_uri()},
                  {"state", flow.upstream_state},
                  {"code_challenge", crypto::PkceS256Challenge(flow.upstream_code_verifier)},
                  {"code_challenge_method", "S256"}};
              const std::string scope = context_.upstream.ScopeFor(upstream, flow.scope);
              if (!scope.empty()) {
                params.emplace_back("scope", scope);
              }
              if (!upstream.resource.empty()) {
                params.emplace_back("resource", upstream.resource);
              }
              const std::string location = oauth::AppendQuery(upstream.authorize_endpoint, params);
              callbacks_.store().PutFlow(
                  std::move(flow), liveness_.Guard([this, location](absl::Status status) {
                    Reply(status.ok() ? oauth::Redirect(location) : http::ReplyFromStatus(status));
                  }));
            }));
  }

  FilterCallbacks& callbacks_;
  const FactoryContext context_;
  oauth::Form form_;
  std::unique_ptr<oauth::Operation> operation_;
  Liveness liveness_;
};

}  // namespace

absl::StatusOr<FilterFactoryFn> LoginFactory::CreateFilterFactory(const config::Node& config,
                                                                  FactoryContext& context) const {
  return ContextOnlyFactory<LoginFilter>(config, context);
}

}  // namespace gateway::filters

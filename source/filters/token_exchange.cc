#include "source/filters/token_exchange.h"

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "source/common/crypto.h"
#include "source/common/liveness.h"
#include "source/common/log.h"
#include "source/common/oauth/cors.h"
#include "source/common/oauth/form.h"
#include "source/common/oauth/token_issuer.h"
#include "source/common/oauth/upstream_client.h"
#include "source/common/token/token_pair.h"
#include "source/filters/oauth_endpoint.h"

namespace gateway::filters {
namespace {

// Refresh the upstream token when less than this is left of it.
constexpr absl::Duration kUpstreamRefreshMargin = absl::Minutes(2);
// One refresh of a grant at a time: the lease outlives the slowest upstream refresh, and a
// refresh that finds it taken looks again every kLeaseRetry, for up to kLeaseWait.
constexpr absl::Duration kLeaseTtl = absl::Seconds(60);
constexpr absl::Duration kLeaseRetry = absl::Milliseconds(50);
constexpr absl::Duration kLeaseWait = absl::Seconds(30);

// Whether every scope in `requested` is in `granted` (RFC 6749 section 6: a refresh may narrow).
bool ScopeWithin(absl::string_view requested, absl::string_view granted) {
  std::vector<absl::string_view> have = absl::StrSplit(granted, ' ', absl::SkipEmpty());
  for (absl::string_view scope : absl::StrSplit(requested, ' ', absl::SkipEmpty())) {
    if (std::find(have.begin(), have.end(), scope) == have.end()) {
      return false;
    }
  }
  return true;
}

class TokenExchangeFilter : public Filter {
 public:
  TokenExchangeFilter(FilterCallbacks& callbacks, const FactoryContext& context)
      : callbacks_(callbacks), context_(context) {}

  FilterStatus OnRequestHeaders() override {
    std::optional<FilterStatus> status = PostEndpointHead(callbacks_, "/token");
    answered_ = status.has_value();
    return status.value_or(FilterStatus::kContinue);
  }

  FilterStatus OnRequestBody() override {
    absl::StatusOr<oauth::Form> form = oauth::Form::Parse(callbacks_.context().body);
    if (!form.ok()) {
      Error(400, "invalid_request", form.status().message());
      return FilterStatus::kStopIteration;
    }
    form_ = std::move(*form);
    AuthenticateClient(callbacks_, liveness_, form_,
                       [this](const oauth::ClientCredentials& credentials) {
                         credentials_ = credentials;
                         const std::string& grant_type = form_.Get("grant_type");
                         if (grant_type == "authorization_code") {
                           RedeemCode();
                         } else if (grant_type == "refresh_token") {
                           Refresh();
                         } else if (grant_type.empty()) {
                           Error(400, "invalid_request", "grant_type is required");
                         } else {
                           Error(400, "unsupported_grant_type",
                                 absl::StrCat("grant_type \"", grant_type, "\" is not supported"));
                         }
                       });
    return FilterStatus::kStopIteration;
  }

  void OnResponseHeaders(http::ResponseHead& head) override {
    if (answered_) {
      oauth::AddCorsHeaders(head.headers);
      head.headers.Set("Pragma", "no-cache");
    }
  }

  void OnDestroy(http::StreamEnd) override {
    refresh_.reset();
    prepare_.reset();
    retry_timer_.reset();
    ReleaseLease();
  }

 private:
  void Error(int status, absl::string_view error, absl::string_view description) {
    callbacks_.SendLocalReply(http::ErrorReply(status, error, description));
  }

  // --- authorization_code (RFC 6749 section 4.1.3, RFC 7636 section 4.6) ---

  // The code is checked against the request first and redeemed last, in one atomic step with
  // storing the tokens minted for it: of concurrent redemptions exactly one succeeds, and any
  // other (a replay) revokes the grant, tokens just issued included (RFC 6749 section 4.1.2). A
  // request that fails a check leaves the code alone, so that whoever merely saw a code cannot
  // spoil its redemption by its rightful client.
  void RedeemCode() {
    const std::string& code = form_.Get("code");
    if (code.empty() || form_.Get("redirect_uri").empty() || form_.Get("code_verifier").empty()) {
      Error(400, "invalid_request", "code, redirect_uri and code_verifier are required");
      return;
    }
    code_hash_ = crypto::SecretHash(code);
    callbacks_.store().GetCode(
        code_hash_, liveness_.Guard([this](absl::StatusOr<store::CodeTake> take) {
          if (!take.ok()) {
            callbacks_.SendLocalReply(http::ReplyFromStatus(take.status()));
            return;
          }
          if (take->reused) {
            RevokeForReplay(take->grant_id);
            return;
          }
          if (!take->code.has_value()) {
            Error(400, "invalid_grant", "the authorization code is unknown or expired");
            return;
          }
          const store::Code& code = *take->code;
          if (code.client_id != credentials_.client_id ||
              code.redirect_uri != form_.Get("redirect_uri")) {
            Error(400, "invalid_grant",
                  "the authorization code was issued to another client or redirect_uri");
            return;
          }
          const std::string& verifier = form_.Get("code_verifier");
          if (!crypto::IsPkceString(verifier) ||
              !crypto::ConstantTimeEquals(crypto::PkceS256Challenge(verifier),
                                          code.code_challenge)) {
            Error(400, "invalid_grant", "the code_verifier does not match the code_challenge");
            return;
          }
          if (form_.Has("resource") && form_.Get("resource") != code.resource) {
            Error(400, "invalid_target", "resource differs from the one authorized");
            return;
          }
          LoadGrantAndRedeem(code.grant_id);
        }));
  }

  void RevokeForReplay(const std::string& grant_id) {
    log::Warning(absl::StrCat("an authorization code of client ", credentials_.client_id,
                              " was used twice; revoking its grant"));
    callbacks_.store().RevokeGrant(grant_id, [](absl::Status) {});
    Error(400, "invalid_grant", "the authorization code was already used");
  }

  void LoadGrantAndRedeem(const std::string& grant_id) {
    callbacks_.store().GetGrant(
        grant_id,
        liveness_.Guard([this, grant_id](absl::StatusOr<std::optional<store::Grant>> grant) {
          if (!grant.ok()) {
            callbacks_.SendLocalReply(http::ReplyFromStatus(grant.status()));
            return;
          }
          if (!grant->has_value()) {
            Error(400, "invalid_grant", "the authorization was revoked");
            return;
          }
          oauth::MintedTokens minted = oauth::MintTokens(**grant, context_.config.tokens,
                                                         context_.keys, context_.clock.Now());
          const std::string body = oauth::TokenResponseBody(minted, (*grant)->scope);
          callbacks_.store().RedeemCode(
              code_hash_, std::move(minted.access), std::move(minted.refresh),
              liveness_.Guard([this, body, grant_id](absl::StatusOr<store::RedeemOutcome> outcome) {
                if (!outcome.ok()) {
                  callbacks_.SendLocalReply(http::ReplyFromStatus(outcome.status()));
                } else if (*outcome == store::RedeemOutcome::kRedeemed) {
                  context_.server_state.metrics.Add(Counter::kTokensIssued);
                  SendTokens(body);
                } else if (*outcome == store::RedeemOutcome::kReplayed) {
                  RevokeForReplay(grant_id);  // another redemption won the race
                } else {
                  Error(400, "invalid_grant", "the authorization code expired or was revoked");
                }
              }));
        }));
  }

  void SendTokens(const std::string& body) {
    callbacks_.context().client_id = credentials_.client_id;  // for the access log
    http::LocalReply reply;
    reply.content_type = "application/json";
    reply.body = body;
    reply.headers.Add("Cache-Control", "no-store");
    callbacks_.SendLocalReply(std::move(reply));
  }

  // --- refresh_token (RFC 6749 section 6) ---
  //
  // One refresh of a grant runs at a time (a lease in the store, shared by every worker and
  // replica): it alone may refresh upstream and rotate. A refresh that finds the lease taken
  // waits for it, then finds its token rotated within the grace period and gets the same tokens
  // as the winner; so does a client whose response was lost. The family never forks.

  void Refresh() {
    const std::string& presented = form_.Get("refresh_token");
    if (presented.empty()) {
      Error(400, "invalid_request", "refresh_token is required");
      return;
    }
    absl::StatusOr<token::SplitPair> pair = token::DecodePair(presented, scratch_);
    if (!pair.ok()) {
      Error(400, "invalid_grant", "the refresh token is not one this gateway issued");
      return;
    }
    gateway_half_ = std::string(pair->gateway_half);
    upstream_part_ = std::string(pair->upstream_part);
    old_hash_ = crypto::SecretHash(gateway_half_);
    lease_deadline_ = context_.clock.Now() + kLeaseWait;
    CheckRefreshToken();
  }

  void CheckRefreshToken() {
    callbacks_.store().GetToken(
        old_hash_,
        liveness_.Guard([this](absl::StatusOr<std::shared_ptr<const store::TokenRecord>> record) {
          if (!record.ok()) {
            callbacks_.SendLocalReply(http::ReplyFromStatus(record.status()));
            return;
          }
          const store::TokenRecord* token = record->get();
          if (token == nullptr || token->kind != store::TokenKind::kRefresh ||
              token->client_id != credentials_.client_id ||
              !PairHolds(*token, gateway_half_, upstream_part_)) {
            Error(400, "invalid_grant", "the refresh token is unknown, expired or not yours");
            return;
          }
          if (!token->successor_hash.empty()) {
            ResendOrRevoke(*record);
            return;
          }
          if (form_.Has("scope") && !ScopeWithin(form_.Get("scope"), token->scope)) {
            Error(400, "invalid_scope", "a refresh cannot widen the scope");
            return;
          }
          TakeLease(token->grant_id);
        }));
  }

  // A rotated refresh token came back. Within the grace period, while its successor is still
  // current, it gets the response it was rotated with; otherwise (RFC 9700 section 4.14.2) it
  // leaked, or the client lost track: either way the grant is no longer trustworthy.
  void ResendOrRevoke(std::shared_ptr<const store::TokenRecord> token) {
    const absl::Duration grace = context_.config.tokens.refresh_grace;
    if (token->rotated_at.has_value() && context_.clock.Now() - *token->rotated_at < grace &&
        !token->successor_response.empty()) {
      callbacks_.store().GetToken(
          token->successor_hash,
          liveness_.Guard(
              [this, token](absl::StatusOr<std::shared_ptr<const store::TokenRecord>> successor) {
                if (!successor.ok()) {
                  callbacks_.SendLocalReply(http::ReplyFromStatus(successor.status()));
                  return;
                }
                absl::StatusOr<std::string> body =
                    oauth::OpenGraceResponse(gateway_half_, token->successor_response);
                if (*successor != nullptr && (*successor)->successor_hash.empty() && body.ok()) {
                  log::Info(absl::StrCat("client ", credentials_.client_id,
                                         " repeated a refresh within the grace period; it gets the "
                                         "same tokens again"));
                  SendTokens(*body);
                  return;
                }
                Revoke(*token);
              }));
      return;
    }
    Revoke(*token);
  }

  void Revoke(const store::TokenRecord& token) {
    log::Warning(absl::StrCat("a rotated refresh token of client ", credentials_.client_id,
                              " was replayed; revoking"));
    callbacks_.store().RevokeGrant(token.grant_id, [](absl::Status) {});
    Error(400, "invalid_grant", "the refresh token was already used");
  }

  void TakeLease(const std::string& grant_id) {
    const std::string key = absl::StrCat("refresh/", grant_id);
    callbacks_.store().AcquireLease(
        key, kLeaseTtl, liveness_.Guard([this, key, grant_id](absl::StatusOr<std::string> holder) {
          if (!holder.ok()) {
            callbacks_.SendLocalReply(http::ReplyFromStatus(holder.status()));
            return;
          }
          if (holder->empty()) {
            // Another refresh of this grant is running: look again shortly.
            if (context_.clock.Now() >= lease_deadline_) {
              Error(503, "temporarily_unavailable",
                    "another refresh of this authorization is still running; try again");
              return;
            }
            retry_timer_ = callbacks_.dispatcher().CreateTimer(
                liveness_.Guard([this] { CheckRefreshToken(); }));
            retry_timer_->Enable(kLeaseRetry);
            return;
          }
          lease_key_ = key;
          lease_holder_ = std::move(*holder);
          // Read again under the lease: the winner of a race may have rotated since.
          callbacks_.store().GetToken(
              old_hash_,
              liveness_.Guard([this, grant_id](
                                  absl::StatusOr<std::shared_ptr<const store::TokenRecord>> token) {
                if (!token.ok()) {
                  callbacks_.SendLocalReply(http::ReplyFromStatus(token.status()));
                } else if (*token == nullptr) {
                  Error(400, "invalid_grant", "the refresh token is unknown, expired or not yours");
                } else if (!(*token)->successor_hash.empty()) {
                  ReleaseLease();
                  ResendOrRevoke(*token);
                } else {
                  LoadGrantForRefresh(grant_id);
                }
              }));
        }));
  }

  void ReleaseLease() {
    if (!lease_holder_.empty()) {
      callbacks_.store().ReleaseLease(lease_key_, lease_holder_);
      lease_holder_.clear();
    }
  }

  void LoadGrantForRefresh(const std::string& grant_id) {
    callbacks_.store().GetGrant(
        grant_id, liveness_.Guard([this](absl::StatusOr<std::optional<store::Grant>> grant) {
          if (!grant.ok()) {
            callbacks_.SendLocalReply(http::ReplyFromStatus(grant.status()));
          } else if (!grant->has_value()) {
            Error(400, "invalid_grant", "the authorization was revoked");
          } else if ((*grant)->needs_reauthorization) {
            Error(400, "invalid_grant", "the upstream needs more scope: authorize again");
          } else {
            grant_ = std::move(**grant);
            RefreshUpstreamIfDue();
          }
        }));
  }

  // The pair is the one issued: sealed parts open only with their own gateway half, plain parts
  // are compared by hash.
  bool PairHolds(const store::TokenRecord& token, const std::string& gateway_half,
                 const std::string& upstream_part) const {
    if (!token.upstream_part_hash.empty()) {
      return crypto::ConstantTimeEquals(crypto::SecretHash(upstream_part),
                                        token.upstream_part_hash);
    }
    return token::Unseal(context_.keys, upstream_part, gateway_half).ok();
  }

  void RefreshUpstreamIfDue() {
    const absl::Time now = context_.clock.Now();
    const bool due = grant_.upstream_expires_at.has_value() &&
                     *grant_.upstream_expires_at - now < kUpstreamRefreshMargin;
    if (!due) {
      Rotate();
      return;
    }
    if (grant_.upstream_refresh_token.empty()) {
      if (*grant_.upstream_expires_at <= now) {
        Error(400, "invalid_grant", "the upstream authorization expired: authorize again");
        return;
      }
      Rotate();  // what is left of the upstream token is all there is
      return;
    }
    prepare_ = context_.upstream.Prepare(
        callbacks_.http_client(), callbacks_.store(),
        liveness_.Guard([this](absl::StatusOr<std::shared_ptr<const oauth::UpstreamSetup>> setup) {
          if (!setup.ok()) {
            if (oauth::IsTransient(setup.status())) {
              Error(503, "temporarily_unavailable", "the upstream cannot be reached; try again");
            } else {
              Error(400, "invalid_grant", "the upstream cannot refresh: authorize again");
            }
            return;
          }
          refresh_ = context_.upstream.Refresh(
              callbacks_.http_client(), **setup, grant_.upstream_refresh_token,
              liveness_.Guard([this](absl::StatusOr<oauth::UpstreamTokens> tokens) {
                OnUpstreamRefreshed(std::move(tokens));
              }));
        }));
  }

  void OnUpstreamRefreshed(absl::StatusOr<oauth::UpstreamTokens> tokens) {
    if (!tokens.ok()) {
      log::Warning(absl::StrCat("the upstream did not refresh a grant of client ",
                                credentials_.client_id, ": ", tokens.status().message()));
      // Only the upstream saying no ends the authorization; a network failure or an upstream
      // in trouble is worth another try with the same refresh token (nothing was rotated).
      if (oauth::IsTransient(tokens.status())) {
        Error(503, "temporarily_unavailable",
              "the upstream could not refresh the authorization now; try again");
      } else {
        Error(400, "invalid_grant", "the upstream refused the refresh; authorize again");
      }
      return;
    }
    const absl::Time now = context_.clock.Now();
    grant_.upstream_access_token = tokens->access_token;
    if (!tokens->refresh_token.empty()) {
      grant_.upstream_refresh_token = tokens->refresh_token;  // rotated upstream: keep the new one
    }
    grant_.upstream_expires_at = tokens->expires_in.has_value()
                                     ? std::optional<absl::Time>(now + *tokens->expires_in)
                                     : std::nullopt;
    // Stored before anything else can fail: a rotated upstream refresh token is never lost.
    callbacks_.store().UpdateGrant(grant_, liveness_.Guard([this](absl::Status status) {
      if (status.code() == absl::StatusCode::kNotFound) {
        Error(400, "invalid_grant", "the authorization was revoked");
      } else if (!status.ok()) {
        callbacks_.SendLocalReply(http::ReplyFromStatus(status));
      } else {
        Rotate();
      }
    }));
  }

  void Rotate() {
    oauth::MintedTokens minted =
        oauth::MintTokens(grant_, context_.config.tokens, context_.keys, context_.clock.Now());
    const std::string scope = form_.Has("scope") ? form_.Get("scope") : grant_.scope;
    minted.access.scope = scope;
    minted.refresh.scope = grant_.scope;  // the refresh token keeps what was granted
    const std::string body = oauth::TokenResponseBody(minted, scope);
    callbacks_.store().RotateRefresh(
        old_hash_, std::move(minted.access), std::move(minted.refresh),
        oauth::SealGraceResponse(gateway_half_, body),
        liveness_.Guard([this, body](absl::StatusOr<store::RotateOutcome> outcome) {
          ReleaseLease();
          if (!outcome.ok()) {
            callbacks_.SendLocalReply(http::ReplyFromStatus(outcome.status()));
          } else if (*outcome == store::RotateOutcome::kRotated) {
            context_.server_state.metrics.Add(Counter::kTokensRefreshed);
            SendTokens(body);
          } else if (*outcome == store::RotateOutcome::kReplayed) {
            CheckRefreshToken();  // rotated under us after all (the lease lapsed): see it as it is
          } else {
            Error(400, "invalid_grant", "the refresh token is unknown, expired or not yours");
          }
        }));
  }

  FilterCallbacks& callbacks_;
  const FactoryContext context_;
  bool answered_ = false;
  oauth::Form form_;
  oauth::ClientCredentials credentials_;
  std::string scratch_;
  std::string code_hash_;
  std::string gateway_half_;
  std::string upstream_part_;
  std::string old_hash_;
  absl::Time lease_deadline_;
  std::string lease_key_;
  std::string lease_holder_;
  std::unique_ptr<Timer> retry_timer_;
  store::Grant grant_;
  std::unique_ptr<oauth::Operation> prepare_;
  std::unique_ptr<oauth::Operation> refresh_;
  Liveness liveness_;
};

}  // namespace

absl::StatusOr<FilterFactoryFn> TokenExchangeFactory::CreateFilterFactory(
    const config::Node& config, FactoryContext& context) const {
  return ContextOnlyFactory<TokenExchangeFilter>(config, context);
}

}  // namespace gateway::filters

#include "source/filters/bearer_split.h"

#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "source/common/config/config_map.h"
#include "source/common/liveness.h"
#include "source/common/token/access_check.h"
#include "source/filters/oauth_endpoint.h"

namespace gateway::filters {
namespace {

bool QueryHasAccessToken(absl::string_view query) {
  for (absl::string_view pair : absl::StrSplit(query, '&')) {
    if (absl::StartsWith(pair, "access_token=") || pair == "access_token") {
      return true;
    }
  }
  return false;
}

// Parsed once, shared by every request.
struct BearerSplitConfig {
  explicit BearerSplitConfig(const FactoryContext& context)
      : context(context), resource(absl::StripSuffix(context.config.ResourceUrl(), "/")) {}

  const FactoryContext context;
  const std::string resource;  // what tokens must have been issued for, without a trailing '/'
};

class BearerSplitFilter : public Filter {
 public:
  BearerSplitFilter(FilterCallbacks& callbacks, std::shared_ptr<const BearerSplitConfig> config)
      : callbacks_(callbacks), config_(std::move(config)) {}

  FilterStatus OnRequestHeaders() override {
    RequestContext& request = callbacks_.context();
    if (request.request.method == "OPTIONS") {
      return FilterStatus::kContinue;
    }
    if (QueryHasAccessToken(request.request.query)) {
      Refuse("invalid_request", "send the token in the Authorization header, not the query");
      return FilterStatus::kStopIteration;
    }
    // One pass finds the Authorization field and makes sure there is no second one.
    const std::string* authorization = nullptr;
    for (const auto& [name, value] : request.request.headers) {
      if (!http::SameFieldName(name, "authorization")) {
        continue;
      }
      if (authorization != nullptr) {
        Refuse("invalid_request", "more than one Authorization header");
        return FilterStatus::kStopIteration;
      }
      authorization = &value;
    }
    if (authorization == nullptr) {
      Refuse("", "");
      return FilterStatus::kStopIteration;
    }
    // The check lives on the stack while the store answers from memory (every backend but a
    // redis cache miss), and moves to the heap only to wait for a lookup.
    token::AccessCheck check;
    if (token::AccessError error = check.Parse(*authorization);
        error != token::AccessError::kNone) {
      RefuseToken(error);
      return FilterStatus::kStopIteration;
    }
    store::Store& store = callbacks_.store();
    // Read before the lookup: a revocation after it changes the generation.
    const uint64_t generation = store.TokenGeneration();
    if (const std::shared_ptr<const store::TokenRecord>* vouched =
            check.VouchedRecord(generation, config_->context.clock.Now())) {
      return Validate(check, *vouched, generation) ? FilterStatus::kContinue
                                                   : FilterStatus::kStopIteration;
    }
    std::shared_ptr<const store::TokenRecord> record;
    if (store.GetTokenNow(check.token_hash(), &record)) {
      return Validate(check, record, generation) ? FilterStatus::kContinue
                                                 : FilterStatus::kStopIteration;
    }
    pending_ = std::make_unique<token::AccessCheck>(check);
    store.GetToken(
        std::string(check.token_hash()),
        liveness_.Guard(
            [this, generation](absl::StatusOr<std::shared_ptr<const store::TokenRecord>> record) {
              if (!record.ok()) {
                callbacks_.SendLocalReply(http::ReplyFromStatus(record.status()));
                return;
              }
              if (Validate(*pending_, *record, generation)) {
                callbacks_.ContinueChain();
              }
            }));
    return FilterStatus::kStopIteration;
  }

 private:
  // Validates the store's record against the presented pair; on success fills the context, on
  // failure answers 401. Returns whether the request may go on.
  // `generation` is the store's token generation read before `token` was looked up.
  bool Validate(token::AccessCheck& check, const std::shared_ptr<const store::TokenRecord>& token,
                uint64_t generation) {
    RequestContext& request = callbacks_.context();
    token::AccessError error = check.Validate(token, generation, config_->resource,
                                              config_->context.keys, request.upstream_token);
    if (error != token::AccessError::kNone) {
      RefuseToken(error);
      return false;
    }
    request.user = token->user;
    request.client_id = token->client_id;
    request.token = token;
    return true;
  }

  void RefuseToken(token::AccessError error) { Refuse("invalid_token", token::Describe(error)); }

  // RFC 6750 section 3.1: a malformed request (invalid_request) is a 400, a missing or bad
  // token a 401; both carry the challenge.
  void Refuse(absl::string_view error, absl::string_view description) {
    http::LocalReply reply =
        error.empty()
            ? http::ErrorReply(401, "invalid_token", "a token is required")
            : http::ErrorReply(error == "invalid_request" ? 400 : 401, error, description);
    reply.headers.Add("WWW-Authenticate",
                      BearerChallenge(config_->context.config, error, description));
    callbacks_.SendLocalReply(std::move(reply));
  }

  FilterCallbacks& callbacks_;
  const std::shared_ptr<const BearerSplitConfig> config_;
  std::unique_ptr<token::AccessCheck> pending_;  // while the store looks the half up
  Liveness liveness_;
};

}  // namespace

std::string BearerChallenge(const Config& config, absl::string_view error,
                            absl::string_view description) {
  const std::string metadata = absl::StrCat(
      config.listener.public_url, "/.well-known/oauth-protected-resource", config.oauth.mcp_path);
  if (error.empty()) {
    return absl::StrCat("Bearer resource_metadata=\"", metadata, "\"");
  }
  // The description is the gateway's own text: no quote or backslash to escape.
  return absl::StrCat("Bearer error=\"", error, "\", error_description=\"", description,
                      "\", resource_metadata=\"", metadata, "\"");
}

absl::StatusOr<FilterFactoryFn> BearerSplitFactory::CreateFilterFactory(
    const config::Node& config, FactoryContext& context) const {
  config::MapReader reader(config);
  if (absl::Status status = reader.Finish(); !status.ok()) {
    return status;
  }
  auto shared = std::make_shared<const BearerSplitConfig>(context);
  return [shared](FilterCallbacks& callbacks) -> std::unique_ptr<Filter> {
    return std::make_unique<BearerSplitFilter>(callbacks, shared);
  };
}

}  // namespace gateway::filters

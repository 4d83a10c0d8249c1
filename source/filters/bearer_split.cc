#include "source/filters/bearer_split.h"

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "source/common/crypto.h"
#include "source/common/liveness.h"
#include "source/common/token/token_pair.h"
#include "source/filters/oauth_endpoint.h"

namespace gateway::filters {
namespace {

// Far beyond any real token pair (a sealed GitHub pair is about 160 characters); a longer one is
// refused before any work is spent on it.
constexpr size_t kMaxTokenBytes = 4096;

bool QueryHasAccessToken(absl::string_view query) {
  for (absl::string_view pair : absl::StrSplit(query, '&')) {
    if (absl::StartsWith(pair, "access_token=") || pair == "access_token") {
      return true;
    }
  }
  return false;
}

class BearerSplitFilter : public Filter {
 public:
  BearerSplitFilter(FilterCallbacks& callbacks, const FactoryContext& context)
      : callbacks_(callbacks), context_(context) {}

  FilterStatus OnRequestHeaders() override {
    RequestContext& request = callbacks_.context();
    if (request.request.method == "OPTIONS") {
      return FilterStatus::kContinue;
    }
    if (QueryHasAccessToken(request.request.query)) {
      Refuse("invalid_request", "send the token in the Authorization header, not the query");
      return FilterStatus::kStopIteration;
    }
    const http::HeaderMap& headers = request.request.headers;
    if (headers.Count("authorization") > 1) {
      Refuse("invalid_request", "more than one Authorization header");
      return FilterStatus::kStopIteration;
    }
    const std::string* authorization = headers.Get("authorization");
    if (authorization == nullptr) {
      Refuse("", "");
      return FilterStatus::kStopIteration;
    }
    absl::string_view value = *authorization;
    if (value.size() < 7 || !absl::EqualsIgnoreCase(value.substr(0, 7), "bearer ")) {
      Refuse("invalid_token", "the Authorization header is not a Bearer token");
      return FilterStatus::kStopIteration;
    }
    const absl::string_view token = absl::StripAsciiWhitespace(value.substr(7));
    if (token.empty() || token.size() > kMaxTokenBytes) {
      Refuse("invalid_token", "the token is empty or too long");
      return FilterStatus::kStopIteration;
    }
    absl::StatusOr<token::SplitPair> pair = token::DecodePair(token, scratch_);
    if (!pair.ok()) {
      Refuse("invalid_token", "the token is not one this gateway issued");
      return FilterStatus::kStopIteration;
    }
    gateway_half_ = pair->gateway_half;
    upstream_part_ = pair->upstream_part;
    request.token_hash = crypto::SecretHash(gateway_half_);
    // Success resumes the chain from the callback: at once with a memory store (which counts
    // as kContinue), later with a network store.
    callbacks_.store().GetToken(
        request.token_hash,
        liveness_.Guard([this](absl::StatusOr<std::shared_ptr<const store::TokenRecord>> record) {
          if (Check(record)) {
            callbacks_.ContinueChain();
          }
        }));
    return FilterStatus::kStopIteration;
  }

 private:
  // Validates the record against the presented pair; on success fills the context, on failure
  // answers 401. Returns whether the request may go on.
  bool Check(const absl::StatusOr<std::shared_ptr<const store::TokenRecord>>& record) {
    if (!record.ok()) {
      callbacks_.SendLocalReply(http::ReplyFromStatus(record.status()));
      return false;
    }
    const store::TokenRecord* token = record->get();
    if (token == nullptr || token->kind != store::TokenKind::kAccess) {
      Refuse("invalid_token", "the token is unknown, expired or revoked");
      return false;
    }
    if (absl::StripSuffix(token->resource, "/") !=
        absl::StripSuffix(context_.config.ResourceUrl(), "/")) {
      Refuse("invalid_token", "the token was issued for another resource");
      return false;
    }
    RequestContext& request = callbacks_.context();
    if (!token->upstream_part_hash.empty()) {
      if (!crypto::ConstantTimeEquals(crypto::SecretHash(upstream_part_),
                                      token->upstream_part_hash)) {
        Refuse("invalid_token", "the token's halves do not belong together");
        return false;
      }
      request.upstream_token = std::string(upstream_part_);
    } else {
      absl::StatusOr<std::string> upstream =
          token::Unseal(context_.keys, upstream_part_, gateway_half_);
      if (!upstream.ok()) {
        Refuse("invalid_token", "the token's halves do not belong together");
        return false;
      }
      request.upstream_token = std::move(*upstream);
    }
    if (!token::IsB64Token(request.upstream_token)) {
      request.upstream_token.clear();
      Refuse("invalid_token", "the token's upstream half is not a valid bearer token");
      return false;
    }
    request.user = token->user;
    request.client_id = token->client_id;
    request.grant_id = token->grant_id;
    return true;
  }

  // RFC 6750 section 3.1: a malformed request (invalid_request) is a 400, a missing or bad
  // token a 401; both carry the challenge.
  void Refuse(absl::string_view error, absl::string_view description) {
    http::LocalReply reply =
        error.empty()
            ? http::ErrorReply(401, "invalid_token", "a token is required")
            : http::ErrorReply(error == "invalid_request" ? 400 : 401, error, description);
    reply.headers.Add("WWW-Authenticate", BearerChallenge(context_.config, error, description));
    callbacks_.SendLocalReply(std::move(reply));
  }

  FilterCallbacks& callbacks_;
  const FactoryContext context_;
  std::string scratch_;  // the decoded pair; the halves below point into it
  absl::string_view gateway_half_;
  absl::string_view upstream_part_;
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
  return ContextOnlyFactory<BearerSplitFilter>(config, context);
}

}  // namespace gateway::filters

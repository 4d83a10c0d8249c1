#include "source/common/oauth/token_issuer.h"

#include <algorithm>

#include "source/common/crypto.h"
#include "source/common/json.h"
#include "source/common/token/token_pair.h"

namespace gateway::oauth {
namespace {

// Plain format has nothing to pair with when the upstream issued no refresh token; this stands in.
constexpr char kNoUpstreamToken[] = "-";

struct Half {
  std::string token;
  store::TokenRecord record;
};

Half MakeHalf(const store::Grant& grant, store::TokenKind kind, const std::string& upstream_token,
              const TokensConfig& config, const token::KeyRing& keys, absl::Time expires_at) {
  Half half;
  const std::string gateway_half = crypto::RandomToken();
  std::string upstream_part;
  if (config.sealed) {
    upstream_part = token::Seal(keys, upstream_token, gateway_half);
  } else {
    upstream_part = upstream_token.empty() ? kNoUpstreamToken : upstream_token;
    half.record.upstream_part_hash = crypto::SecretHash(upstream_part);
  }
  half.token = token::EncodePair(gateway_half, upstream_part);
  half.record.token_hash = crypto::SecretHash(gateway_half);
  half.record.kind = kind;
  half.record.grant_id = grant.grant_id;
  half.record.user = grant.user;
  half.record.client_id = grant.client_id;
  half.record.resource = grant.resource;
  half.record.scope = grant.scope;
  half.record.expires_at = expires_at;
  return half;
}

}  // namespace

MintedTokens MintTokens(const store::Grant& grant, const TokensConfig& config,
                        const token::KeyRing& keys, absl::Time now) {
  MintedTokens out;
  out.expires_in = config.access_ttl;
  if (grant.upstream_expires_at.has_value()) {
    // The client must come back before the upstream token runs out (DESIGN.md, "Tokens").
    out.expires_in =
        std::max(absl::Seconds(1), std::min(out.expires_in, *grant.upstream_expires_at - now));
  }
  out.expires_in = absl::Trunc(out.expires_in, absl::Seconds(1));
  Half access = MakeHalf(grant, store::TokenKind::kAccess, grant.upstream_access_token, config,
                         keys, now + out.expires_in);
  Half refresh = MakeHalf(grant, store::TokenKind::kRefresh, grant.upstream_refresh_token, config,
                          keys, now + config.refresh_ttl);
  out.access_token = std::move(access.token);
  out.access = std::move(access.record);
  out.refresh_token = std::move(refresh.token);
  out.refresh = std::move(refresh.record);
  return out;
}

std::string TokenResponseBody(const MintedTokens& tokens, const std::string& scope) {
  json::Writer writer;
  writer->StartObject();
  writer.Key("access_token");
  writer.String(tokens.access_token);
  writer.Key("token_type");
  writer.String("Bearer");
  writer.Key("expires_in");
  writer->Int64(absl::ToInt64Seconds(tokens.expires_in));
  writer.Key("refresh_token");
  writer.String(tokens.refresh_token);
  if (!scope.empty()) {
    writer.Key("scope");
    writer.String(scope);
  }
  writer->EndObject();
  return writer.Finish();
}

namespace {

token::KeyRing GraceKey(absl::string_view refresh_gateway_half) {
  return *token::KeyRing::Create(
      {{"grace", crypto::HmacSha256(refresh_gateway_half, "mcp-oauth-gateway refresh grace")}});
}

constexpr char kGraceBinding[] = "refresh grace response";

}  // namespace

std::string SealGraceResponse(absl::string_view refresh_gateway_half, absl::string_view body) {
  return token::Seal(GraceKey(refresh_gateway_half), body, kGraceBinding);
}

absl::StatusOr<std::string> OpenGraceResponse(absl::string_view refresh_gateway_half,
                                              absl::string_view sealed) {
  return token::Unseal(GraceKey(refresh_gateway_half), sealed, kGraceBinding);
}

}  // namespace gateway::oauth

#include "source/common/token/access_check.h"

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"

namespace gateway::token {
namespace {

// "Bearer " with the scheme in any case (RFC 7235 section 2.1), inline: a call out to
// absl::EqualsIgnoreCase cost a few percent of the whole check.
bool StartsWithBearerScheme(absl::string_view value) {
  constexpr absl::string_view kScheme = "bearer ";
  if (value.size() < kScheme.size()) {
    return false;
  }
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(value[i])) != kScheme[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::string_view Describe(AccessError error) {
  switch (error) {
    case AccessError::kNone:
      return "";
    case AccessError::kNotBearer:
      return "the Authorization header is not a Bearer token";
    case AccessError::kEmptyOrTooLong:
      return "the token is empty or too long";
    case AccessError::kMalformed:
      return "the token is not one this gateway issued";
    case AccessError::kUnknown:
      return "the token is unknown, expired or revoked";
    case AccessError::kOtherResource:
      return "the token was issued for another resource";
    case AccessError::kHalvesMismatch:
      return "the token's halves do not belong together";
    case AccessError::kBadUpstreamToken:
      return "the token's upstream half is not a valid bearer token";
  }
  return "the token is invalid";
}

AccessError AccessCheck::Parse(absl::string_view authorization) {
  hash_length_ = 0;
  if (!StartsWithBearerScheme(authorization)) {
    return AccessError::kNotBearer;
  }
  const absl::string_view token = absl::StripAsciiWhitespace(authorization.substr(7));
  if (token.empty() || token.size() > DecodedPair::kMaxTokenChars) {
    return AccessError::kEmptyOrTooLong;
  }
  if (!pair_.Decode(token)) {
    return AccessError::kMalformed;
  }
  hash_length_ = crypto::SecretHashInto(pair_.gateway_half(), hash_).size();
  return AccessError::kNone;
}

AccessError AccessCheck::Validate(const store::TokenRecord* record, absl::string_view resource,
                                  const KeyRing& keys, std::string& upstream_token) const {
  upstream_token.clear();
  if (record == nullptr || record->kind != store::TokenKind::kAccess) {
    return AccessError::kUnknown;
  }
  if (absl::StripSuffix(record->resource, "/") != resource) {
    return AccessError::kOtherResource;
  }
  if (!record->upstream_part_hash.empty()) {
    crypto::SecretHashBuffer presented;
    if (!crypto::ConstantTimeEquals(crypto::SecretHashInto(pair_.upstream_part(), presented),
                                    record->upstream_part_hash)) {
      return AccessError::kHalvesMismatch;
    }
    upstream_token.assign(pair_.upstream_part().data(), pair_.upstream_part().size());
  } else if (!UnsealInto(keys, pair_.upstream_part(), pair_.gateway_half(), upstream_token)) {
    return AccessError::kHalvesMismatch;
  }
  // No CR or LF (or anything else) can reach the upstream's Authorization header.
  if (!IsB64Token(upstream_token)) {
    upstream_token.clear();
    return AccessError::kBadUpstreamToken;
  }
  return AccessError::kNone;
}

}  // namespace gateway::token

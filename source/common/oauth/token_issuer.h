#pragma once

// Minting the token pairs a client receives for a grant (DESIGN.md, "Tokens"): fresh 256-bit
// gateway halves, the upstream tokens sealed to them (or plain), the records the store keeps
// (hashes only), and the RFC 6749 section 5.1 response body.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "source/common/config/config.h"
#include "source/common/store/records.h"
#include "source/common/token/key_ring.h"

namespace gateway::oauth {

struct MintedTokens {
  std::string access_token;   // what the client holds
  std::string refresh_token;  // what the client holds
  absl::Duration expires_in;  // min(gateway access TTL, what is left of the upstream token)
  store::TokenRecord access;  // what the store keeps
  store::TokenRecord refresh;
};

MintedTokens MintTokens(const store::Grant& grant, const TokensConfig& config,
                        const token::KeyRing& keys, absl::Time now);

// A refresh's token response, sealed for the grace period (TokenRecord::successor_response)
// under a key derived from the gateway half of the refresh token it rotated: only whoever holds
// that refresh token can open it; the store alone (a copy of the database) cannot.
std::string SealGraceResponse(absl::string_view refresh_gateway_half, absl::string_view body);
absl::StatusOr<std::string> OpenGraceResponse(absl::string_view refresh_gateway_half,
                                              absl::string_view sealed);

// {"access_token":..,"token_type":"Bearer","expires_in":..,"refresh_token":..,"scope":..}
std::string TokenResponseBody(const MintedTokens& tokens, const std::string& scope);

}  // namespace gateway::oauth

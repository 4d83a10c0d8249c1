// The Authorization header of every /mcp request, as bearer_split reads it: the Bearer scheme,
// base64url decoding and the split at the first ':' (token::DecodePair), the gateway half's hash,
// the unseal of a sealed upstream part (token::Unseal) or the plain one, and the RFC 6750 b64token
// check of the upstream token that comes out. Round trips check that what the gateway mints is
// what it reads back, and that a sealed part opens only with its own gateway half.
//
// The keys are fixed, so the seed corpus (test/fuzz/corpus/bearer_token) holds tokens that unseal.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "source/common/crypto.h"
#include "source/common/token/key_ring.h"
#include "source/common/token/token_pair.h"
#include "test/fuzz/check.h"

namespace {

using gateway::fuzz::Check;
using gateway::token::KeyRing;

// "k2" seals; "k1" is a rotated-out key that still unseals.
const KeyRing& Keys() {
  static const KeyRing* const keys = [] {
    absl::StatusOr<KeyRing> ring =
        KeyRing::Create({{"k2", std::string(32, 'B')}, {"k1", std::string(32, 'A')}});
    Check(ring.ok(), "the fixed key ring is valid");
    return new KeyRing(std::move(*ring));
  }();
  return *keys;
}

// Seals `upstream_token` for `gateway_half` and checks that it opens again with that half only.
void CheckSealRoundTrip(absl::string_view upstream_token, absl::string_view gateway_half) {
  const std::string sealed = gateway::token::Seal(Keys(), upstream_token, gateway_half);
  Check(gateway::token::IsSealed(sealed), "a sealed part is recognised as sealed");
  absl::StatusOr<std::string> opened = gateway::token::Unseal(Keys(), sealed, gateway_half);
  Check(opened.ok() && *opened == upstream_token, "a sealed part opens to what was sealed");
  const std::string other_half = std::string(gateway_half) + "x";
  Check(!gateway::token::Unseal(Keys(), sealed, other_half).ok(),
        "a sealed part does not open with another gateway half");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);

  // bearer_split: "Bearer " in any case, the token with the whitespace around it stripped.
  absl::string_view token = input;
  if (token.size() >= 7 && absl::EqualsIgnoreCase(token.substr(0, 7), "bearer ")) {
    token = absl::StripAsciiWhitespace(token.substr(7));
  }
  std::string scratch;
  absl::StatusOr<gateway::token::SplitPair> pair = gateway::token::DecodePair(token, scratch);
  if (pair.ok()) {
    const absl::string_view gateway_half = pair->gateway_half;
    const absl::string_view upstream_part = pair->upstream_part;
    Check(!gateway_half.empty() && !upstream_part.empty(), "both halves of a pair are non-empty");
    Check(!absl::StrContains(gateway_half, ':'), "the gateway half holds no ':'");
    Check(gateway::crypto::SecretHash(gateway_half).size() > 0, "the gateway half hashes");

    std::string upstream_token;
    if (gateway::token::IsSealed(upstream_part)) {
      absl::StatusOr<std::string> opened =
          gateway::token::Unseal(Keys(), upstream_part, gateway_half);
      if (opened.ok()) {
        upstream_token = std::move(*opened);
        CheckSealRoundTrip(upstream_token, gateway_half);
      }
    } else {
      upstream_token = std::string(upstream_part);
    }
    if (gateway::token::IsB64Token(upstream_token)) {
      Check(!upstream_token.empty() &&
                upstream_token.find_first_of(" \r\n\t,\"") == std::string::npos,
            "a b64token fits in an Authorization header as it is");
    }

    // What the gateway would mint from these halves decodes to the same halves.
    const std::string encoded = gateway::token::EncodePair(gateway_half, upstream_part);
    std::string scratch_again;
    absl::StatusOr<gateway::token::SplitPair> again =
        gateway::token::DecodePair(encoded, scratch_again);
    Check(
        again.ok() && again->gateway_half == gateway_half && again->upstream_part == upstream_part,
        "EncodePair and DecodePair round-trip");
  }

  // Any upstream token, however odd, seals and opens again, bound to its gateway half.
  CheckSealRoundTrip(input, "fuzz-gateway-half");
  return 0;
}

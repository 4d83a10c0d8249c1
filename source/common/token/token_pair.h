#pragma once

// The tokens a client holds (DESIGN.md "Tokens"): base64url(gateway_half ":" upstream_part), for
// access and refresh tokens alike. The gateway half is a 256-bit random secret (43 base64url
// characters, never a ':'), stored only as a hash. The upstream part is either
//   * sealed (the default): AES-256-GCM of the upstream token under the gateway's current key,
//     with the gateway half as associated data, so halves cannot be swapped between tokens and
//     the client never holds a usable upstream token:
//       0x01 | id length | key id | 12-byte nonce | ciphertext | 16-byte tag
//   * plain (`token_format: plain`, the original tool's format): the upstream token itself.
// Everything here is pure computation, thread-safe, and allocation-light on the checking side.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "source/common/token/key_ring.h"

namespace gateway::token {

// base64url(gateway_half ":" upstream_part), without padding.
std::string EncodePair(absl::string_view gateway_half, absl::string_view upstream_part);

struct SplitPair {
  absl::string_view gateway_half;
  absl::string_view upstream_part;
};
// Decodes `token` into `scratch` and splits it at the first ':'. The views point into `scratch`.
// InvalidArgument for bad base64url, no ':' or an empty half.
absl::StatusOr<SplitPair> DecodePair(absl::string_view token, std::string& scratch);

// Whether `upstream_part` is sealed (as opposed to a plain upstream token).
inline bool IsSealed(absl::string_view upstream_part) {
  return !upstream_part.empty() && upstream_part.front() == '\x01';
}

// Seals `upstream_token` for `gateway_half` under the ring's current key.
std::string Seal(const KeyRing& keys, absl::string_view upstream_token,
                 absl::string_view gateway_half);
// Opens what Seal() made, with whichever key it names. Unauthenticated for anything that was not
// sealed for this `gateway_half` by one of these keys (tampered, swapped, unknown key).
absl::StatusOr<std::string> Unseal(const KeyRing& keys, absl::string_view sealed,
                                   absl::string_view gateway_half);

// RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
// Only such a token may go into an upstream Authorization header.
bool IsB64Token(absl::string_view token);

}  // namespace gateway::token

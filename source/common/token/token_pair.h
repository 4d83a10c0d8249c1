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
#include "source/common/crypto.h"
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

// The same for the per-request check, into a buffer of its own: no allocation. Tokens longer
// than kMaxTokenChars (far beyond any real pair: a sealed GitHub pair is about 160 characters)
// are refused before any work is spent on them.
class DecodedPair {
 public:
  static constexpr size_t kMaxTokenChars = 4096;

  // Decodes and splits `token`; false for a token DecodePair() refuses, or a longer one.
  bool Decode(absl::string_view token);
  absl::string_view gateway_half() const { return absl::string_view(buffer_, colon_); }
  absl::string_view upstream_part() const {
    return absl::string_view(buffer_ + upstream_at_, size_ - upstream_at_);
  }

 private:
  // Offsets rather than views, so that a copy (a check moving to the heap to wait for the
  // store) points into its own buffer.
  char buffer_[crypto::Base64UrlDecodedCapacity(kMaxTokenChars)];
  size_t colon_ = 0;
  size_t upstream_at_ = 0;
  size_t size_ = 0;
};

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
// The same into `out` (whose capacity is reused); false, with `out` empty, where Unseal() fails.
bool UnsealInto(const KeyRing& keys, absl::string_view sealed, absl::string_view gateway_half,
                std::string& out);

// RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
// Only such a token may go into an upstream Authorization header.
bool IsB64Token(absl::string_view token);

}  // namespace gateway::token

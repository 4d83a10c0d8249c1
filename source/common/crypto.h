#pragma once

// The small cryptographic pieces the gateway uses everywhere: random secrets, hashes of secrets,
// constant-time comparison, PKCE, password hashing. OpenSSL underneath; thread-safe.

#include <array>
#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gateway::crypto {

// `length` random bytes from OpenSSL's CSPRNG.
std::string RandomBytes(size_t length);
// A 256-bit random secret as 43 base64url characters: gateway token halves, codes, flow ids.
std::string RandomToken();

// base64url without padding (RFC 4648 section 5), as OAuth uses it.
std::string Base64UrlEncode(absl::string_view data);
// Decodes base64url; padding is accepted but not required. False on any other character
// (whitespace included).
bool Base64UrlDecode(absl::string_view text, std::string* out);
// The most bytes a base64url text of `text_size` characters decodes to.
constexpr size_t Base64UrlDecodedCapacity(size_t text_size) { return text_size / 4 * 3 + 2; }
// Base64UrlDecode() into `out`, which has room for Base64UrlDecodedCapacity(text.size()) bytes,
// for callers on the request path that decode into a buffer they own. The decoded length, or
// nullopt.
std::optional<size_t> Base64UrlDecodeInto(absl::string_view text, char* out);

constexpr size_t kSha256Length = 32;
using Sha256Digest = std::array<unsigned char, kSha256Length>;
// SHA-256 of `data`, 32 raw bytes.
std::string Sha256(absl::string_view data);
// The same into a fixed buffer: no allocation.
void Sha256Into(absl::string_view data, Sha256Digest& out);
// HMAC-SHA256 of `data` under `key`, 32 raw bytes.
std::string HmacSha256(absl::string_view key, absl::string_view data);
// The store key of a secret (token half, code, client secret): base64url(SHA-256(secret)).
// Secrets are never stored; 256-bit random ones need no salt or stretching.
std::string SecretHash(absl::string_view secret);
// SecretHash() into a fixed buffer, for the per-request check; the view points into `out`.
constexpr size_t kSecretHashLength = 43;
using SecretHashBuffer = std::array<char, kSecretHashLength>;
absl::string_view SecretHashInto(absl::string_view secret, SecretHashBuffer& out);

// Compares without leaking where the inputs differ (only the lengths may leak).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// RFC 7636 section 4.2: base64url(SHA-256(verifier)).
std::string PkceS256Challenge(absl::string_view verifier);
// RFC 7636 sections 4.1 and 4.2: a code verifier, and an S256 challenge, are 43 to 128
// characters of [A-Za-z0-9-._~].
bool IsPkceString(absl::string_view text);

// Password hashing for configured users: "scrypt$N$r$p$<salt b64url>$<hash b64url>".
std::string HashPassword(absl::string_view password);
// Checks `password` against a HashPassword() string, in constant time. Errors for a malformed
// hash string; false for a wrong password.
absl::StatusOr<bool> VerifyPassword(absl::string_view password, absl::string_view hashed);
// Whether `text` looks like a HashPassword() string (rather than a plain password).
bool IsPasswordHash(absl::string_view text);

}  // namespace gateway::crypto

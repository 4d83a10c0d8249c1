#pragma once

// The small cryptographic pieces the gateway uses everywhere: random secrets, hashes of secrets,
// constant-time comparison, PKCE, password hashing. OpenSSL underneath; thread-safe.

#include <cstddef>
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
// Decodes base64url; padding is accepted but not required. False on any other character.
bool Base64UrlDecode(absl::string_view text, std::string* out);

// SHA-256 of `data`, 32 raw bytes.
std::string Sha256(absl::string_view data);
// HMAC-SHA256 of `data` under `key`, 32 raw bytes.
std::string HmacSha256(absl::string_view key, absl::string_view data);
// The store key of a secret (token half, code, client secret): base64url(SHA-256(secret)).
// Secrets are never stored; 256-bit random ones need no salt or stretching.
std::string SecretHash(absl::string_view secret);

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

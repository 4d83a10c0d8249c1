// The low-level SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, but EVP's
// provider dispatch doubles the cost of hashing one block (a token half: about 170 against 350 ns
// here, bench/token_bench.cc), and the per-request check hashes one or two of them.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "source/common/crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "source/common/log.h"

namespace gateway::crypto {
namespace {

// scrypt parameters: N = 2^15, r = 8, p = 1 (32 MiB, about 50 ms here). Logins are rate-limited,
// so this only has to make an offline attack on a stolen config expensive.
constexpr uint64_t kScryptN = 1 << 15;
constexpr uint64_t kScryptR = 8;
constexpr uint64_t kScryptP = 1;
constexpr uint64_t kScryptMaxMemory = 64ULL << 20;
constexpr size_t kHashLength = 32;

constexpr char kBase64UrlAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// The 6-bit value of each base64url character; -1 for every other byte.
constexpr std::array<int8_t, 256> kBase64UrlValues = [] {
  std::array<int8_t, 256> values{};
  for (int8_t& value : values) {
    value = -1;
  }
  for (int i = 0; i < 64; ++i) {
    values[static_cast<unsigned char>(kBase64UrlAlphabet[i])] = static_cast<int8_t>(i);
  }
  return values;
}();

// Encodes into `out` (room for (data.size() * 4 + 2) / 3 characters); returns the length.
size_t Base64UrlEncodeInto(absl::string_view data, char* out) {
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  const size_t whole = data.size() / 3 * 3;
  char* at = out;
  for (size_t i = 0; i < whole; i += 3) {
    const uint32_t bits = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
    *at++ = kBase64UrlAlphabet[bits >> 18];
    *at++ = kBase64UrlAlphabet[(bits >> 12) & 63];
    *at++ = kBase64UrlAlphabet[(bits >> 6) & 63];
    *at++ = kBase64UrlAlphabet[bits & 63];
  }
  const size_t rest = data.size() - whole;
  if (rest > 0) {
    const uint32_t bits =
        (uint32_t{in[whole]} << 16) | (rest == 2 ? uint32_t{in[whole + 1]} << 8 : 0);
    *at++ = kBase64UrlAlphabet[bits >> 18];
    *at++ = kBase64UrlAlphabet[(bits >> 12) & 63];
    if (rest == 2) {
      *at++ = kBase64UrlAlphabet[(bits >> 6) & 63];
    }
  }
  return static_cast<size_t>(at - out);
}

bool Scrypt(absl::string_view password, absl::string_view salt, uint64_t n, uint64_t r, uint64_t p,
            unsigned char* out, size_t out_length) {
  return EVP_PBE_scrypt(password.data(), password.size(),
                        reinterpret_cast<const unsigned char*>(salt.data()), salt.size(), n, r, p,
                        kScryptMaxMemory, out, out_length) == 1;
}

}  // namespace

std::string RandomBytes(size_t length) {
  std::string out(length, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(length)) != 1) {
    // Without randomness no secret the gateway makes would be safe: stop rather than go on.
    log::Error("OpenSSL's random generator failed");
    std::abort();
  }
  return out;
}

std::string RandomToken() { return Base64UrlEncode(RandomBytes(32)); }

std::string Base64UrlEncode(absl::string_view data) {
  std::string out((data.size() * 4 + 2) / 3, '\0');
  out.resize(Base64UrlEncodeInto(data, out.data()));
  return out;
}

bool Base64UrlDecode(absl::string_view text, std::string* out) {
  out->resize(Base64UrlDecodedCapacity(text.size()));
  std::optional<size_t> length = Base64UrlDecodeInto(text, out->data());
  out->resize(length.value_or(0));
  return length.has_value();
}

std::optional<size_t> Base64UrlDecodeInto(absl::string_view text, char* out) {
  // RFC 4648 section 3.2: padding, when present, makes whole quanta of four characters.
  if (!text.empty() && text.back() == '=') {
    if (text.size() % 4 != 0) {
      return std::nullopt;
    }
    text.remove_suffix(text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1);
  }
  if (text.size() % 4 == 1) {
    return std::nullopt;  // six bits cannot make a byte
  }
  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  const size_t whole = text.size() / 4 * 4;
  char* at = out;
  // Invalid characters are -1: OR-ing every value of a quantum shows one as a negative number.
  int32_t invalid = 0;
  for (size_t i = 0; i < whole; i += 4) {
    const int32_t a = kBase64UrlValues[in[i]];
    const int32_t b = kBase64UrlValues[in[i + 1]];
    const int32_t c = kBase64UrlValues[in[i + 2]];
    const int32_t d = kBase64UrlValues[in[i + 3]];
    invalid |= a | b | c | d;
    const uint32_t bits = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                          (static_cast<uint32_t>(c) << 6) | static_cast<uint32_t>(d);
    *at++ = static_cast<char>(bits >> 16);
    *at++ = static_cast<char>(bits >> 8);
    *at++ = static_cast<char>(bits);
  }
  const size_t rest = text.size() - whole;
  if (rest > 0) {
    const int32_t a = kBase64UrlValues[in[whole]];
    const int32_t b = kBase64UrlValues[in[whole + 1]];
    const int32_t c = rest == 3 ? kBase64UrlValues[in[whole + 2]] : 0;
    invalid |= a | b | c;
    const uint32_t bits = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                          (static_cast<uint32_t>(c) << 6);
    *at++ = static_cast<char>(bits >> 16);
    if (rest == 3) {
      *at++ = static_cast<char>(bits >> 8);
    }
  }
  if (invalid < 0) {
    return std::nullopt;
  }
  return static_cast<size_t>(at - out);
}

std::string Sha256(absl::string_view data) {
  Sha256Digest digest;
  Sha256Into(data, digest);
  return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

void Sha256Into(absl::string_view data, Sha256Digest& out) {
  SHA256_CTX context;
  SHA256_Init(&context);
  SHA256_Update(&context, data.data(), data.size());
  SHA256_Final(out.data(), &context);
}

std::string HmacSha256(absl::string_view key, absl::string_view data) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       reinterpret_cast<unsigned char*>(out.data()), &length);
  out.resize(length);
  return out;
}

std::string SecretHash(absl::string_view secret) {
  SecretHashBuffer buffer;
  return std::string(SecretHashInto(secret, buffer));
}

absl::string_view SecretHashInto(absl::string_view secret, SecretHashBuffer& out) {
  Sha256Digest digest;
  Sha256Into(secret, digest);
  const size_t length = Base64UrlEncodeInto(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()), out.data());
  return absl::string_view(out.data(), length);
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  // Eight bytes at a time, every difference OR-ed in and no branch on the data: what
  // CRYPTO_memcmp does a byte at a time, at about a fifth of its cost on a token's length.
  uint64_t difference = 0;
  size_t i = 0;
  for (; i + 8 <= a.size(); i += 8) {
    uint64_t x;
    uint64_t y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    difference |= x ^ y;
    // An empty barrier the compiler cannot see through: it may not end the loop early once a
    // difference is known.
    __asm__ volatile("" : "+r"(difference));
  }
  for (; i < a.size(); ++i) {
    difference |= static_cast<uint8_t>(a[i] ^ b[i]);
    __asm__ volatile("" : "+r"(difference));
  }
  return difference == 0;
}

std::string PkceS256Challenge(absl::string_view verifier) { return SecretHash(verifier); }

bool IsPkceString(absl::string_view text) {
  if (text.size() < 43 || text.size() > 128) {
    return false;
  }
  for (char c : text) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_' &&
        c != '~') {
      return false;
    }
  }
  return true;
}

std::string HashPassword(absl::string_view password) {
  const std::string salt = RandomBytes(16);
  unsigned char hash[kHashLength];
  if (!Scrypt(password, salt, kScryptN, kScryptR, kScryptP, hash, sizeof(hash))) {
    log::Error("scrypt failed");
    std::abort();
  }
  return absl::StrCat(
      "scrypt$", kScryptN, "$", kScryptR, "$", kScryptP, "$", Base64UrlEncode(salt), "$",
      Base64UrlEncode(absl::string_view(reinterpret_cast<char*>(hash), sizeof(hash))));
}

bool IsPasswordHash(absl::string_view text) { return absl::StartsWith(text, "scrypt$"); }

absl::StatusOr<bool> VerifyPassword(absl::string_view password, absl::string_view hashed) {
  std::vector<absl::string_view> parts = absl::StrSplit(hashed, '$');
  uint64_t n = 0;
  uint64_t r = 0;
  uint64_t p = 0;
  std::string salt;
  std::string expected;
  if (parts.size() != 6 || parts[0] != "scrypt" || !absl::SimpleAtoi(parts[1], &n) ||
      !absl::SimpleAtoi(parts[2], &r) || !absl::SimpleAtoi(parts[3], &p) ||
      !Base64UrlDecode(parts[4], &salt) || !Base64UrlDecode(parts[5], &expected) ||
      expected.empty() || expected.size() > 64 || n < 2 || (n & (n - 1)) != 0 ||
      n * r * 128 > kScryptMaxMemory) {
    return absl::InvalidArgumentError(
        "not a password hash made by `mcp-oauth-gateway --hash-password`");
  }
  std::string actual(expected.size(), '\0');
  if (!Scrypt(password, salt, n, r, p, reinterpret_cast<unsigned char*>(actual.data()),
              actual.size())) {
    return absl::InternalError("scrypt failed");
  }
  return ConstantTimeEquals(actual, expected);
}

}  // namespace gateway::crypto

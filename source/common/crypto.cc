#include "source/common/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
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

std::string Base64UrlEncode(absl::string_view data) { return absl::WebSafeBase64Escape(data); }

bool Base64UrlDecode(absl::string_view text, std::string* out) {
  return absl::WebSafeBase64Unescape(text, out);
}

// SHA-256 with the implementation fetched once and a context per thread, reused: the one-shot
// SHA256() of OpenSSL 3 fetches and allocates on every call, several times the hashing itself
// for a token (bench/token_bench.cc).
std::string Sha256(absl::string_view data) {
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct ContextDeleter {
    void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
  };
  thread_local std::unique_ptr<EVP_MD_CTX, ContextDeleter> context(EVP_MD_CTX_new());
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  if (sha256 == nullptr || context == nullptr ||
      EVP_DigestInit_ex2(context.get(), sha256, nullptr) != 1 ||
      EVP_DigestUpdate(context.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(context.get(), reinterpret_cast<unsigned char*>(out.data()), nullptr) !=
          1) {
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
           reinterpret_cast<unsigned char*>(out.data()));
  }
  return out;
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

std::string SecretHash(absl::string_view secret) { return Base64UrlEncode(Sha256(secret)); }

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string PkceS256Challenge(absl::string_view verifier) {
  return Base64UrlEncode(Sha256(verifier));
}

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

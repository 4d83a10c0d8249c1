#include "source/common/token/token_pair.h"

#include <openssl/evp.h>

#include <memory>

#include "source/common/crypto.h"

namespace gateway::token {
namespace {

constexpr size_t kNonceLength = 12;
constexpr size_t kTagLength = 16;
constexpr char kSealedVersion = '\x01';

struct CipherContextDeleter {
  void operator()(EVP_CIPHER_CTX* context) const { EVP_CIPHER_CTX_free(context); }
};

// One context per thread, reused: allocating one costs more than the cipher work on a token.
EVP_CIPHER_CTX* ThreadCipherContext() {
  thread_local std::unique_ptr<EVP_CIPHER_CTX, CipherContextDeleter> context(EVP_CIPHER_CTX_new());
  return context.get();
}

// AES-256-GCM, fetched from OpenSSL's provider once: the legacy EVP_aes_256_gcm() constant makes
// OpenSSL 3 look the implementation up again on every initialisation.
const EVP_CIPHER* Aes256Gcm() {
  static const EVP_CIPHER* const cipher = [] {
    const EVP_CIPHER* fetched = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    return fetched != nullptr ? fetched : EVP_aes_256_gcm();
  }();
  return cipher;
}

const unsigned char* Bytes(absl::string_view data) {
  return reinterpret_cast<const unsigned char*>(data.data());
}

}  // namespace

std::string EncodePair(absl::string_view gateway_half, absl::string_view upstream_part) {
  std::string joined;
  joined.reserve(gateway_half.size() + 1 + upstream_part.size());
  joined.append(gateway_half.data(), gateway_half.size());
  joined.push_back(':');
  joined.append(upstream_part.data(), upstream_part.size());
  return crypto::Base64UrlEncode(joined);
}

absl::StatusOr<SplitPair> DecodePair(absl::string_view token, std::string& scratch) {
  scratch.clear();
  if (!crypto::Base64UrlDecode(token, &scratch)) {
    return absl::InvalidArgumentError("the token is not base64url");
  }
  const size_t colon = scratch.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == scratch.size()) {
    return absl::InvalidArgumentError("the token is not a gateway token pair");
  }
  absl::string_view all(scratch);
  return SplitPair{all.substr(0, colon), all.substr(colon + 1)};
}

std::string Seal(const KeyRing& keys, absl::string_view upstream_token,
                 absl::string_view gateway_half) {
  const KeyRing::Key& key = keys.current();
  const std::string nonce = crypto::RandomBytes(kNonceLength);
  std::string out;
  out.reserve(2 + key.id.size() + kNonceLength + upstream_token.size() + kTagLength);
  out.push_back(kSealedVersion);
  out.push_back(static_cast<char>(key.id.size()));
  out += key.id;
  out += nonce;
  const size_t ciphertext_at = out.size();
  out.resize(ciphertext_at + upstream_token.size() + kTagLength);
  auto* ciphertext = reinterpret_cast<unsigned char*>(out.data() + ciphertext_at);

  EVP_CIPHER_CTX* context = ThreadCipherContext();
  int length = 0;
  int final_length = 0;
  const bool ok =
      EVP_EncryptInit_ex(context, Aes256Gcm(), nullptr, Bytes(key.secret), Bytes(nonce)) == 1 &&
      EVP_EncryptUpdate(context, nullptr, &length, Bytes(gateway_half),
                        static_cast<int>(gateway_half.size())) == 1 &&
      EVP_EncryptUpdate(context, ciphertext, &length, Bytes(upstream_token),
                        static_cast<int>(upstream_token.size())) == 1 &&
      EVP_EncryptFinal_ex(context, ciphertext + length, &final_length) == 1 &&
      EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, kTagLength,
                          ciphertext + upstream_token.size()) == 1;
  if (!ok) {
    // AES-GCM with valid parameters does not fail; if OpenSSL says otherwise, no token is better
    // than a broken one.
    std::abort();
  }
  return out;
}

absl::StatusOr<std::string> Unseal(const KeyRing& keys, absl::string_view sealed,
                                   absl::string_view gateway_half) {
  const absl::Status invalid = absl::UnauthenticatedError("the token's upstream part is invalid");
  if (sealed.size() < 2 || sealed[0] != kSealedVersion) {
    return invalid;
  }
  const size_t id_length = static_cast<unsigned char>(sealed[1]);
  if (sealed.size() < 2 + id_length + kNonceLength + kTagLength) {
    return invalid;
  }
  const KeyRing::Key* key = keys.Find(sealed.substr(2, id_length));
  if (key == nullptr) {
    return invalid;  // sealed with a key this gateway no longer has (or never had)
  }
  const absl::string_view nonce = sealed.substr(2 + id_length, kNonceLength);
  const absl::string_view body = sealed.substr(2 + id_length + kNonceLength);
  const absl::string_view ciphertext = body.substr(0, body.size() - kTagLength);
  std::string tag(body.substr(ciphertext.size()));
  std::string plaintext(ciphertext.size(), '\0');

  EVP_CIPHER_CTX* context = ThreadCipherContext();
  int length = 0;
  int final_length = 0;
  const bool ok =
      EVP_DecryptInit_ex(context, Aes256Gcm(), nullptr, Bytes(key->secret), Bytes(nonce)) == 1 &&
      EVP_DecryptUpdate(context, nullptr, &length, Bytes(gateway_half),
                        static_cast<int>(gateway_half.size())) == 1 &&
      EVP_DecryptUpdate(context, reinterpret_cast<unsigned char*>(plaintext.data()), &length,
                        Bytes(ciphertext), static_cast<int>(ciphertext.size())) == 1 &&
      EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, kTagLength, tag.data()) == 1 &&
      EVP_DecryptFinal_ex(context, reinterpret_cast<unsigned char*>(plaintext.data()) + length,
                          &final_length) == 1;
  if (!ok) {
    return invalid;
  }
  return plaintext;
}

bool IsB64Token(absl::string_view token) {
  size_t i = 0;
  for (; i < token.size(); ++i) {
    const char c = token[i];
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' ||
                         c == '+' || c == '/';
    if (!allowed) {
      break;
    }
  }
  if (i == 0) {
    return false;
  }
  for (; i < token.size(); ++i) {
    if (token[i] != '=') {
      return false;
    }
  }
  return true;
}

}  // namespace gateway::token

#include "source/common/token/token_pair.h"

#include <openssl/evp.h>

#include <array>
#include <memory>
#include <optional>
#include <vector>

#include "source/common/crypto.h"

namespace gateway::token {
namespace {

constexpr size_t kNonceLength = 12;
constexpr size_t kTagLength = 16;
constexpr char kSealedVersion = '\x01';

struct CipherContextDeleter {
  void operator()(EVP_CIPHER_CTX* context) const { EVP_CIPHER_CTX_free(context); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherContextDeleter>;

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

// A thread's cipher contexts, one per key and direction, with the key schedule set up once:
// initialising a context with a key costs more than the cipher work on a token, so a request
// only sets the nonce. Keyed by the ring's serial and the key id (a ring never changes).
class ThreadCipherContexts {
 public:
  // The context for `key` of `keys`, ready for a nonce; nullptr if OpenSSL refused the key.
  EVP_CIPHER_CTX* Get(const KeyRing& keys, const KeyRing::Key& key, bool encrypt) {
    for (Entry& entry : entries_) {
      if (entry.serial == keys.serial() && entry.encrypt == encrypt && entry.key_id == key.id) {
        return entry.context.get();
      }
    }
    if (entries_.size() >= kMaxEntries) {
      entries_.clear();  // rings come and go in tests only; a gateway has one
    }
    CipherContext context(EVP_CIPHER_CTX_new());
    if (context == nullptr || EVP_CipherInit_ex(context.get(), Aes256Gcm(), nullptr,
                                                Bytes(key.secret), nullptr, encrypt ? 1 : 0) != 1) {
      return nullptr;
    }
    entries_.push_back(Entry{keys.serial(), key.id, encrypt, std::move(context)});
    return entries_.back().context.get();
  }

  static ThreadCipherContexts& ForThisThread() {
    thread_local ThreadCipherContexts contexts;
    return contexts;
  }

 private:
  static constexpr size_t kMaxEntries = 16;
  struct Entry {
    uint64_t serial;
    std::string key_id;
    bool encrypt;
    CipherContext context;
  };
  std::vector<Entry> entries_;
};

// Splits a decoded pair at the first ':' (the gateway half never has one); nullopt without one,
// or with an empty half.
std::optional<SplitPair> Split(absl::string_view decoded) {
  const size_t colon = decoded.find(':');
  if (colon == absl::string_view::npos || colon == 0 || colon + 1 == decoded.size()) {
    return std::nullopt;
  }
  return SplitPair{decoded.substr(0, colon), decoded.substr(colon + 1)};
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
  std::optional<SplitPair> pair = Split(scratch);
  if (!pair.has_value()) {
    return absl::InvalidArgumentError("the token is not a gateway token pair");
  }
  return *pair;
}

bool DecodedPair::Decode(absl::string_view token) {
  colon_ = upstream_at_ = size_ = 0;
  if (token.size() > kMaxTokenChars) {
    return false;
  }
  std::optional<size_t> length = crypto::Base64UrlDecodeInto(token, buffer_);
  if (!length.has_value()) {
    return false;
  }
  std::optional<SplitPair> pair = Split(absl::string_view(buffer_, *length));
  if (!pair.has_value()) {
    return false;
  }
  colon_ = pair->gateway_half.size();
  upstream_at_ = colon_ + 1;
  size_ = *length;
  return true;
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

  EVP_CIPHER_CTX* context = ThreadCipherContexts::ForThisThread().Get(keys, key, true);
  int length = 0;
  int final_length = 0;
  const bool ok = context != nullptr &&
                  EVP_EncryptInit_ex(context, nullptr, nullptr, nullptr, Bytes(nonce)) == 1 &&
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
  std::string plaintext;
  if (!UnsealInto(keys, sealed, gateway_half, plaintext)) {
    return absl::UnauthenticatedError("the token's upstream part is invalid");
  }
  return plaintext;
}

bool UnsealInto(const KeyRing& keys, absl::string_view sealed, absl::string_view gateway_half,
                std::string& out) {
  out.clear();
  if (sealed.size() < 2 || sealed[0] != kSealedVersion) {
    return false;
  }
  const size_t id_length = static_cast<unsigned char>(sealed[1]);
  if (sealed.size() < 2 + id_length + kNonceLength + kTagLength) {
    return false;
  }
  const KeyRing::Key* key = keys.Find(sealed.substr(2, id_length));
  if (key == nullptr) {
    return false;  // sealed with a key this gateway no longer has (or never had)
  }
  const absl::string_view nonce = sealed.substr(2 + id_length, kNonceLength);
  const absl::string_view body = sealed.substr(2 + id_length + kNonceLength);
  const absl::string_view ciphertext = body.substr(0, body.size() - kTagLength);
  std::array<unsigned char, kTagLength> tag;
  body.copy(reinterpret_cast<char*>(tag.data()), kTagLength, ciphertext.size());
  out.resize(ciphertext.size());
  auto* plaintext = reinterpret_cast<unsigned char*>(out.data());

  EVP_CIPHER_CTX* context = ThreadCipherContexts::ForThisThread().Get(keys, *key, false);
  int length = 0;
  int final_length = 0;
  const bool ok = context != nullptr &&
                  EVP_DecryptInit_ex(context, nullptr, nullptr, nullptr, Bytes(nonce)) == 1 &&
                  EVP_DecryptUpdate(context, nullptr, &length, Bytes(gateway_half),
                                    static_cast<int>(gateway_half.size())) == 1 &&
                  EVP_DecryptUpdate(context, plaintext, &length, Bytes(ciphertext),
                                    static_cast<int>(ciphertext.size())) == 1 &&
                  EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, kTagLength, tag.data()) == 1 &&
                  EVP_DecryptFinal_ex(context, plaintext + length, &final_length) == 1;
  if (!ok) {
    out.clear();  // nothing of an unauthenticated plaintext leaves here
    return false;
  }
  return true;
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

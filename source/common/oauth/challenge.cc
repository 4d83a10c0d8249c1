#include "source/common/oauth/challenge.h"

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace gateway::oauth {
namespace {

// RFC 9110 section 5.6.2.
bool IsTchar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

// Reads the challenges of one field value, auth-param by auth-param.
class ChallengeReader {
 public:
  explicit ChallengeReader(absl::string_view text) : text_(text) {}

  BearerChallengeParams Read() {
    BearerChallengeParams out;
    bool in_bearer = false;
    while (pos_ < text_.size()) {
      Skip(" \t,");
      const absl::string_view token = Token();
      if (token.empty()) {
        ++pos_;  // a stray character (a token68's '/' or '='): not ours to read
        continue;
      }
      Skip(" \t");
      if (pos_ < text_.size() && text_[pos_] == '=') {
        ++pos_;
        Skip(" \t");
        const std::string value = Value();
        if (in_bearer) {
          Record(absl::AsciiStrToLower(token), value, out);
        }
        continue;
      }
      // A bare token starts a challenge (its auth-scheme); only the first Bearer one counts.
      in_bearer = !out.present && absl::EqualsIgnoreCase(token, "Bearer");
      out.present = out.present || in_bearer;
    }
    return out;
  }

 private:
  void Skip(const char* set) {
    while (pos_ < text_.size() && std::strchr(set, text_[pos_]) != nullptr) {
      ++pos_;
    }
  }

  absl::string_view Token() {
    const size_t start = pos_;
    while (pos_ < text_.size() && IsTchar(text_[pos_])) {
      ++pos_;
    }
    return text_.substr(start, pos_ - start);
  }

  // A token or a quoted-string (RFC 9110 section 5.6.4), unescaped.
  std::string Value() {
    if (pos_ >= text_.size() || text_[pos_] != '"') {
      return std::string(Token());
    }
    std::string value;
    for (++pos_; pos_ < text_.size() && text_[pos_] != '"'; ++pos_) {
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) {
        ++pos_;
      }
      value.push_back(text_[pos_]);
    }
    ++pos_;  // the closing quote
    return value;
  }

  // Each attribute at most once (RFC 6750 section 3): the first one stands.
  static void Record(const std::string& name, const std::string& value,
                     BearerChallengeParams& out) {
    if (name == "error" && out.error.empty()) {
      out.error = value;
    } else if (name == "scope" && out.scope.empty() && IsScopeString(value)) {
      out.scope = value;
    } else if (name == "resource_metadata" && out.resource_metadata.empty()) {
      out.resource_metadata = value;
    }
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

BearerChallengeParams ParseBearerChallenge(absl::string_view header) {
  return ChallengeReader(header).Read();
}

BearerChallengeParams FindBearerChallenge(const http::HeaderMap& headers) {
  for (const auto& [name, value] : headers) {
    if (absl::EqualsIgnoreCase(name, "www-authenticate")) {
      BearerChallengeParams params = ParseBearerChallenge(value);
      if (params.present) {
        return params;
      }
    }
  }
  return {};
}

bool IsScopeString(absl::string_view scope) {
  bool any = false;
  for (char c : scope) {
    if (c == ' ') {
      continue;
    }
    if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') {
      return false;
    }
    any = true;
  }
  return any;
}

}  // namespace gateway::oauth

#include "source/common/oauth/users.h"

#include "source/common/crypto.h"

namespace gateway::oauth {

Users::Users(const std::vector<UserConfig>& users, BlockingPool& pool)
    : users_(users), pool_(pool) {
  // An unknown user is checked against a decoy of the kind the known ones use, so that both
  // cost the same: a scrypt hash when any password is hashed, else a random plain text.
  const bool any_hashed = plain_count() < static_cast<int>(users_.size());
  decoy_hash_ = any_hashed ? crypto::HashPassword(crypto::RandomToken()) : crypto::RandomToken();
}

int Users::plain_count() const {
  int count = 0;
  for (const UserConfig& user : users_) {
    count += crypto::IsPasswordHash(user.password) ? 0 : 1;
  }
  return count;
}

void Users::Verify(Dispatcher& dispatcher, std::string name, std::string password,
                   std::function<void(bool)> done) const {
  const UserConfig* found = nullptr;
  for (const UserConfig& user : users_) {
    // Every name is compared, so the position of a match leaks nothing.
    if (crypto::ConstantTimeEquals(user.name, name) && found == nullptr) {
      found = &user;
    }
  }
  const std::string expected = found != nullptr ? found->password : decoy_hash_;
  pool_.Run([&dispatcher, expected, password = std::move(password), known = found != nullptr,
             done = std::move(done)]() mutable {
    bool match = false;
    if (crypto::IsPasswordHash(expected)) {
      absl::StatusOr<bool> verified = crypto::VerifyPassword(password, expected);
      match = verified.ok() && *verified;
    } else {
      match = crypto::ConstantTimeEquals(crypto::Sha256(password), crypto::Sha256(expected));
    }
    dispatcher.Post([done = std::move(done), result = match && known] { done(result); });
  });
}

}  // namespace gateway::oauth

#include "source/common/oauth/users.h"

#include "source/common/crypto.h"

namespace gateway::oauth {

namespace {

int PlainCount(const std::vector<UserConfig>& users) {
  int count = 0;
  for (const UserConfig& user : users) {
    count += crypto::IsPasswordHash(user.password) ? 0 : 1;
  }
  return count;
}

}  // namespace

Users::Users(const std::vector<UserConfig>& users, BlockingPool& pool)
    : pool_(pool), table_(MakeTable(users)) {}

std::shared_ptr<const Users::Table> Users::MakeTable(const std::vector<UserConfig>& users) {
  auto table = std::make_shared<Table>();
  table->users = users;
  // An unknown user is checked against a decoy of the kind the known ones use, so that both
  // cost the same: a scrypt hash when any password is hashed, else a random plain text.
  const bool any_hashed = PlainCount(users) < static_cast<int>(users.size());
  table->decoy_hash =
      any_hashed ? crypto::HashPassword(crypto::RandomToken()) : crypto::RandomToken();
  return table;
}

std::shared_ptr<const Users::Table> Users::table() const {
  absl::MutexLock lock(&mutex_);
  return table_;
}

void Users::Replace(const std::vector<UserConfig>& users) {
  std::shared_ptr<const Table> table = MakeTable(users);
  absl::MutexLock lock(&mutex_);
  table_.swap(table);
}

int Users::plain_count() const { return PlainCount(table()->users); }

size_t Users::size() const { return table()->users.size(); }

void Users::Verify(Dispatcher& dispatcher, std::string name, std::string password,
                   std::function<void(bool)> done) const {
  const std::shared_ptr<const Table> table = this->table();
  const UserConfig* found = nullptr;
  for (const UserConfig& user : table->users) {
    // Every name is compared, so the position of a match leaks nothing.
    if (crypto::ConstantTimeEquals(user.name, name) && found == nullptr) {
      found = &user;
    }
  }
  const std::string expected = found != nullptr ? found->password : table->decoy_hash;
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

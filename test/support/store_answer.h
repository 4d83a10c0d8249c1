#pragma once

// Helpers for tests of the store backends. StoreAnswer turns a store call's callback into a value,
// running the worker's loop until the answer comes (a backend that writes to disk or talks to a
// server answers later, through the loop).

#include <functional>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "source/common/store/store.h"
#include "source/dispatcher.h"

namespace gateway::testing {

// A token record of alice's client c1, in grant `grant_id`.
inline store::TokenRecord TestToken(std::string hash, store::TokenKind kind, absl::Time expires_at,
                                    std::string grant_id = "g1") {
  store::TokenRecord token;
  token.token_hash = std::move(hash);
  token.kind = kind;
  token.grant_id = std::move(grant_id);
  token.user = "alice";
  token.client_id = "c1";
  token.expires_at = expires_at;
  return token;
}

// The answer of `call`, or DeadlineExceeded (and a test failure) after 10 s. `at_once`: the
// answer must come before `call` returns.
template <typename T>
absl::StatusOr<T> StoreAnswer(Dispatcher& dispatcher,
                              const std::function<void(store::Callback<T>)>& call,
                              bool at_once = false) {
  std::optional<absl::StatusOr<T>> result;
  bool waiting = false;
  call([&](absl::StatusOr<T> value) {
    result = std::move(value);
    if (waiting) {
      dispatcher.Exit();
    }
  });
  if (!result.has_value()) {
    EXPECT_FALSE(at_once) << "this store must answer before the call returns";
    waiting = true;
    std::unique_ptr<Timer> give_up = dispatcher.CreateTimer([&dispatcher] { dispatcher.Exit(); });
    give_up->Enable(absl::Seconds(10));
    dispatcher.Run();
  }
  if (!result.has_value()) {
    ADD_FAILURE() << "the store did not answer within 10 s";
    return absl::DeadlineExceededError("no answer from the store");
  }
  return std::move(*result);
}

// The same for a call that answers with a status only.
inline absl::Status StoreDone(Dispatcher& dispatcher,
                              const std::function<void(store::DoneCallback)>& call,
                              bool at_once = false) {
  return StoreAnswer<bool>(
             dispatcher,
             [&](store::Callback<bool> done) {
               call([done](absl::Status status) {
                 done(status.ok() ? absl::StatusOr<bool>(true) : absl::StatusOr<bool>(status));
               });
             },
             at_once)
      .status();
}

}  // namespace gateway::testing

#pragma once

// Guards callbacks against the death of their owner. An object that hands out callbacks which
// may run after it is gone (a filter whose request ended while a store or upstream call was in
// flight) holds a Liveness and wraps each callback with Guard(): the wrapped callback does nothing
// once the Liveness has been destroyed. Single-threaded: owner and callbacks on one thread.
// Its flag is allocated by the first Guard(): an owner that guards nothing (most filters, on
// most requests) costs no allocation.

#include <memory>
#include <utility>

namespace gateway {

class Liveness {
 public:
  Liveness() = default;
  ~Liveness() {
    if (alive_ != nullptr) {
      *alive_ = false;
    }
  }
  Liveness(const Liveness&) = delete;
  Liveness& operator=(const Liveness&) = delete;

  // `callback`, made harmless once this Liveness is gone.
  template <typename Callback>
  auto Guard(Callback callback) const {
    if (alive_ == nullptr) {
      alive_ = std::make_shared<bool>(true);
    }
    return [alive = std::weak_ptr<const bool>(alive_),
            callback = std::move(callback)](auto&&... args) mutable {
      std::shared_ptr<const bool> still = alive.lock();
      if (still != nullptr && *still) {
        callback(std::forward<decltype(args)>(args)...);
      }
    };
  }

 private:
  mutable std::shared_ptr<bool> alive_;  // made by the first Guard()
};

}  // namespace gateway

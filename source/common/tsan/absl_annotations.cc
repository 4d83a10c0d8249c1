// ThreadSanitizer builds only (cmake -DGATEWAY_TSAN=ON): tells ThreadSanitizer what absl::Mutex
// and absl::Notification do.
//
// Debian's Abseil is not built with -fsanitize=thread, so ThreadSanitizer sees none of the
// happens-before edges its locks make and reports every access under an absl::Mutex as a race.
// The definitions below take the place of the shared library's (a definition in the executable
// comes first in symbol lookup, and calls between the library's own exported functions go
// through the same lookup): each tells ThreadSanitizer what the call does and calls the library's
// definition, found with dlsym(RTLD_NEXT). test/tsan/probe.cc checks that a race
// is still reported and that locked accesses are not.

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace {

#define GATEWAY_TSAN_STRING2(x) #x
#define GATEWAY_TSAN_STRING(x) GATEWAY_TSAN_STRING2(x)

// The library's definition of absl::<inline namespace>::<member>, `member` mangled as in
// "5Mutex4LockEv" (`is_const` for const member functions).
template <typename Fn>
Fn Real(const char* member, bool is_const = false) {
  const char* inline_namespace = GATEWAY_TSAN_STRING(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string symbol = std::string(is_const ? "_ZNK4absl" : "_ZN4absl") +
                             std::to_string(std::strlen(inline_namespace)) + inline_namespace +
                             member;
  void* address = dlsym(RTLD_NEXT, symbol.c_str());
  if (address == nullptr) {
    std::fprintf(stderr, "tsan annotations: %s is not in Abseil\n", symbol.c_str());
    std::abort();
  }
  return reinterpret_cast<Fn>(address);
}

constexpr unsigned kRead = __tsan_mutex_read_lock;
constexpr unsigned kTry = __tsan_mutex_try_lock;
constexpr unsigned kTryFailed = __tsan_mutex_try_lock_failed;

// The release that Notify() makes and the acquire of a wait that saw it, on the address of the
// notification's flag: the inline HasBeenNotified() loads it with acquire order in our
// (instrumented) code, so it syncs with this release too.
void* NotifiedFlag(const absl::Notification* notification) {
  return reinterpret_cast<char*>(const_cast<absl::Notification*>(notification)) +
         sizeof(absl::Mutex);
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static const auto real = Real<void (*)(Mutex*)>("5Mutex4LockEv");
  __tsan_mutex_pre_lock(this, 0);
  real(this);
  __tsan_mutex_post_lock(this, 0, 0);
}

void Mutex::ReaderLock() {
  static const auto real = Real<void (*)(Mutex*)>("5Mutex10ReaderLockEv");
  __tsan_mutex_pre_lock(this, kRead);
  real(this);
  __tsan_mutex_post_lock(this, kRead, 0);
}

void Mutex::Unlock() {
  static const auto real = Real<void (*)(Mutex*)>("5Mutex6UnlockEv");
  __tsan_mutex_pre_unlock(this, 0);
  real(this);
  __tsan_mutex_post_unlock(this, 0);
}

void Mutex::ReaderUnlock() {
  static const auto real = Real<void (*)(Mutex*)>("5Mutex12ReaderUnlockEv");
  __tsan_mutex_pre_unlock(this, kRead);
  real(this);
  __tsan_mutex_post_unlock(this, kRead);
}

bool Mutex::TryLock() {
  static const auto real = Real<bool (*)(Mutex*)>("5Mutex7TryLockEv");
  __tsan_mutex_pre_lock(this, kTry);
  const bool locked = real(this);
  __tsan_mutex_post_lock(this, kTry | (locked ? 0 : kTryFailed), 0);
  return locked;
}

bool Mutex::ReaderTryLock() {
  static const auto real = Real<bool (*)(Mutex*)>("5Mutex13ReaderTryLockEv");
  __tsan_mutex_pre_lock(this, kRead | kTry);
  const bool locked = real(this);
  __tsan_mutex_post_lock(this, kRead | kTry | (locked ? 0 : kTryFailed), 0);
  return locked;
}

void Mutex::LockWhen(const Condition& condition) {
  static const auto real =
      Real<void (*)(Mutex*, const Condition&)>("5Mutex8LockWhenERKNS0_9ConditionE");
  __tsan_mutex_pre_lock(this, 0);
  real(this, condition);
  __tsan_mutex_post_lock(this, 0, 0);
}

bool Mutex::LockWhenWithTimeout(const Condition& condition, absl::Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  __tsan_mutex_pre_lock(this, 0);
  const bool met = real(this, condition, timeout);
  __tsan_mutex_post_lock(this, 0, 0);  // held whether or not the condition came true
  return met;
}

// Await releases the lock while it waits and holds it again when it returns. ThreadSanitizer
// ignores what a thread does between a pre_ and a post_ annotation: that covers the evaluations of
// the condition inside the library, which happen under the lock (here, or in the thread that
// unlocks), but in a thread ThreadSanitizer thinks does not hold it.
void Mutex::Await(const Condition& condition) {
  static const auto real =
      Real<void (*)(Mutex*, const Condition&)>("5Mutex5AwaitERKNS0_9ConditionE");
  __tsan_mutex_pre_unlock(this, 0);
  real(this, condition);
  __tsan_mutex_post_unlock(this, 0);
  __tsan_mutex_pre_lock(this, 0);
  __tsan_mutex_post_lock(this, 0, 0);
}

bool Mutex::AwaitWithTimeout(const Condition& condition, absl::Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  __tsan_mutex_pre_unlock(this, 0);
  const bool met = real(this, condition, timeout);
  __tsan_mutex_post_unlock(this, 0);
  __tsan_mutex_pre_lock(this, 0);
  __tsan_mutex_post_lock(this, 0, 0);
  return met;
}

void Notification::Notify() {
  static const auto real = Real<void (*)(Notification*)>("12Notification6NotifyEv");
  __tsan_release(NotifiedFlag(this));
  real(this);
}

void Notification::WaitForNotification() const {
  static const auto real =
      Real<void (*)(const Notification*)>("12Notification19WaitForNotificationEv", true);
  real(this);
  __tsan_acquire(NotifiedFlag(this));
}

bool Notification::WaitForNotificationWithTimeout(absl::Duration timeout) const {
  static const auto real = Real<bool (*)(const Notification*, absl::Duration)>(
      "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE", true);
  const bool notified = real(this, timeout);
  if (notified) {
    __tsan_acquire(NotifiedFlag(this));
  }
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl

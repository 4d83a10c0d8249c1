// ThreadSanitizer builds: proves the absl::Mutex annotations (source/common/tsan/) right both
// ways, since a sanitizer that reports nothing proves nothing.
//   tsan_probe          accesses under absl::Mutex (Lock, ReaderLock, Await, AwaitWithTimeout)
//                       and ordered by absl::Notification (WaitForNotification[WithTimeout],
//                       HasBeenNotified): no report, exit 0
//   tsan_probe --race   the same plus one unsynchronized write: a data race report (exit 66)

#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace {

absl::Mutex mutex;
int counter = 0;  // guarded by mutex
int published = 0;
int unguarded = 0;

bool Reached(int* value) { return *value >= 40000; }

}  // namespace

int main(int argc, char** argv) {
  absl::Notification first;
  absl::Notification second;
  auto writer = [] {
    for (int i = 0; i < 20000; ++i) {
      absl::MutexLock lock(&mutex);
      ++counter;
    }
  };
  auto reader = [] {
    long sum = 0;
    for (int i = 0; i < 20000; ++i) {
      absl::ReaderMutexLock lock(&mutex);
      sum += counter;
    }
    std::printf("reader saw %ld\n", sum);
  };
  auto waiter = [] {
    absl::MutexLock lock(&mutex);
    mutex.AwaitWithTimeout(absl::Condition(&Reached, &counter), absl::Seconds(30));
    mutex.Await(absl::Condition(&Reached, &counter));
    ++counter;
  };
  std::thread a(writer);
  std::thread b(writer);
  std::thread c(reader);
  std::thread d(waiter);
  std::thread e([&] {
    published = 1;
    first.Notify();
  });
  std::thread f([&] {
    first.WaitForNotification();
    ++published;  // after e's write: the first notification orders them
    second.Notify();
  });
  if (!first.WaitForNotificationWithTimeout(absl::Seconds(30))) {
    return 1;
  }
  while (!second.HasBeenNotified()) {
  }
  const int seen = published;
  for (std::thread* thread : {&a, &b, &c, &d, &e, &f}) {
    thread->join();
  }
  if (argc > 1 && std::strcmp(argv[1], "--race") == 0) {
    std::thread g([] { unguarded = 1; });
    unguarded = 2;
    g.join();
    std::printf("unguarded %d\n", unguarded);  // read, or the compiler drops the writes
  }
  absl::MutexLock lock(&mutex);
  return counter == 40001 && seen == 2 ? 0 : 1;
}

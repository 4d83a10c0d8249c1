#pragma once

// The `sqlite` backend, the embedded default: everything the gateway remembers survives a
// restart, in one SQLite file (WAL mode, mode 0600, held exclusively by one gateway process).
//
// Reads never touch the disk: the whole state is loaded into a MemoryState at start and served
// from there. Every change is journaled, in order, to a writer thread that commits in groups (one
// transaction for whatever queued while the previous one was committing); a change is
// acknowledged to its caller only once its transaction has committed, so a client never holds a
// token or registration that a crash could take back. A kill -9 leaves the file consistent
// (SQLite's WAL) with every acknowledged change in it.
//
// Upstream tokens and the gateway's own documents are sealed with the gateway key (RecordCodec).
// A file that is not a gateway database, is damaged, or is held by another process stops
// start-up with a message saying which and what to do.

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "source/common/clock.h"
#include "source/common/store/store.h"

namespace gateway::token {
class KeyRing;
}

namespace gateway::store {

class MemoryState;
class SqliteWriter;

struct SqliteOptions {
  std::string path;
  // synchronous=FULL: a commit is on the disk before it is acknowledged, surviving power loss.
  // NORMAL survives a crash of the process but may lose the last commits to a power loss.
  bool full_sync = true;
};

// What start-up found in the file.
struct SqliteLoadReport {
  size_t clients = 0;
  size_t flows = 0;
  size_t codes = 0;
  size_t grants = 0;
  size_t tokens = 0;
  size_t consents = 0;
  size_t documents = 0;
  size_t expired = 0;     // dropped as expired before loading
  size_t unsealable = 0;  // grants and documents sealed with a key this gateway lacks, dropped
  absl::Duration took;
};

class SqliteStoreBackend : public StoreBackend {
 public:
  // Opens the database at options.path (created with mode 0600 when missing), loads it, and
  // starts the writer. `keys` must outlive the backend.
  static absl::StatusOr<std::unique_ptr<SqliteStoreBackend>> Open(const SqliteOptions& options,
                                                                  const Clock& clock,
                                                                  StoreLimits limits,
                                                                  const token::KeyRing& keys);
  // Commits what is still queued, then closes the file.
  ~SqliteStoreBackend() override;

  std::unique_ptr<Store> ForWorker(Dispatcher& dispatcher) override;
  std::optional<RecordCounts> Counts() const override;
  const SqliteLoadReport& loaded() const { return report_; }

 private:
  SqliteStoreBackend(std::shared_ptr<MemoryState> state, std::unique_ptr<SqliteWriter> writer,
                     SqliteLoadReport report);

  std::shared_ptr<MemoryState> state_;
  std::unique_ptr<SqliteWriter> writer_;
  SqliteLoadReport report_;
};

}  // namespace gateway::store

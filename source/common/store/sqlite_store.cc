#include "source/common/store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "source/common/log.h"
#include "source/common/store/memory_state.h"
#include "source/common/store/memory_store.h"
#include "source/common/store/record_codec.h"

namespace gateway::store {
namespace {

// PRAGMA application_id of a gateway database ("MCOG"), and the layout this build reads.
constexpr int32_t kApplicationId = 0x4D434F47;
constexpr int kSchemaVersion = 1;
// After a failed commit, how long the writer waits before trying again.
constexpr absl::Duration kRetryDelay = absl::Seconds(1);

struct DatabaseCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StatementFinalizer {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using Database = std::unique_ptr<sqlite3, DatabaseCloser>;
using Statement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

// What went wrong with the file, in words that say what to do about it.
absl::Status FileError(const std::string& path, sqlite3* db, int code, absl::string_view doing) {
  const std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  switch (code & 0xff) {
    case SQLITE_NOTADB:
      return absl::FailedPreconditionError(absl::StrCat(
          "store.path ", path,
          " is not a SQLite database; point store.path elsewhere, or move the file aside to "
          "start with an empty store"));
    case SQLITE_CORRUPT:
      return absl::DataLossError(absl::StrCat(
          "store.path ", path, " is damaged (SQLite: ", detail,
          "); restore it from a backup, or move it aside to start with an empty store (clients "
          "then register and authorize again)"));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::FailedPreconditionError(absl::StrCat(
          "store.path ", path,
          " is in use by another process (another gateway?); the sqlite store serves one "
          "gateway process: run several with store.type redis"));
    default:
      return absl::UnavailableError(
          absl::StrCat("cannot ", doing, " store.path ", path, ": ", detail));
  }
}

// Creates the file with mode 0600 (SQLite gives its -wal file the same mode), or checks that an
// existing one is closed to other users.
absl::Status PrepareFile(const std::string& path) {
  struct stat info;
  if (::stat(path.c_str(), &info) == 0) {
    if (!S_ISREG(info.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat("store.path ", path, " is not a file"));
    }
    if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("store.path ", path, " is open to other users; run: chmod 600 ", path));
    }
    return absl::OkStatus();
  }
  if (errno != ENOENT) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read store.path ", path, ": ", std::strerror(errno)));
  }
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create store.path ", path, ": ", std::strerror(errno),
                     errno == ENOENT ? " (its folder does not exist)" : ""));
  }
  ::close(fd);
  return absl::OkStatus();
}

Statement Prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* statement = nullptr;
  sqlite3_prepare_v2(db, sql, -1, &statement, nullptr);
  return Statement(statement);
}

// Runs `sql` and returns the first column of its first row as text ("" when there is none).
absl::StatusOr<std::string> QueryText(sqlite3* db, const std::string& path, const char* sql) {
  Statement statement = Prepare(db, sql);
  if (statement == nullptr) {
    return FileError(path, db, sqlite3_errcode(db), "read");
  }
  const int rc = sqlite3_step(statement.get());
  if (rc == SQLITE_DONE) {
    return std::string();
  }
  if (rc != SQLITE_ROW) {
    return FileError(path, db, rc, "read");
  }
  const auto* text = sqlite3_column_text(statement.get(), 0);
  return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text));
}

absl::Status Exec(sqlite3* db, const std::string& path, const char* sql,
                  absl::string_view doing = "write") {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? absl::OkStatus() : FileError(path, db, rc, doing);
}

absl::Status BindText(sqlite3_stmt* statement, int index, absl::string_view text) {
  return sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()),
                           SQLITE_STATIC) == SQLITE_OK
             ? absl::OkStatus()
             : absl::InternalError("cannot bind a statement parameter");
}

absl::Status BindBlob(sqlite3_stmt* statement, int index, absl::string_view bytes) {
  return sqlite3_bind_blob(statement, index, bytes.data(), static_cast<int>(bytes.size()),
                           SQLITE_STATIC) == SQLITE_OK
             ? absl::OkStatus()
             : absl::InternalError("cannot bind a statement parameter");
}

absl::string_view Column(sqlite3_stmt* statement, int index) {
  const void* data = sqlite3_column_blob(statement, index);
  const int size = sqlite3_column_bytes(statement, index);
  return data == nullptr
             ? absl::string_view()
             : absl::string_view(static_cast<const char*>(data), static_cast<size_t>(size));
}

// Opens the file, takes it for this process, checks it, and makes the schema if it is new.
absl::StatusOr<Database> OpenDatabase(const SqliteOptions& options) {
  const std::string& path = options.path;
  if (absl::Status prepared = PrepareFile(path); !prepared.ok()) {
    return prepared;
  }
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  Database db(raw);
  if (rc != SQLITE_OK) {
    return FileError(path, db.get(), rc, "open");
  }
  sqlite3_extended_result_codes(db.get(), 1);
  // A gateway being restarted may still be letting go of the file.
  sqlite3_busy_timeout(db.get(), 1000);
  if (absl::Status status = Exec(db.get(), path, "PRAGMA locking_mode=EXCLUSIVE", "open");
      !status.ok()) {
    return status;
  }
  absl::StatusOr<std::string> mode = QueryText(db.get(), path, "PRAGMA journal_mode=WAL");
  if (!mode.ok()) {
    return mode.status();
  }
  if (*mode != "wal") {
    return absl::FailedPreconditionError(
        absl::StrCat("store.path ", path, ": SQLite would not use WAL mode there (", *mode, ")"));
  }
  if (absl::Status status =
          Exec(db.get(), path,
               options.full_sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", "open");
      !status.ok()) {
    return status;
  }
  // Taking the write lock now: from here until the process ends, the file is this gateway's.
  if (absl::Status status = Exec(db.get(), path, "BEGIN IMMEDIATE", "open"); !status.ok()) {
    return status;
  }
  absl::StatusOr<std::string> check = QueryText(db.get(), path, "PRAGMA quick_check");
  if (!check.ok()) {
    return check.status();
  }
  if (*check != "ok") {
    return FileError(path, nullptr, SQLITE_CORRUPT, "check");
  }
  absl::StatusOr<std::string> application = QueryText(db.get(), path, "PRAGMA application_id");
  absl::StatusOr<std::string> version = QueryText(db.get(), path, "PRAGMA user_version");
  absl::StatusOr<std::string> objects =
      QueryText(db.get(), path, "SELECT count(*) FROM sqlite_schema");
  for (const auto* result : {&application, &version, &objects}) {
    if (!result->ok()) {
      return result->status();
    }
  }
  if (*application == "0" && *objects == "0") {
    if (absl::Status status =
            Exec(db.get(), path,
                 absl::StrCat("CREATE TABLE records (kind TEXT NOT NULL, key BLOB NOT NULL, "
                              "value TEXT NOT NULL, expires_at INTEGER, PRIMARY KEY (kind, key)) "
                              "WITHOUT ROWID; PRAGMA application_id=",
                              kApplicationId, "; PRAGMA user_version=", kSchemaVersion)
                     .c_str());
        !status.ok()) {
      return status;
    }
  } else if (*application != absl::StrCat(kApplicationId)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store.path ", path,
        " is a SQLite database of another program, not the gateway's; point store.path "
        "elsewhere"));
  } else if (*version != absl::StrCat(kSchemaVersion)) {
    return absl::FailedPreconditionError(
        absl::StrCat("store.path ", path, " has layout version ", *version,
                     " (a newer gateway's?); this gateway reads version ", kSchemaVersion));
  }
  if (absl::Status status = Exec(db.get(), path, "COMMIT"); !status.ok()) {
    return status;
  }
  return db;
}

}  // namespace

// The journal of the state: queues each change and commits the queue from its own thread.
class SqliteWriter : public Journal, public Durability {
 public:
  SqliteWriter(Database db, std::string path, const token::KeyRing& keys, StoreLimits limits)
      : db_(std::move(db)),
        path_(std::move(path)),
        codec_(keys),
        limits_(limits),
        upsert_(Prepare(db_.get(),
                        "INSERT INTO records (kind, key, value, expires_at) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, "
                        "expires_at = excluded.expires_at")),
        erase_(Prepare(db_.get(), "DELETE FROM records WHERE kind = ? AND key = ?")) {}

  ~SqliteWriter() override {
    {
      absl::MutexLock lock(&mutex_);
      stopping_ = true;
    }
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  const RecordCodec& codec() const { return codec_; }
  sqlite3* db() const { return db_.get(); }
  const std::string& path() const { return path_; }

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }

  // Journal: called under the state's lock, so in the order the changes happen.
  void PutClient(const Client& client) override {
    Enqueue(Table::kClients, client.client_id, codec_.EncodeClient(client),
            client.last_used_at + limits_.client_idle_ttl);
  }
  void PutFlow(const Flow& flow) override {
    Enqueue(Table::kFlows, flow.flow_id, codec_.EncodeFlow(flow), flow.expires_at);
  }
  void PutCode(const Code& code, bool taken) override {
    Enqueue(Table::kCodes, code.code_hash, codec_.EncodeCode(code, taken), code.expires_at);
  }
  void PutGrant(const Grant& grant) override {
    Enqueue(Table::kGrants, grant.grant_id, codec_.EncodeGrant(grant), grant.expires_at);
  }
  void PutToken(const TokenRecord& token) override {
    Enqueue(Table::kTokens, token.token_hash, codec_.EncodeToken(token), token.expires_at);
  }
  void PutConsent(const Consent& consent) override {
    Enqueue(Table::kConsents, MemoryState::ConsentKey(consent.user, consent.client_id),
            codec_.EncodeConsent(consent), std::nullopt);
  }
  void PutMeta(const std::string& key, const std::string& value) override {
    Enqueue(Table::kMeta, key, codec_.EncodeMeta(key, value), std::nullopt);
  }
  void Erase(Table table, const std::string& key) override {
    absl::MutexLock lock(&mutex_);
    Queue(Change{table, key, std::string(), std::nullopt, true, ++enqueued_});
  }
  // The state's lock is held from BeginGroup() to EndGroup(), so groups never nest or overlap.
  // A group's changes wait aside and join the queue together: the writer never takes half of
  // one, and never waits for one either.
  void BeginGroup() override {
    absl::MutexLock lock(&mutex_);
    grouping_ = true;
  }
  void EndGroup() override {
    absl::MutexLock lock(&mutex_);
    grouping_ = false;
    for (Change& change : group_) {
      pending_.push_back(std::move(change));
    }
    group_.clear();
  }

  // Durability.
  void WhenDurable(std::shared_ptr<WorkerMailbox> mailbox, DoneCallback done) override {
    {
      absl::MutexLock lock(&mutex_);
      if (committed_ < enqueued_) {
        waiters_.push_back(Waiter{enqueued_, std::move(mailbox), std::move(done)});
        return;
      }
    }
    done(absl::OkStatus());  // nothing of this caller's is still queued
  }

 private:
  struct Change {
    Table table;
    std::string key;
    std::string value;
    std::optional<absl::Time> expires_at;
    bool erase = false;
    uint64_t sequence = 0;
  };
  struct Waiter {
    uint64_t sequence;  // durable once every change up to this one is
    std::shared_ptr<WorkerMailbox> mailbox;
    DoneCallback done;
  };

  void Enqueue(Table table, const std::string& key, std::string value,
               std::optional<absl::Time> expires_at) {
    absl::MutexLock lock(&mutex_);
    Queue(Change{table, key, std::move(value), expires_at, false, ++enqueued_});
  }

  bool HasWorkLocked() const ABSL_SHARED_LOCKS_REQUIRED(mutex_) {
    return !pending_.empty() || stopping_;
  }
  void Queue(Change change) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    (grouping_ ? group_ : pending_).push_back(std::move(change));
  }

  void Run() {
    std::vector<Change> batch;  // what the current transaction writes; kept while it fails
    bool failing = false;
    while (true) {
      {
        absl::MutexLock lock(&mutex_);
        if (failing) {
          // Wait out the retry delay, cut short only by shutdown.
          mutex_.AwaitWithTimeout(absl::Condition(&stopping_), kRetryDelay);
        } else {
          mutex_.Await(absl::Condition(this, &SqliteWriter::HasWorkLocked));
        }
        if (batch.empty() && pending_.empty()) {
          return;  // stopping, and everything is written
        }
        for (Change& change : pending_) {
          batch.push_back(std::move(change));
        }
        pending_.clear();
      }
      const absl::Status status = Commit(batch);
      std::vector<Waiter> answered;
      {
        absl::MutexLock lock(&mutex_);
        const uint64_t through = batch.back().sequence;
        if (status.ok()) {
          committed_ = through;
        } else if (stopping_) {
          log::Error(absl::StrCat(status.message(), "; shutting down with ", batch.size(),
                                  " changes not written"));
          return;
        }
        while (!waiters_.empty() && waiters_.front().sequence <= through) {
          answered.push_back(std::move(waiters_.front()));
          waiters_.pop_front();
        }
      }
      if (status.ok()) {
        if (failing) {
          log::Info(absl::StrCat("the store writes to ", path_, " again"));
        }
        failing = false;
        batch.clear();
      } else if (!failing) {
        log::Error(absl::StrCat(status.message(),
                                "; changes are refused with 503 and retried every second"));
        failing = true;
      }
      const absl::Status answer =
          status.ok() ? absl::OkStatus()
                      : absl::UnavailableError("the gateway could not save the change; try again");
      for (Waiter& waiter : answered) {
        waiter.mailbox->Post([done = std::move(waiter.done), answer] { done(answer); });
      }
    }
  }

  // One transaction for the whole batch, in order.
  absl::Status Commit(const std::vector<Change>& batch) {
    sqlite3* db = db_.get();
    if (upsert_ == nullptr || erase_ == nullptr) {
      return FileError(path_, db, sqlite3_errcode(db), "write to");
    }
    if (absl::Status status = Exec(db, path_, "BEGIN", "write to"); !status.ok()) {
      return status;
    }
    for (const Change& change : batch) {
      sqlite3_stmt* statement = change.erase ? erase_.get() : upsert_.get();
      sqlite3_reset(statement);
      sqlite3_clear_bindings(statement);
      absl::Status bound = BindText(statement, 1, TableName(change.table));
      if (bound.ok()) {
        bound = BindBlob(statement, 2, change.key);
      }
      if (bound.ok() && !change.erase) {
        bound = BindText(statement, 3, change.value);
        if (bound.ok() && change.expires_at.has_value()) {
          sqlite3_bind_int64(statement, 4, absl::ToUnixMicros(*change.expires_at));
        }
      }
      const int rc = bound.ok() ? sqlite3_step(statement) : SQLITE_MISUSE;
      sqlite3_reset(statement);
      if (rc != SQLITE_DONE) {
        const absl::Status failed = FileError(path_, db, rc, "write to");
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        return failed;
      }
    }
    const int rc = sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
      const absl::Status failed = FileError(path_, db, rc, "write to");
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return failed;
    }
    return absl::OkStatus();
  }

  const Database db_;
  const std::string path_;
  const RecordCodec codec_;
  const StoreLimits limits_;
  // Used by the writer thread only (and by Open() before it starts).
  const Statement upsert_;
  const Statement erase_;
  std::thread thread_;

  absl::Mutex mutex_;
  std::vector<Change> pending_ ABSL_GUARDED_BY(mutex_);
  std::deque<Waiter> waiters_ ABSL_GUARDED_BY(mutex_);
  uint64_t enqueued_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t committed_ ABSL_GUARDED_BY(mutex_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  bool grouping_ ABSL_GUARDED_BY(mutex_) = false;
  std::vector<Change> group_ ABSL_GUARDED_BY(mutex_);  // the open group's changes
};

namespace {

// Reads every record into `state`. Grants and documents sealed with a key this gateway lacks are
// dropped (their clients authorize again); anything else unreadable stops start-up.
absl::Status Load(SqliteWriter& writer, MemoryState& state, absl::Time now,
                  SqliteLoadReport& report) {
  sqlite3* db = writer.db();
  const std::string& path = writer.path();
  Statement expired =
      Prepare(db, "DELETE FROM records WHERE expires_at IS NOT NULL AND expires_at <= ?");
  if (expired == nullptr) {
    return FileError(path, db, sqlite3_errcode(db), "read");
  }
  sqlite3_bind_int64(expired.get(), 1, absl::ToUnixMicros(now));
  if (const int rc = sqlite3_step(expired.get()); rc != SQLITE_DONE) {
    return FileError(path, db, rc, "clean up");
  }
  report.expired = static_cast<size_t>(sqlite3_changes(db));

  const RecordCodec& codec = writer.codec();
  std::vector<std::pair<std::string, std::string>> unsealable;  // (kind, key)
  Statement rows = Prepare(db, "SELECT kind, key, value FROM records");
  if (rows == nullptr) {
    return FileError(path, db, sqlite3_errcode(db), "read");
  }
  int rc;
  while ((rc = sqlite3_step(rows.get())) == SQLITE_ROW) {
    const absl::string_view kind = Column(rows.get(), 0);
    const std::string key(Column(rows.get(), 1));
    const absl::string_view value = Column(rows.get(), 2);
    absl::Status status;
    if (kind == TableName(Table::kClients)) {
      absl::StatusOr<Client> client = codec.DecodeClient(value);
      status = client.status();
      if (client.ok()) {
        state.RestoreClient(std::move(*client));
        ++report.clients;
      }
    } else if (kind == TableName(Table::kFlows)) {
      absl::StatusOr<Flow> flow = codec.DecodeFlow(value);
      status = flow.status();
      if (flow.ok()) {
        state.RestoreFlow(std::move(*flow));
        ++report.flows;
      }
    } else if (kind == TableName(Table::kCodes)) {
      absl::StatusOr<std::pair<Code, bool>> code = codec.DecodeCode(value);
      status = code.status();
      if (code.ok()) {
        state.RestoreCode(std::move(code->first), code->second);
        ++report.codes;
      }
    } else if (kind == TableName(Table::kGrants)) {
      absl::StatusOr<Grant> grant = codec.DecodeGrant(value);
      status = grant.status();
      if (grant.ok()) {
        state.RestoreGrant(std::move(*grant));
        ++report.grants;
      }
    } else if (kind == TableName(Table::kTokens)) {
      absl::StatusOr<TokenRecord> token = codec.DecodeToken(value);
      status = token.status();
      if (token.ok()) {
        state.RestoreToken(std::move(*token));
        ++report.tokens;
      }
    } else if (kind == TableName(Table::kConsents)) {
      absl::StatusOr<Consent> consent = codec.DecodeConsent(value);
      status = consent.status();
      if (consent.ok()) {
        state.RestoreConsent(std::move(*consent));
        ++report.consents;
      }
    } else if (kind == TableName(Table::kMeta)) {
      absl::StatusOr<std::string> document = codec.DecodeMeta(key, value);
      status = document.status();
      if (document.ok()) {
        state.RestoreMeta(key, std::move(*document));
        ++report.documents;
      }
    } else {
      status = absl::DataLossError(absl::StrCat("a record of unknown kind \"", kind, "\""));
    }
    if (status.code() == absl::StatusCode::kUnauthenticated) {
      unsealable.emplace_back(std::string(kind), key);
    } else if (!status.ok()) {
      return absl::DataLossError(absl::StrCat(
          "store.path ", path, ": ", status.message(),
          "; restore the file from a backup, or move it aside to start with an empty store"));
    }
  }
  if (rc != SQLITE_DONE) {
    return FileError(path, db, rc, "read");
  }
  rows.reset();

  // Tokens of a dropped grant stay until they expire: without the grant they lead nowhere.
  Statement drop = Prepare(db, "DELETE FROM records WHERE kind = ? AND key = ?");
  for (const auto& [kind, key] : unsealable) {
    sqlite3_reset(drop.get());
    if (!BindText(drop.get(), 1, kind).ok() || !BindBlob(drop.get(), 2, key).ok() ||
        sqlite3_step(drop.get()) != SQLITE_DONE) {
      return FileError(path, db, sqlite3_errcode(db), "clean up");
    }
  }
  report.unsealable = unsealable.size();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteStoreBackend>> SqliteStoreBackend::Open(
    const SqliteOptions& options, const Clock& clock, StoreLimits limits,
    const token::KeyRing& keys) {
  const absl::Time started = absl::Now();
  absl::StatusOr<Database> db = OpenDatabase(options);
  if (!db.ok()) {
    return db.status();
  }
  auto writer = std::make_unique<SqliteWriter>(std::move(*db), options.path, keys, limits);
  auto state = std::make_shared<MemoryState>(clock, limits);
  SqliteLoadReport report;
  if (absl::Status loaded = Load(*writer, *state, clock.Now(), report); !loaded.ok()) {
    return loaded;
  }
  report.took = absl::Now() - started;
  state->SetJournal(writer.get());
  writer->Start();
  return std::unique_ptr<SqliteStoreBackend>(
      new SqliteStoreBackend(std::move(state), std::move(writer), report));
}

SqliteStoreBackend::SqliteStoreBackend(std::shared_ptr<MemoryState> state,
                                       std::unique_ptr<SqliteWriter> writer,
                                       SqliteLoadReport report)
    : state_(std::move(state)), writer_(std::move(writer)), report_(report) {}

SqliteStoreBackend::~SqliteStoreBackend() {
  state_->SetJournal(nullptr);
  writer_.reset();  // writes what is queued, then closes the file
}

std::optional<RecordCounts> SqliteStoreBackend::Counts() const { return state_->Counts(); }

std::unique_ptr<Store> SqliteStoreBackend::ForWorker(Dispatcher& dispatcher) {
  return NewStateStore(state_, writer_.get(), dispatcher);
}

}  // namespace gateway::store

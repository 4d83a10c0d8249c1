#pragma once

// One asynchronous connection to Redis on one worker's loop (hiredis, driven through the
// dispatcher's FileEvent). Used on that worker's thread only.
//
// Every command gets exactly one answer through its callback: Redis's reply (an error reply is a
// status: ResourceExhausted for OOM, Internal otherwise), or Unavailable when Redis cannot be
// reached, the connection drops, or no reply comes within the timeout (the connection is then
// dropped and made again: a Redis that hangs must not hang the gateway). Commands are pipelined in
// order. The connection is made on the first command and remade after a failure, with backoff;
// while it is down, commands fail at once rather than queue.
//
// Destroying the connection drops every pending callback without calling it.

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "source/dispatcher.h"

struct redisAsyncContext;

namespace gateway::store {

// A Redis reply, copied out of hiredis's.
struct RedisValue {
  enum class Type { kNil, kString, kInteger, kArray, kStatus };
  Type type = Type::kNil;
  std::string string;  // kString, kStatus
  int64_t integer = 0;
  std::vector<RedisValue> elements;
  bool is_nil() const { return type == Type::kNil; }
};

struct RedisEndpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string password;  // AUTH when set
  int database = 0;      // SELECT when not 0
  // No reply for this long: the connection is considered dead.
  absl::Duration timeout = absl::Seconds(2);
};

// Parses redis://[:password@]host[:port][/database].
absl::StatusOr<RedisEndpoint> ParseRedisUrl(const std::string& url);

class RedisConnection {
 public:
  using ReplyCallback = std::function<void(absl::StatusOr<RedisValue>)>;

  RedisConnection(Dispatcher& dispatcher, RedisEndpoint endpoint);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  void Command(const std::vector<std::string>& args, ReplyCallback done);

 private:
  struct Pending;
  enum class State { kIdle, kResolving, kConnecting, kConnected, kBackoff };

  void Connect();
  void OnResolved(absl::StatusOr<std::vector<Address>> addresses);
  void Fail(const std::string& reason);
  void Drop(const std::string& reason);
  void Send(const std::vector<std::string>& args, ReplyCallback done);
  void CheckTimeouts();
  void FailQueued(const absl::Status& status);

  static void OnReply(redisAsyncContext* context, void* reply, void* privdata);
  static void OnConnected(const redisAsyncContext* context, int status);
  static void OnDisconnected(const redisAsyncContext* context, int status);
  static void AddRead(void* data);
  static void DelRead(void* data);
  static void AddWrite(void* data);
  static void DelWrite(void* data);
  static void Cleanup(void* data);
  void UpdateEvents();

  Dispatcher& dispatcher_;
  const RedisEndpoint endpoint_;
  State state_ = State::kIdle;
  redisAsyncContext* context_ = nullptr;
  std::unique_ptr<FileEvent> file_event_;
  std::unique_ptr<FileEvent> retired_file_event_;
  bool want_read_ = false;
  bool want_write_ = false;
  std::unique_ptr<DnsQuery> dns_query_;
  // Commands given while the name is being resolved; sent once connected.
  std::vector<std::pair<std::vector<std::string>, ReplyCallback>> queued_;
  // What hiredis holds, oldest first: the front is the next reply.
  std::deque<Pending*> pending_;
  std::unique_ptr<Timer> timeout_timer_;
  std::unique_ptr<Timer> reconnect_timer_;
  absl::Duration backoff_ = absl::Milliseconds(100);
  bool logged_down_ = false;
  bool closing_ = false;
};

}  // namespace gateway::store

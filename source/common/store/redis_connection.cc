#include "source/common/store/redis_connection.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "source/common/log.h"

namespace gateway::store {
namespace {

constexpr absl::Duration kMaxBackoff = absl::Seconds(5);

RedisValue Copy(const redisReply* reply) {
  RedisValue value;
  switch (reply->type) {
    case REDIS_REPLY_STRING:
      value.type = RedisValue::Type::kString;
      value.string.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_STATUS:
      value.type = RedisValue::Type::kStatus;
      value.string.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_INTEGER:
      value.type = RedisValue::Type::kInteger;
      value.integer = reply->integer;
      break;
    case REDIS_REPLY_ARRAY:
      value.type = RedisValue::Type::kArray;
      for (size_t i = 0; i < reply->elements; ++i) {
        value.elements.push_back(Copy(reply->element[i]));
      }
      break;
    default:
      break;
  }
  return value;
}

absl::Status Unreachable() {
  return absl::UnavailableError("the gateway's store (Redis) is unreachable; try again shortly");
}

}  // namespace

absl::StatusOr<RedisEndpoint> ParseRedisUrl(const std::string& url) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "redis://")) {
    return absl::InvalidArgumentError("must look like redis://[:password@]host[:port][/database]");
  }
  RedisEndpoint endpoint;
  if (const size_t at = rest.rfind('@'); at != absl::string_view::npos) {
    absl::string_view credentials = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    // redis://:password@ or redis://user:password@ (only the password is used: AUTH password)
    const size_t colon = credentials.find(':');
    endpoint.password =
        std::string(colon == absl::string_view::npos ? credentials : credentials.substr(colon + 1));
  }
  if (const size_t slash = rest.find('/'); slash != absl::string_view::npos) {
    absl::string_view database = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!database.empty() && (!absl::SimpleAtoi(database, &endpoint.database) ||
                              endpoint.database < 0 || endpoint.database > 1000)) {
      return absl::InvalidArgumentError("the database after / must be a number");
    }
  }
  absl::string_view host = rest;
  if (absl::ConsumePrefix(&host, "[")) {  // [::1]:6379
    const size_t close = host.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("an IPv6 host needs its closing ]");
    }
    rest = host.substr(close + 1);
    host = host.substr(0, close);
  } else {
    const size_t colon = rest.rfind(':');
    host = rest.substr(0, colon);
    rest = colon == absl::string_view::npos ? absl::string_view() : rest.substr(colon);
  }
  if (!rest.empty()) {
    int port = 0;
    if (!absl::ConsumePrefix(&rest, ":") || !absl::SimpleAtoi(rest, &port) || port < 1 ||
        port > 65535) {
      return absl::InvalidArgumentError("the port must be a number from 1 to 65535");
    }
    endpoint.port = static_cast<uint16_t>(port);
  }
  if (host.empty()) {
    return absl::InvalidArgumentError("the host is missing");
  }
  endpoint.host = std::string(host);
  return endpoint;
}

// A command hiredis holds: its callback, and when it was sent.
struct RedisConnection::Pending {
  RedisConnection* connection;
  ReplyCallback done;
  MonotonicTime sent;
};

RedisConnection::RedisConnection(Dispatcher& dispatcher, RedisEndpoint endpoint)
    : dispatcher_(dispatcher), endpoint_(std::move(endpoint)) {
  timeout_timer_ = dispatcher_.CreateTimer([this] { CheckTimeouts(); });
  reconnect_timer_ = dispatcher_.CreateTimer([this] {
    state_ = State::kIdle;
    Connect();
  });
}

RedisConnection::~RedisConnection() {
  closing_ = true;
  dns_query_.reset();
  if (context_ != nullptr) {
    redisAsyncFree(context_);  // calls each pending reply callback, which drops it
  }
  for (Pending* pending : pending_) {
    delete pending;
  }
}

void RedisConnection::Command(const std::vector<std::string>& args, ReplyCallback done) {
  switch (state_) {
    case State::kIdle:
      Connect();
      if (state_ == State::kBackoff) {
        done(Unreachable());
        return;
      }
      if (state_ == State::kResolving) {
        queued_.emplace_back(args, std::move(done));
        return;
      }
      Send(args, std::move(done));
      return;
    case State::kResolving:
      queued_.emplace_back(args, std::move(done));
      return;
    case State::kConnecting:
    case State::kConnected:
      Send(args, std::move(done));
      return;
    case State::kBackoff:
      done(Unreachable());
      return;
  }
}

void RedisConnection::Connect() {
  state_ = State::kResolving;
  dns_query_ = dispatcher_.Resolve(
      endpoint_.host, endpoint_.port,
      [this](absl::StatusOr<std::vector<Address>> addresses) { OnResolved(std::move(addresses)); });
}

void RedisConnection::OnResolved(absl::StatusOr<std::vector<Address>> addresses) {
  dns_query_.reset();
  if (!addresses.ok() || addresses->empty()) {
    Fail(absl::StrCat("cannot resolve ", endpoint_.host,
                      addresses.ok() ? "" : absl::StrCat(": ", addresses.status().message())));
    return;
  }
  const Address& address = addresses->front();
  context_ = redisAsyncConnect(address.Ip().c_str(), address.port());
  if (context_ == nullptr || context_->err != 0) {
    const std::string reason = context_ != nullptr ? context_->errstr : "out of memory";
    if (context_ != nullptr) {
      redisAsyncFree(context_);
      context_ = nullptr;
    }
    Fail(reason);
    return;
  }
  state_ = State::kConnecting;
  context_->data = this;
  context_->ev.data = this;
  context_->ev.addRead = &RedisConnection::AddRead;
  context_->ev.delRead = &RedisConnection::DelRead;
  context_->ev.addWrite = &RedisConnection::AddWrite;
  context_->ev.delWrite = &RedisConnection::DelWrite;
  context_->ev.cleanup = &RedisConnection::Cleanup;
  retired_file_event_.reset();
  file_event_ = dispatcher_.CreateFileEvent(context_->c.fd, [this](bool readable, bool writable) {
    redisAsyncContext* context = context_;
    if (readable && context != nullptr) {
      redisAsyncHandleRead(context);
    }
    if (writable && context_ != nullptr) {
      redisAsyncHandleWrite(context_);
    }
  });
  want_read_ = want_write_ = true;  // as hiredis's own adapters start: the connect completes
  UpdateEvents();                   // on the first writable event
  redisAsyncSetConnectCallback(context_, &RedisConnection::OnConnected);
  redisAsyncSetDisconnectCallback(context_, &RedisConnection::OnDisconnected);
  // Sent first on the new connection, before anything queued.
  if (!endpoint_.password.empty()) {
    Send({"AUTH", endpoint_.password}, [this](absl::StatusOr<RedisValue> reply) {
      if (!reply.ok() && reply.status().code() != absl::StatusCode::kUnavailable) {
        log::Error(absl::StrCat("redis ", endpoint_.host, ":", endpoint_.port,
                                " refused the password (store.url)"));
      }
    });
  }
  if (endpoint_.database != 0) {
    Send({"SELECT", absl::StrCat(endpoint_.database)}, [](absl::StatusOr<RedisValue>) {});
  }
  auto queued = std::move(queued_);
  queued_.clear();
  for (auto& [args, done] : queued) {
    Send(args, std::move(done));
  }
}

void RedisConnection::Send(const std::vector<std::string>& args, ReplyCallback done) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const std::string& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* pending = new Pending{this, std::move(done), dispatcher_.Now()};
  if (redisAsyncCommandArgv(context_, &RedisConnection::OnReply, pending,
                            static_cast<int>(argv.size()), argv.data(),
                            lengths.data()) != REDIS_OK) {
    ReplyCallback failed = std::move(pending->done);
    delete pending;
    failed(Unreachable());
    return;
  }
  pending_.push_back(pending);
  if (!timeout_timer_->Enabled()) {
    timeout_timer_->Enable(endpoint_.timeout);
  }
}

void RedisConnection::OnReply(redisAsyncContext*, void* reply, void* privdata) {
  auto* pending = static_cast<Pending*>(privdata);
  RedisConnection* self = pending->connection;
  // Replies come in order: this one is the front.
  if (!self->pending_.empty() && self->pending_.front() == pending) {
    self->pending_.pop_front();
  } else {
    std::erase(self->pending_, pending);
  }
  ReplyCallback done = std::move(pending->done);
  delete pending;
  if (self->closing_) {
    return;
  }
  if (reply == nullptr) {
    done(Unreachable());  // the connection went away with this command in flight
    return;
  }
  const auto* r = static_cast<const redisReply*>(reply);
  if (r->type == REDIS_REPLY_ERROR) {
    const std::string message(r->str, r->len);
    if (message.rfind("OOM", 0) == 0) {
      done(absl::ResourceExhaustedError("the gateway's store (Redis) is full; try later"));
    } else {
      done(absl::InternalError(absl::StrCat("the gateway's store (Redis) answered: ", message)));
    }
    return;
  }
  done(Copy(r));
}

void RedisConnection::OnConnected(const redisAsyncContext* context, int status) {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (status != REDIS_OK) {
    // hiredis frees the context after this returns (and answers what it held with nullptr).
    self->context_ = nullptr;
    self->Fail(context->errstr);
    return;
  }
  self->state_ = State::kConnected;
  self->backoff_ = absl::Milliseconds(100);
  if (self->logged_down_) {
    log::Info(absl::StrCat("redis ", self->endpoint_.host, ":", self->endpoint_.port,
                           " is reachable again"));
    self->logged_down_ = false;
  }
}

void RedisConnection::OnDisconnected(const redisAsyncContext* context, int status) {
  auto* self = static_cast<RedisConnection*>(context->data);
  // hiredis frees the context after this returns.
  self->context_ = nullptr;
  if (self->closing_) {
    return;
  }
  self->Fail(status == REDIS_OK ? "the connection was closed" : context->errstr);
}

void RedisConnection::Fail(const std::string& reason) {
  if (!logged_down_) {
    log::Warning(absl::StrCat("redis ", endpoint_.host, ":", endpoint_.port, " unreachable (",
                              reason, "); OAuth endpoints answer 503 until it is back"));
    logged_down_ = true;
  }
  state_ = State::kBackoff;
  FailQueued(Unreachable());
  reconnect_timer_->Enable(backoff_);
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
}

void RedisConnection::FailQueued(const absl::Status& status) {
  auto queued = std::move(queued_);
  queued_.clear();
  for (auto& entry : queued) {
    entry.second(status);
  }
}

// Drops a connection that stopped answering: every command it held fails, and a new one is made.
void RedisConnection::Drop(const std::string& reason) {
  redisAsyncContext* context = context_;
  context_ = nullptr;
  if (context != nullptr) {
    // Answers what hiredis held with nullptr (Unavailable); no disconnect callback: context_ is
    // already cleared and the reconnect is scheduled here.
    context->onDisconnect = nullptr;
    redisAsyncFree(context);
  }
  Fail(reason);
}

void RedisConnection::CheckTimeouts() {
  if (pending_.empty()) {
    return;
  }
  const auto waited = dispatcher_.Now() - pending_.front()->sent;
  const absl::Duration waited_for = absl::FromChrono(waited);
  if (waited_for >= endpoint_.timeout) {
    Drop(absl::StrCat("no reply within ", absl::FormatDuration(endpoint_.timeout)));
    return;
  }
  timeout_timer_->Enable(endpoint_.timeout - waited_for);
}

void RedisConnection::UpdateEvents() {
  if (file_event_ != nullptr) {
    file_event_->SetEnabled(want_read_, want_write_);
  }
}

void RedisConnection::AddRead(void* data) {
  auto* self = static_cast<RedisConnection*>(data);
  self->want_read_ = true;
  self->UpdateEvents();
}

void RedisConnection::DelRead(void* data) {
  auto* self = static_cast<RedisConnection*>(data);
  self->want_read_ = false;
  self->UpdateEvents();
}

void RedisConnection::AddWrite(void* data) {
  auto* self = static_cast<RedisConnection*>(data);
  self->want_write_ = true;
  self->UpdateEvents();
}

void RedisConnection::DelWrite(void* data) {
  auto* self = static_cast<RedisConnection*>(data);
  self->want_write_ = false;
  self->UpdateEvents();
}

void RedisConnection::Cleanup(void* data) {
  auto* self = static_cast<RedisConnection*>(data);
  self->want_read_ = self->want_write_ = false;
  // hiredis cleans up from inside the event's own callback (a read that found the connection
  // closed): the event is switched off now and destroyed with the next connection.
  if (self->file_event_ != nullptr) {
    self->file_event_->SetEnabled(false, false);
    self->retired_file_event_ = std::move(self->file_event_);
  }
}

}  // namespace gateway::store

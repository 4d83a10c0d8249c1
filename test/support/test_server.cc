#include "test/support/test_server.h"

#include <sys/resource.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "source/common/net.h"

namespace gateway::testing {
namespace {

class BufferedStream : public http::ServerStream {
 public:
  BufferedStream(http::ResponseEncoder& encoder, Responder& respond)
      : encoder_(encoder), respond_(respond) {}

  void OnHeaders(http::RequestHead&& head, bool end_stream) override {
    head_ = std::move(head);
    if (end_stream) {
      respond_(head_, body_, encoder_);
    }
  }
  void OnData(absl::string_view data, bool end_stream) override {
    body_.append(data.data(), data.size());
    if (end_stream) {
      respond_(head_, body_, encoder_);
    }
  }
  void OnWatermark(bool) override {}
  void OnEnd(http::StreamEnd) override {}

 private:
  http::ResponseEncoder& encoder_;
  Responder& respond_;
  http::RequestHead head_;
  std::string body_;
};

}  // namespace

TestServer::TestServer(http::StreamFactory factory, http::ConnectionLimits limits,
                       SSL_CTX* tls_context)
    : tls_context_(tls_context), dispatcher_("test-server") {
  connections_ =
      std::make_unique<http::ServerConnectionSet>(dispatcher_, limits, std::move(factory));
  Address address = *Address::FromIp("127.0.0.1", 0);
  int fd = *ListenReusePort(address, 128);
  port_ = Address::OfSocket(fd).port();
  listener_ = dispatcher_.CreateListener(
      fd, [this](int accepted, const Address& peer) { OnAccept(accepted, peer); });
  thread_ = std::thread([this] { dispatcher_.Run(); });
}

TestServer::~TestServer() {
  RunAndWait([this] {
    listener_.reset();
    connections_.reset();
  });
  dispatcher_.Exit();
  thread_.join();
}

void TestServer::RunAndWait(std::function<void()> work) {
  absl::Notification done;
  dispatcher_.Post([&] {
    work();
    done.Notify();
  });
  done.WaitForNotification();
}

void TestServer::OnAccept(int fd, const Address& peer) {
  ++accepted_;
  SetNoDelay(fd);
  BufferEventPtr bev;
  if (tls_context_ != nullptr) {
    bev = dispatcher_.CreateTlsBufferEvent(fd, SSL_new(tls_context_), /*server=*/true);
  } else {
    // As the gateway's workers make them for their connections.
    bev = dispatcher_.CreateSocketBufferEvent(fd, Dispatcher::SocketReads::kOffered);
  }
  connections_->Add(std::move(bev), peer);
}

http::StreamFactory RespondWith(Responder respond) {
  auto shared = std::make_shared<Responder>(std::move(respond));
  return [shared](http::ResponseEncoder& encoder) -> std::unique_ptr<http::ServerStream> {
    return std::make_unique<BufferedStream>(encoder, *shared);
  };
}

void SendResponse(http::ResponseEncoder& encoder, int status, absl::string_view body,
                  absl::string_view content_type) {
  http::ResponseHead head;
  head.status = status;
  head.headers.Add("Content-Type", content_type);
  head.headers.Add("Content-Length", absl::StrCat(body.size()));
  encoder.EncodeHeaders(std::move(head), body.empty());
  if (!body.empty()) {
    encoder.EncodeData(body, /*end_stream=*/true);
  }
}

bool LoopRunner::Run(absl::Duration timeout) {
  bool timed_out = false;
  std::unique_ptr<Timer> timer = dispatcher_.CreateTimer([&] {
    timed_out = true;
    dispatcher_.Exit();
  });
  timer->Enable(timeout);
  dispatcher_.Run();
  return !timed_out;
}

std::string Pattern(size_t size) {
  std::string data(size, '\0');
  for (size_t i = 0; i < size; ++i) {
    data[i] = static_cast<char>('a' + i % 26);
  }
  return data;
}

absl::Duration ProcessCpuTime() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return absl::DurationFromTimeval(usage.ru_utime) + absl::DurationFromTimeval(usage.ru_stime);
}

}  // namespace gateway::testing

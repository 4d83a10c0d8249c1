// The body framing the encoder writes: chunk size lines in hex, each chunk whole.

#include "source/common/http/encoder.h"

#include <event2/buffer.h>

#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"

namespace gateway::http {
namespace {

struct EvbufferDeleter {
  void operator()(evbuffer* buffer) const { evbuffer_free(buffer); }
};

std::string Drain(evbuffer* buffer) {
  std::string out(evbuffer_get_length(buffer), '\0');
  evbuffer_remove(buffer, out.data(), out.size());
  return out;
}

// The parser's fields are not checked again, but a field a filter sets is, even when it replaces
// one of them.
TEST(EncoderTest, AFieldSetAfterTheParserIsCheckedAgain) {
  std::unique_ptr<evbuffer, EvbufferDeleter> out(evbuffer_new());
  RequestHead head;
  head.method = "GET";
  head.target = "/mcp";
  head.headers.Add("Host", "a");
  head.headers.Add("X-Name", "fine");
  head.headers.MarkChecked();
  ASSERT_TRUE(EncodeRequestHead(head, out.get()).ok());
  EXPECT_EQ(Drain(out.get()), "GET /mcp HTTP/1.1\r\nHost: a\r\nX-Name: fine\r\n\r\n");
  head.headers.Set("X-Name", "split\r\nX-Injected: 1");
  EXPECT_FALSE(EncodeRequestHead(head, out.get()).ok());
  head.headers.Set("X-Name", "fine");
  head.headers.Add("Bad Name", "x");
  EXPECT_FALSE(EncodeRequestHead(head, out.get()).ok());
  EXPECT_EQ(evbuffer_get_length(out.get()), 0u);
}

// A vouched-for field is the caller's word: not checked again (which is why callers vouch only for
// constants, numbers, addresses and values they checked), while the same field added plainly is.
TEST(EncoderTest, AVouchedForFieldIsNotCheckedAgain) {
  std::unique_ptr<evbuffer, EvbufferDeleter> out(evbuffer_new());
  ResponseHead head;
  head.status = 200;
  head.headers.AddVouched("Content Length", "0");  // a broken promise, to show it is kept
  ASSERT_TRUE(EncodeResponseHead(head, out.get()).ok());
  EXPECT_EQ(Drain(out.get()), "HTTP/1.1 200 OK\r\nContent Length: 0\r\n\r\n");
  head.headers.clear();
  head.headers.Add("Content Length", "0");
  EXPECT_FALSE(EncodeResponseHead(head, out.get()).ok());
  EXPECT_EQ(evbuffer_get_length(out.get()), 0u);
}

TEST(EncoderTest, ChunksCarryTheirSizeInLowerCaseHex) {
  std::unique_ptr<evbuffer, EvbufferDeleter> out(evbuffer_new());
  for (size_t size : {size_t{1}, size_t{9}, size_t{10}, size_t{15}, size_t{16}, size_t{255},
                      size_t{256}, size_t{4095}, size_t{4096}, size_t{65537}, size_t{1} << 20}) {
    const std::string data(size, 'x');
    EncodeChunk(data, out.get());
    EXPECT_EQ(Drain(out.get()), absl::StrFormat("%zx\r\n%s\r\n", size, data)) << size;
  }
}

TEST(EncoderTest, ChunksFollowWhatIsAlreadyBufferedAndEndWithTheLastChunk) {
  std::unique_ptr<evbuffer, EvbufferDeleter> out(evbuffer_new());
  evbuffer_add(out.get(), "head", 4);
  EncodeChunk("event: message\n\n", out.get());
  EncodeChunk("", out.get());  // nothing: an empty chunk would end the body
  EncodeChunk("ab", out.get());
  EncodeLastChunk(out.get());
  EXPECT_EQ(Drain(out.get()), "head10\r\nevent: message\n\n\r\n2\r\nab\r\n0\r\n\r\n");
}

}  // namespace
}  // namespace gateway::http

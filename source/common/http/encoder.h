#pragma once

// Serializes message heads and body framing into an output buffer. Framing decisions (length or
// chunked, keep-alive) belong to the connection; this only writes bytes, after checking that no
// header name or value could split the message (RFC 9110 section 5.5).

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "source/common/http/message.h"

struct evbuffer;

namespace gateway::http {

// "HTTP/1.1 200 OK\r\n" + headers + "\r\n". Fails, writing nothing, on an invalid header.
absl::Status EncodeResponseHead(const ResponseHead& head, evbuffer* out);
// "GET /path HTTP/1.1\r\n" + headers + "\r\n". Fails, writing nothing, on an invalid header.
absl::Status EncodeRequestHead(const RequestHead& head, evbuffer* out);

// One chunk of a chunked body (RFC 9112 section 7.1); empty data writes nothing.
void EncodeChunk(absl::string_view data, evbuffer* out);
// The last chunk of a chunked body, with no trailers.
void EncodeLastChunk(evbuffer* out);

}  // namespace gateway::http

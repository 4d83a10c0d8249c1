#include "source/common/http/reply.h"

#include "source/common/json.h"

namespace gateway::http {

std::string ErrorBody(absl::string_view error, absl::string_view description) {
  json::Writer writer;
  writer->StartObject();
  writer.Key("error");
  writer.String(error);
  if (!description.empty()) {
    writer.Key("error_description");
    writer.String(description);
  }
  writer->EndObject();
  return writer.Finish();
}

LocalReply ErrorReply(int status, absl::string_view error, absl::string_view description) {
  LocalReply reply;
  reply.status = status;
  reply.content_type = "application/json";
  reply.body = ErrorBody(error, description);
  reply.headers.Add("Cache-Control", "no-store");
  return reply;
}

LocalReply ReplyFromStatus(const absl::Status& status) {
  int code = 500;
  absl::string_view error = "server_error";
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      code = 400;
      error = "invalid_request";
      break;
    case absl::StatusCode::kUnauthenticated:
      code = 401;
      error = "invalid_token";
      break;
    case absl::StatusCode::kPermissionDenied:
      code = 403;
      error = "access_denied";
      break;
    case absl::StatusCode::kNotFound:
      code = 404;
      error = "not_found";
      break;
    case absl::StatusCode::kResourceExhausted:
      code = 429;
      error = "too_many_requests";
      break;
    case absl::StatusCode::kUnavailable:
      code = 503;
      error = "temporarily_unavailable";
      break;
    case absl::StatusCode::kDeadlineExceeded:
      code = 504;
      error = "upstream_timeout";
      break;
    default:
      break;
  }
  return ErrorReply(code, error, status.message());
}

}  // namespace gateway::http

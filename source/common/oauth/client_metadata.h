#pragma once

// Client ID Metadata Documents (MCP authorization, 2025-11-25; the IETF OAuth draft
// "OAuth Client ID Metadata Document"): a client may use an https URL as its client_id, and the
// authorization server fetches its metadata from that URL instead of requiring registration.
//
// The fetch is asynchronous, bounded in size and time, refuses private addresses (unless the
// configuration allows them), and is cached as HTTP caching says (within limits). A document
// must name itself as client_id and list its redirect URIs; only public clients
// (token_endpoint_auth_method "none") are accepted.

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "source/common/clock.h"
#include "source/common/http/client.h"
#include "source/common/oauth/upstream_client.h"
#include "source/common/store/records.h"

namespace gateway::oauth {

// Whether `client_id` is a metadata document URL: https, with a path, without fragment or user
// info.
bool IsClientMetadataUrl(absl::string_view client_id);

// Validates the document fetched from `url`; the client it describes (client_id = `url`).
absl::StatusOr<store::Client> ParseClientMetadata(absl::string_view url, absl::string_view body);

// Process-wide and thread-safe: what one worker fetched, every worker reuses until it expires.
class ClientMetadataResolver {
 public:
  ClientMetadataResolver(const Clock& clock, bool allow_private_addresses, size_t capacity = 1000);

  // The client for `url`, cached or fetched with `client` (the caller's worker's). Answers on
  // the caller's thread; at once when cached.
  std::unique_ptr<Operation> Resolve(http::HttpClient& client, const std::string& url,
                                     UpstreamCallback<store::Client> done);

 private:
  struct Cached {
    store::Client client;
    absl::Time expires_at;
  };
  void Remember(const std::string& url, const store::Client& client, absl::Duration lifetime);

  const Clock& clock_;
  const bool allow_private_addresses_;
  const size_t capacity_;
  absl::Mutex mutex_;
  absl::flat_hash_map<std::string, Cached> cache_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace gateway::oauth

#pragma once

// `upstream_forward`: the proxy to the upstream MCP server, the last filter of the MCP path.
// POST, GET and DELETE go to upstream.rs with `Authorization: Bearer <upstream token>` (put in
// the context by bearer_split) and Host rewritten; a fixed set of headers passes each way (the
// MCP ones, content type, caching; configurable extras), hop-by-hop headers never do, and
// X-Forwarded-* are the gateway's own. Bodies stream both ways, never buffered whole: an SSE
// event reaches the client as the upstream sends it, a slow client pauses the upstream read
// (and a slow upstream the client's body), a client that leaves cancels the upstream request.
//
// Also: an upstream 401 becomes the gateway's own 401 challenge (the client refreshes through
// the gateway); an upstream 403 insufficient_scope is passed on with the gateway's metadata and
// its scope, marks the grant for re-authorization, and has that scope asked of the upstream when
// the client authorizes again (step-up); an Mcp-Session-Id is bound to the user that created it
// (another user's token gets 404); a long stream is closed soon after its grant is revoked;
// Origin is checked against the gateway's own and configured origins (DNS rebinding), with CORS
// preflights answered here. Upstream unreachable: 502; too slow: 504.
//
//   - name: upstream_forward
//     match: {prefix: /mcp}
//     config:
//       response_timeout: 60s     # to the response head
//       revocation_check: 30s     # how often an open stream re-checks its grant
//       allowed_origins: [https://inspector.example]
//       pass_headers: [X-Request-Id]

#include "source/filter.h"

namespace gateway::filters {

class UpstreamForwardFactory : public FilterFactory {
 public:
  absl::StatusOr<FilterFactoryFn> CreateFilterFactory(const config::Node& config,
                                                      FactoryContext& context) const override;
};

}  // namespace gateway::filters

#pragma once

// `metadata`: the discovery documents that tell an MCP client where everything is.
//   * RFC 9728 protected-resource metadata at /.well-known/oauth-protected-resource and at the
//     path-suffixed URL of the MCP endpoint (/.well-known/oauth-protected-resource/mcp), whose
//     `resource` is exactly <public_url><mcp_path>;
//   * RFC 8414 authorization-server metadata at /.well-known/oauth-authorization-server and the
//     OpenID alias /.well-known/openid-configuration.
// Every URL derives from listener.public_url. The documents are built once, at start-up.
// CORS-enabled (browser clients fetch them). Other paths pass on down the chain.

#include "source/filter.h"

namespace gateway::filters {

class MetadataFactory : public FilterFactory {
 public:
  absl::StatusOr<FilterFactoryFn> CreateFilterFactory(const config::Node& config,
                                                      FactoryContext& context) const override;
};

}  // namespace gateway::filters

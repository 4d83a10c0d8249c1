#pragma once

// `direct_response`: answers every matching request with a fixed response (Envoy's
// direct_response): a maintenance page, a robots.txt, a stub route in tests.
//
//   - name: direct_response
//     match: {path: /robots.txt, methods: [GET]}
//     config: {status: 200, content_type: text/plain, body: "User-agent: *\nDisallow: /\n"}

#include "source/filter.h"

namespace gateway::filters {

class DirectResponseFactory : public FilterFactory {
 public:
  absl::StatusOr<FilterFactoryFn> CreateFilterFactory(const config::Node& config,
                                                      FactoryContext& context) const override;
};

}  // namespace gateway::filters

// ip_allowlist: answers 403 to clients whose address is outside the listed networks.
//
// This file is the worked example of a filter of your own (README, "Writing your own filter"):
// a factory that parses its config once, a filter made per request, and a registration function
// named after the file. Any .cc in extensions/ is compiled in and registered; naming the filter
// in gateway.yaml puts it in the chain:
//
//   - name: ip_allowlist
//     config: {allow: [127.0.0.0/8, "::1/128"]}

#include <arpa/inet.h>

#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "source/filter.h"
#include "source/filter_registry.h"

namespace gateway {
namespace {

// An IPv4 or IPv6 network in CIDR form.
struct Network {
  int family = AF_INET;
  unsigned char bytes[16] = {};
  int prefix_bits = 0;

  static absl::StatusOr<Network> Parse(absl::string_view text) {
    Network network;
    const size_t slash = text.find('/');
    const std::string ip(text.substr(0, slash));
    const int max_bits = ip.find(':') == std::string::npos ? 32 : 128;
    network.family = max_bits == 32 ? AF_INET : AF_INET6;
    network.prefix_bits = max_bits;
    if (inet_pton(network.family, ip.c_str(), network.bytes) != 1 ||
        (slash != absl::string_view::npos &&
         (!absl::SimpleAtoi(text.substr(slash + 1), &network.prefix_bits) ||
          network.prefix_bits < 0 || network.prefix_bits > max_bits))) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\" is not a network such as 10.0.0.0/8 or ::1/128"));
    }
    return network;
  }

  bool Contains(const Address& address) const {
    if (address.family() != family) {
      return false;
    }
    const unsigned char* ip =
        family == AF_INET
            ? reinterpret_cast<const unsigned char*>(
                  &reinterpret_cast<const sockaddr_in*>(&address.storage)->sin_addr)
            : reinterpret_cast<const unsigned char*>(
                  &reinterpret_cast<const sockaddr_in6*>(&address.storage)->sin6_addr);
    const int whole = prefix_bits / 8;
    const int rest = prefix_bits % 8;
    if (std::memcmp(ip, bytes, whole) != 0) {
      return false;
    }
    const unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
    return rest == 0 || (ip[whole] & mask) == (bytes[whole] & mask);
  }
};

class IpAllowlistFilter : public Filter {
 public:
  IpAllowlistFilter(FilterCallbacks& callbacks, std::shared_ptr<const std::vector<Network>> allow)
      : callbacks_(callbacks), allow_(std::move(allow)) {}

  FilterStatus OnRequestHeaders() override {
    for (const Network& network : *allow_) {
      if (network.Contains(callbacks_.context().peer)) {
        return FilterStatus::kContinue;
      }
    }
    callbacks_.SendLocalReply(
        http::ErrorReply(403, "access_denied", "requests from your address are not allowed"));
    return FilterStatus::kStopIteration;
  }

 private:
  FilterCallbacks& callbacks_;
  std::shared_ptr<const std::vector<Network>> allow_;
};

class IpAllowlistFactory : public FilterFactory {
 public:
  absl::StatusOr<FilterFactoryFn> CreateFilterFactory(const config::Node& config,
                                                      FactoryContext&) const override {
    config::MapReader reader(config);
    auto allow = std::make_shared<std::vector<Network>>();
    for (const std::string& text : reader.StringList("allow")) {
      absl::StatusOr<Network> network = Network::Parse(text);
      if (!network.ok()) {
        reader.AddError(reader.Child("allow").Error(network.status().message()));
        continue;
      }
      allow->push_back(*network);
    }
    if (allow->empty()) {
      reader.AddError(
          config.Error("ip_allowlist needs an allow list, such as {allow: [10.0.0.0/8]}"));
    }
    if (absl::Status status = reader.Finish(); !status.ok()) {
      return status;
    }
    std::shared_ptr<const std::vector<Network>> shared = std::move(allow);
    return [shared](FilterCallbacks& callbacks) -> std::unique_ptr<Filter> {
      return std::make_unique<IpAllowlistFilter>(callbacks, shared);
    };
  }
};

}  // namespace

void RegisterIpAllowlistFilter(FilterRegistry& registry) {
  registry.Register("ip_allowlist", std::make_unique<IpAllowlistFactory>());
}

}  // namespace gateway

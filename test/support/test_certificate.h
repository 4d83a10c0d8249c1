#pragma once

// A throwaway self-signed certificate for TLS tests, made fresh for each run (nothing secret is
// committed): an EC P-256 key and a certificate for DNS:localhost and IP:127.0.0.1, valid for a
// day.

#include <string>

#include "absl/status/statusor.h"

namespace gateway::testing {

struct TestCertificate {
  std::string directory;
  std::string certificate_file;  // PEM; also the CA file a client trusts
  std::string key_file;          // PEM
};

absl::StatusOr<TestCertificate> MakeTestCertificate(const std::string& common_name = "localhost");

}  // namespace gateway::testing

#pragma once

// A throwaway self-signed certificate for TLS tests, made fresh for each run (nothing secret is
// committed): an EC P-256 key and a certificate for DNS:localhost and IP:127.0.0.1, valid for a
// day. The files and their directory are removed when the TestCertificate goes away.

#include <string>
#include <utility>

#include "absl/status/statusor.h"

namespace gateway::testing {

struct TestCertificate {
  TestCertificate() = default;
  TestCertificate(TestCertificate&& other) noexcept { *this = std::move(other); }
  TestCertificate& operator=(TestCertificate&& other) noexcept;
  TestCertificate(const TestCertificate&) = delete;
  TestCertificate& operator=(const TestCertificate&) = delete;
  ~TestCertificate() { Remove(); }

  // Deletes the directory and everything in it (nothing if empty or moved from).
  void Remove();

  std::string directory;
  std::string certificate_file;  // PEM; also the CA file a client trusts
  std::string key_file;          // PEM
};

absl::StatusOr<TestCertificate> MakeTestCertificate(const std::string& common_name = "localhost");

}  // namespace gateway::testing

#include "test/support/test_certificate.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"

namespace gateway::testing {
namespace {

struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertDeleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct FileCloser {
  void operator()(FILE* file) const { std::fclose(file); }
};

}  // namespace

TestCertificate& TestCertificate::operator=(TestCertificate&& other) noexcept {
  if (this != &other) {
    Remove();
    directory = std::exchange(other.directory, "");
    certificate_file = std::exchange(other.certificate_file, "");
    key_file = std::exchange(other.key_file, "");
  }
  return *this;
}

void TestCertificate::Remove() {
  if (directory.empty()) {
    return;
  }
  std::error_code ignored;
  std::filesystem::remove_all(directory, ignored);
  directory.clear();
  certificate_file.clear();
  key_file.clear();
}

absl::StatusOr<TestCertificate> MakeTestCertificate(const std::string& common_name) {
  char directory_template[] = "/tmp/gateway-test-cert-XXXXXX";
  if (mkdtemp(directory_template) == nullptr) {
    return absl::InternalError("mkdtemp failed");
  }
  TestCertificate out;
  out.directory = directory_template;
  out.certificate_file = absl::StrCat(out.directory, "/cert.pem");
  out.key_file = absl::StrCat(out.directory, "/key.pem");

  std::unique_ptr<EVP_PKEY, KeyDeleter> key(EVP_EC_gen("P-256"));
  std::unique_ptr<X509, CertDeleter> cert(X509_new());
  if (key == nullptr || cert == nullptr) {
    return absl::InternalError("cannot create a key or certificate");
  }
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, cert.get(), cert.get(), nullptr, nullptr, 0);
  const std::string san = absl::StrCat("DNS:", common_name, ",IP:127.0.0.1");
  for (const auto& [nid, value] : {std::pair<int, std::string>{NID_subject_alt_name, san},
                                   {NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
    if (extension == nullptr) {
      return absl::InternalError("cannot build a certificate extension");
    }
    X509_add_ext(cert.get(), extension, -1);
    X509_EXTENSION_free(extension);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return absl::InternalError("cannot sign the certificate");
  }
  std::unique_ptr<FILE, FileCloser> cert_out(std::fopen(out.certificate_file.c_str(), "w"));
  std::unique_ptr<FILE, FileCloser> key_out(std::fopen(out.key_file.c_str(), "w"));
  if (cert_out == nullptr || key_out == nullptr ||
      PEM_write_X509(cert_out.get(), cert.get()) != 1 ||
      PEM_write_PrivateKey(key_out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return absl::InternalError("cannot write the certificate files");
  }
  return out;
}

}  // namespace gateway::testing

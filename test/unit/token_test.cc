#include <sys/stat.h>

#include <fstream>
#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/common/crypto.h"
#include "source/common/oauth/token_issuer.h"
#include "source/common/token/key_ring.h"
#include "source/common/token/token_pair.h"

namespace gateway::token {
namespace {

using ::testing::HasSubstr;

KeyRing Ring(std::vector<KeyRing::Key> keys) { return *KeyRing::Create(std::move(keys)); }

TEST(TokenPairTest, EncodesAndSplitsAtTheFirstColon) {
  const std::string token = EncodePair("gatewayhalf", "upstream:with:colons");
  std::string scratch;
  absl::StatusOr<SplitPair> pair = DecodePair(token, scratch);
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_EQ(pair->gateway_half, "gatewayhalf");
  EXPECT_EQ(pair->upstream_part, "upstream:with:colons");
  EXPECT_EQ(token.find('='), std::string::npos);
}

TEST(TokenPairTest, RefusesWhatIsNotAPair) {
  std::string scratch;
  EXPECT_FALSE(DecodePair("not base64!", scratch).ok());
  EXPECT_FALSE(DecodePair(crypto::Base64UrlEncode("nocolon"), scratch).ok());
  EXPECT_FALSE(DecodePair(crypto::Base64UrlEncode(":upstream"), scratch).ok());
  EXPECT_FALSE(DecodePair(crypto::Base64UrlEncode("gateway:"), scratch).ok());
  EXPECT_FALSE(DecodePair("", scratch).ok());
}

TEST(TokenPairTest, SealsForOneGatewayHalfOnly) {
  KeyRing keys = Ring({KeyRing::GenerateKey("k1")});
  const std::string sealed = Seal(keys, "gho_upstreamtoken", "half-A");
  EXPECT_TRUE(IsSealed(sealed));
  EXPECT_EQ(sealed.find("gho_upstreamtoken"), std::string::npos);
  absl::StatusOr<std::string> opened = Unseal(keys, sealed, "half-A");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, "gho_upstreamtoken");
  // The same sealed part under another gateway half: the swap is detected.
  EXPECT_EQ(Unseal(keys, sealed, "half-B").status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(TokenPairTest, DetectsTampering) {
  KeyRing keys = Ring({KeyRing::GenerateKey("k1")});
  std::string sealed = Seal(keys, "upstream", "half");
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string tampered = sealed;
    tampered[i] ^= 0x01;
    EXPECT_FALSE(Unseal(keys, tampered, "half").ok()) << "byte " << i;
  }
  EXPECT_FALSE(Unseal(keys, sealed.substr(0, sealed.size() - 1), "half").ok());
  EXPECT_FALSE(Unseal(keys, "\x01", "half").ok());
}

TEST(TokenPairTest, RingsWithTheSameKeyIdKeepTheirOwnKeys) {
  // Cipher contexts are kept per thread and key: two rings naming different secrets alike must
  // not share one, and a failed unseal must leave the context usable.
  KeyRing first = Ring({KeyRing::GenerateKey("k1")});
  KeyRing second = Ring({KeyRing::GenerateKey("k1")});
  const std::string sealed = Seal(first, "upstream", "half");
  EXPECT_FALSE(Unseal(second, sealed, "half").ok());
  EXPECT_FALSE(Unseal(first, sealed, "other-half").ok());
  EXPECT_EQ(*Unseal(first, sealed, "half"), "upstream");
  KeyRing copy = first;  // copies share the keys, and so may share contexts
  EXPECT_EQ(*Unseal(copy, sealed, "half"), "upstream");
  const std::string resealed = Seal(second, "upstream", "half");
  EXPECT_FALSE(Unseal(first, resealed, "half").ok());
  EXPECT_EQ(*Unseal(second, resealed, "half"), "upstream");
}

TEST(TokenPairTest, DecodedPairMatchesDecodePair) {
  const std::string token = EncodePair("gatewayhalf", "upstream:with:colons");
  DecodedPair pair;
  ASSERT_TRUE(pair.Decode(token));
  EXPECT_EQ(pair.gateway_half(), "gatewayhalf");
  EXPECT_EQ(pair.upstream_part(), "upstream:with:colons");
  auto copy = std::make_unique<DecodedPair>(pair);  // a check waiting for the store is a copy
  pair.Decode(EncodePair("other", "pair"));
  EXPECT_EQ(copy->gateway_half(), "gatewayhalf");
  EXPECT_EQ(copy->upstream_part(), "upstream:with:colons");
  for (const std::string& bad :
       {std::string("not base64!"), crypto::Base64UrlEncode("nocolon"),
        crypto::Base64UrlEncode(":upstream"), crypto::Base64UrlEncode("gateway:"), std::string(),
        crypto::Base64UrlEncode("a:" + std::string(DecodedPair::kMaxTokenChars, 'b'))}) {
    EXPECT_FALSE(pair.Decode(bad)) << bad;
    EXPECT_TRUE(pair.gateway_half().empty());
    EXPECT_TRUE(pair.upstream_part().empty());
  }
  EXPECT_TRUE(pair.Decode(crypto::Base64UrlEncode("a:" + std::string(3000, 'b'))));
}

TEST(TokenPairTest, OlderKeysStillUnsealDuringRotation) {
  KeyRing::Key old_key = KeyRing::GenerateKey("old");
  const std::string sealed_before = Seal(Ring({old_key}), "upstream", "half");
  KeyRing rotated = Ring({KeyRing::GenerateKey("new"), old_key});
  EXPECT_EQ(*Unseal(rotated, sealed_before, "half"), "upstream");
  const std::string sealed_after = Seal(rotated, "upstream2", "half");
  EXPECT_EQ(*Unseal(rotated, sealed_after, "half"), "upstream2");
  // Once the old key is dropped, what it sealed no longer opens.
  EXPECT_FALSE(Unseal(Ring({rotated.current()}), sealed_before, "half").ok());
}

TEST(TokenPairTest, B64TokenSetKeepsHeadersClean) {
  EXPECT_TRUE(IsB64Token("gho_16C7e42F292c6912E7710c838347Ae178B4a"));
  EXPECT_TRUE(IsB64Token("abc.def-ghi_jkl~mno+pqr/stu=="));
  EXPECT_FALSE(IsB64Token(""));
  EXPECT_FALSE(IsB64Token("abc\r\nX-Evil: 1"));
  EXPECT_FALSE(IsB64Token("abc def"));
  EXPECT_FALSE(IsB64Token("=abc"));
  EXPECT_FALSE(IsB64Token("ab=c"));
  EXPECT_FALSE(IsB64Token(absl::string_view("a\0b", 3)));
}

TEST(KeyRingTest, RefusesBadKeys) {
  EXPECT_FALSE(KeyRing::Create({}).ok());
  EXPECT_FALSE(KeyRing::Create({{"k1", "short"}}).ok());
  EXPECT_FALSE(KeyRing::Create({{"bad id", std::string(32, 'x')}}).ok());
  EXPECT_FALSE(KeyRing::Create({{"k1", std::string(32, 'x')}, {"k1", std::string(32, 'y')}}).ok());
}

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char path[] = "/tmp/gateway-keys-XXXXXX";
    directory_ = mkdtemp(path);
    file_ = directory_ + "/keys";
  }
  void TearDown() override { std::system(("rm -rf " + directory_).c_str()); }
  std::string directory_;
  std::string file_;
};

TEST_F(KeyFileTest, CreatesAPrivateFileOnFirstStartAndReadsItBack) {
  absl::StatusOr<KeyRing> first = KeyRing::LoadOrCreate(file_);
  ASSERT_TRUE(first.ok()) << first.status();
  struct stat info;
  ASSERT_EQ(stat(file_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);
  absl::StatusOr<KeyRing> again = KeyRing::LoadOrCreate(file_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->current().id, first->current().id);
  EXPECT_EQ(again->current().secret, first->current().secret);
}

TEST_F(KeyFileTest, RefusesAFileOthersCanRead) {
  std::ofstream(file_) << "k1 " << crypto::Base64UrlEncode(std::string(32, 'k')) << "\n";
  chmod(file_.c_str(), 0644);
  EXPECT_THAT(KeyRing::LoadOrCreate(file_).status().message(), HasSubstr("chmod 600"));
  chmod(file_.c_str(), 0600);
  EXPECT_TRUE(KeyRing::LoadOrCreate(file_).ok());
}

TEST_F(KeyFileTest, NamesTheBadLine) {
  std::ofstream(file_) << "# keys\nk1 not-base64-!!\n";
  chmod(file_.c_str(), 0600);
  EXPECT_THAT(KeyRing::LoadOrCreate(file_).status().message(), HasSubstr("keys:2:"));
}

TEST(GraceResponseTest, OnlyTheRotatedRefreshTokensHalfOpensIt) {
  const std::string body = R"({"access_token":"a","refresh_token":"r"})";
  const std::string sealed = oauth::SealGraceResponse("half-1", body);
  EXPECT_EQ(sealed.find("refresh_token"), std::string::npos);
  absl::StatusOr<std::string> opened = oauth::OpenGraceResponse("half-1", sealed);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, body);
  EXPECT_FALSE(oauth::OpenGraceResponse("half-2", sealed).ok());
  std::string tampered = sealed;
  tampered.back() ^= 1;
  EXPECT_FALSE(oauth::OpenGraceResponse("half-1", tampered).ok());
}

}  // namespace
}  // namespace gateway::token

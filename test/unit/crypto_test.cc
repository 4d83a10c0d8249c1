#include "source/common/crypto.h"

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace gateway::crypto {
namespace {

TEST(CryptoTest, RandomTokensAre256BitBase64Url) {
  const std::string a = RandomToken();
  const std::string b = RandomToken();
  EXPECT_EQ(a.size(), 43u);
  EXPECT_NE(a, b);
  std::string raw;
  ASSERT_TRUE(Base64UrlDecode(a, &raw));
  EXPECT_EQ(raw.size(), 32u);
  EXPECT_EQ(a.find_first_of("+/=:"), std::string::npos);
}

TEST(CryptoTest, PkceS256MatchesRfc7636AppendixB) {
  EXPECT_EQ(PkceS256Challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST(CryptoTest, HmacSha256MatchesRfc4231TestCase2) {
  EXPECT_EQ(absl::BytesToHexString(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(CryptoTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  // Compared a word at a time and then byte by byte: a difference in any bit of any byte, in
  // the words or in the tail, is seen.
  for (size_t length = 1; length <= 40; ++length) {
    std::string a(length, '\0');
    for (size_t i = 0; i < length; ++i) {
      a[i] = static_cast<char>('a' + i);
    }
    EXPECT_TRUE(ConstantTimeEquals(a, std::string(a))) << length;
    for (size_t i = 0; i < length; ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string b = a;
        b[i] = static_cast<char>(b[i] ^ (1 << bit));
        EXPECT_FALSE(ConstantTimeEquals(a, b)) << length << " " << i << " " << bit;
      }
    }
  }
}

TEST(CryptoTest, PasswordHashesVerify) {
  const std::string hashed = HashPassword("correct horse");
  EXPECT_TRUE(IsPasswordHash(hashed));
  EXPECT_EQ(hashed.find("correct horse"), std::string::npos);
  EXPECT_TRUE(*VerifyPassword("correct horse", hashed));
  EXPECT_FALSE(*VerifyPassword("correct horsf", hashed));
  EXPECT_NE(HashPassword("correct horse"), hashed);  // salted
  EXPECT_FALSE(VerifyPassword("x", "scrypt$1$8$1$AAAA$BBBB").ok());
  EXPECT_FALSE(VerifyPassword("x", "plain").ok());
}

TEST(CryptoTest, Base64UrlRoundTripsEveryLengthAndMatchesAbseil) {
  std::string data;
  for (int length = 0; length < 70; ++length) {
    const std::string encoded = Base64UrlEncode(data);
    EXPECT_EQ(encoded, absl::WebSafeBase64Escape(data)) << length;
    std::string decoded;
    ASSERT_TRUE(Base64UrlDecode(encoded, &decoded)) << length;
    EXPECT_EQ(decoded, data);
    data.push_back(static_cast<char>(length * 37 + 251));
  }
}

TEST(CryptoTest, Base64UrlDecodeAcceptsPaddingAndRefusesEverythingElse) {
  std::string out;
  EXPECT_TRUE(Base64UrlDecode("QUI=", &out));
  EXPECT_EQ(out, "AB");
  EXPECT_TRUE(Base64UrlDecode("QQ==", &out));
  EXPECT_EQ(out, "A");
  EXPECT_TRUE(Base64UrlDecode("QQ", &out));
  EXPECT_EQ(out, "A");
  EXPECT_TRUE(Base64UrlDecode("-_-_", &out));
  EXPECT_EQ(out, "\xfb\xff\xbf");
  for (const char* bad :
       {"Q", "QQ=", "QQ===", "QQ==QQ==", "QU JD", "QUJD\n", "QU+D", "QU/D", "QUJD=",
        "QU\x80"
        "D"}) {
    EXPECT_FALSE(Base64UrlDecode(bad, &out)) << bad;
    EXPECT_TRUE(out.empty()) << bad;
  }
}

TEST(CryptoTest, Sha256MatchesFips180Example) {
  EXPECT_EQ(absl::BytesToHexString(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  SecretHashBuffer buffer;
  EXPECT_EQ(SecretHashInto("abc", buffer), SecretHash("abc"));
  EXPECT_EQ(SecretHash("abc"), absl::WebSafeBase64Escape(Sha256("abc")));
}

TEST(CryptoTest, SecretHashIsStableAndOneWay) {
  EXPECT_EQ(SecretHash("abc"), SecretHash("abc"));
  EXPECT_NE(SecretHash("abc"), SecretHash("abd"));
  EXPECT_EQ(SecretHash("abc").size(), 43u);
}

}  // namespace
}  // namespace gateway::crypto

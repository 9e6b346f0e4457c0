// Unit tests of the secret scrubber's rule (src/core/redaction.*): which keys and which string
// values append() replaces by "[REDACTED]" before hashing.  Each input is a heap copy of exactly
// its bytes (no NUL after it), so a read past the length is an ASan failure.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "core/redaction.hpp"

namespace core = forgea::core;

namespace {

bool secret_key(std::string_view s)
{
    std::unique_ptr<char[]> b(new char[s.size() + 1]);
    std::memcpy(b.get(), s.data(), s.size());
    return core::is_secret_key(b.get(), s.size());
}

bool secret_value(std::string_view s)
{
    std::unique_ptr<char[]> b(new char[s.size() + 1]);
    std::memcpy(b.get(), s.data(), s.size());
    return core::is_secret_value(b.get(), s.size());
}

const std::string kTok36 = "abcdefghijklmnopqrstuvwxyz0123456789";   // 36 token characters

TEST(SecretKey, WordsAnywhereInTheNormalisedKey)
{
    for (const char *k : {"password", "Password", "db_password", "passwd", "passphrase", "key_passphrase", "secret",
                          "client_secret", "clientSecret", "token", "GitHubToken", "access_token", "authorization",
                          "Authorization", "api_key", "API_KEY", "X-Api-Key", "api key", "apikey", "private_key",
                          "privateKey", "set-cookie", "Cookie", "credentials", "db_credentials", "access_key",
                          "access.key", "aws_access_key_id", "session_token", "x-auth-token"})
        EXPECT_TRUE(secret_key(k)) << k;
}

TEST(SecretKey, ShortNamesOnlyAsAWordOfTheirOwn)
{
    for (const char *k : {"pwd", "PWD", "db_pwd", "dbPwd", "auth", "Auth", "X-Auth", "basicAuth", "proxy-auth",
                          "HTTPAuth", "auth_header", "session", "Session", "SESSION"})
        EXPECT_TRUE(secret_key(k)) << k;
    for (const char *k : {"author", "authored_at", "authorId", "oauth_app", "pwdx", "session_id", "sessionId",
                          "session_note", "session_choice", "active_sessions", "commit_sha", "passage", "keep",
                          "key_id", "key_name", "tokenizer_version_is_not_a_token_free_word"})
        EXPECT_EQ(secret_key(k), std::string_view(k).find("token") != std::string_view::npos) << k;
}

TEST(SecretKey, EmptyAndLongKeys)
{
    EXPECT_FALSE(secret_key(""));
    EXPECT_FALSE(secret_key(std::string(1000, 'a')));
    EXPECT_TRUE(secret_key(std::string(200, 'a') + "password"));
    // Compared on the first 255 normalised bytes: a word past them is not seen.
    EXPECT_FALSE(secret_key(std::string(300, 'a') + "password"));
    // ... but a whole word still is.
    EXPECT_TRUE(secret_key(std::string(300, 'a') + "_auth"));
}

TEST(SecretValue, AuthorizationHeaderValues)
{
    for (const char *v : {"Bearer x", "bearer abc.def.ghi", "BEARER  eyJhbGciOi", " Bearer xyz ", "Basic dXNlcjpwYXNz",
                          "basic\tdXNlcjpwYXNz"})
        EXPECT_TRUE(secret_value(v)) << v;
    for (const char *v : {"Bearer", "Bearer ", "Bearer tokens are supported now", "Basic setup done", "Basically x",
                          "Bearerx y", "the Bearer x", ""})
        EXPECT_FALSE(secret_value(v)) << v;
}

TEST(SecretValue, GitHubTokensAnywhere)
{
    for (const std::string p : {"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"}) {
        EXPECT_TRUE(secret_value(p + kTok36)) << p;
        EXPECT_TRUE(secret_value("fix: remove " + p + kTok36 + " from config")) << p;
        EXPECT_TRUE(secret_value("token=" + p + kTok36)) << p;
        EXPECT_TRUE(secret_value(p + kTok36.substr(0, 20))) << p << ": 20 characters are enough";
        EXPECT_FALSE(secret_value(p + kTok36.substr(0, 19))) << p << ": 19 are not";
        EXPECT_FALSE(secret_value("x" + p + kTok36)) << p << ": not at a word start";
        EXPECT_FALSE(secret_value(p)) << p;
    }
    EXPECT_FALSE(secret_value("ghx_" + kTok36));
    EXPECT_FALSE(secret_value("6113728f27ae82c7b1a177c8d03f9e96e0adf246"));
    EXPECT_FALSE(secret_value("https://github.com/forgea/ghp_lab"));
}

TEST(SecretValue, PemPrivateKeyBlocks)
{
    for (const char *v : {"-----BEGIN PRIVATE KEY-----\nMIIEv...\n-----END PRIVATE KEY-----",
                          "-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl",
                          "-----BEGIN ENCRYPTED PRIVATE KEY-----", "key:\n-----BEGIN EC PRIVATE KEY-----\n..."})
        EXPECT_TRUE(secret_value(v)) << v;
    for (const char *v : {"-----BEGIN PUBLIC KEY-----\nMCow", "-----BEGIN CERTIFICATE-----",
                          "-----BEGIN \nPRIVATE KEY-----", "-----BEGIN PRIVATE KEY----", "BEGIN PRIVATE KEY"})
        EXPECT_FALSE(secret_value(v)) << v;
}

TEST(SecretValue, OrdinaryValuesStay)
{
    for (const char *v : {"alice", "refs/heads/main", "sess-1", "Update README", "k-123", "hunter2",
                          "https://github.com/forgea/lab.git", "[REDACTED]"})
        EXPECT_FALSE(secret_value(v)) << v;
}

}  // namespace

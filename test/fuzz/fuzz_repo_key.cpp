// libFuzzer harness: forgea::core::repo_key, the strict fork-URL reader of issue 14.  A session is
// matched to a push by this key, so a misreading hands one student's pushes to another.  Checked
// for every input (properties from the header's contract, not from the code):
//   - it writes at most len bytes (the output buffer is exactly len long: ASan sees one more);
//   - a key is lower case, made of host characters, '/' and RFC 3986 unreserved characters only;
//   - a key is its own key (idempotence), and reads back the same through https://, ssh:// with a
//     port, with ".git/" and with a query and fragment appended;
//   - query and fragment are never read: the key's owner/repo come from the input before its first
//     '?' or '#' (after "scheme://" the host does too);
//   - an accepted input holds no backslash, control character or non-ASCII byte;
//   - the crafted shapes of issue 14 built around any key ("https://evil.example#@<key>" and its
//     '?', '\', '/' variants) give no key at all.
#include <cstdint>
#include <string>

#include "core/push_rules.hpp"
#include "fuzz_common.hpp"

namespace core = forgea::core;

namespace {

// repo_key of s into a buffer of exactly s.size() bytes; "" when refused.
std::string key_of(const std::string &s)
{
    char *in = fuzz::exact_copy(s.data(), s.size());
    char *out = static_cast<char *>(std::malloc(s.empty() ? 1 : s.size()));
    std::size_t k = core::repo_key(in, s.size(), out);
    FA_REQUIRE(k <= s.size(), "repo_key returns more bytes than its input has");
    std::string key(out, k);
    std::free(in);
    std::free(out);
    return key;
}

bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' ||
           c == '/';
}

std::string lower(std::string s)
{
    for (char &c : s)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return s;
}

void check_key_shape(const std::string &key)
{
    std::size_t slash = key.find('/');
    FA_REQUIRE(slash != std::string::npos && slash > 0, "key has no host");
    std::string host = key.substr(0, slash);
    std::string path = key.substr(slash + 1);
    if (host.front() == '[') {
        FA_REQUIRE(host.back() == ']', "IPv6 host not closed");
        for (std::size_t i = 1; i + 1 < host.size(); i++) {
            char c = host[i];
            FA_REQUIRE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' || c == '.',
                       "IPv6 host has a character that is not hex, ':' or '.'");
        }
    } else {
        FA_REQUIRE(host.find('.') != std::string::npos, "host without a dot");
        for (char c : host)
            FA_REQUIRE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.',
                       "host has a character outside [a-z0-9.-]");
    }
    for (char c : path)
        FA_REQUIRE(key_char(c), "owner/repo has a character outside lower-case unreserved and '/'");
    FA_REQUIRE(path.find('/') != std::string::npos, "fewer than two names");
    FA_REQUIRE(path.find("//") == std::string::npos && path.back() != '/', "an empty name");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    std::string in(reinterpret_cast<const char *>(data), size);
    std::string key = key_of(in);
    if (!key.empty()) {
        check_key_shape(key);
        for (unsigned char c : in)
            FA_REQUIRE((c > 0x20 && c < 0x7f && c != '\\') || c == ' ' || c == '\t' || c == '\n' || c == '\r',
                       "accepted a backslash, control character or non-ASCII byte");

        // Query and fragment are never read: owner/repo (and, for URLs, the host) precede them.
        std::string before = lower(in.substr(0, in.find_first_of("?#")));
        std::string path = key.substr(key.find('/') + 1);
        FA_REQUIRE(before.find(path) != std::string::npos, "owner/repo not found before the query or fragment");
        std::size_t scheme = before.find("://");
        if (scheme != std::string::npos) {
            std::string host = key.substr(0, key.find('/'));
            FA_REQUIRE(before.find(host, scheme + 3) != std::string::npos, "host not found before the query or fragment");
        }

        // A key is its own key, and reads back through the other forms.
        FA_REQUIRE(key_of(key) == key, "a key is not its own key");
        std::string host = key.substr(0, key.find('/'));
        FA_REQUIRE(key_of("https://" + key) == key, "https://<key> gives another key");
        FA_REQUIRE(key_of("ssh://git@" + host + ":22/" + path + ".git/") == key, "ssh://git@host:22/<path>.git/ differs");
        FA_REQUIRE(key_of("HTTPS://user:pw@" + key + "/?q=1#f") == key, "with userinfo, query and fragment differs");
        if (host.front() != '[')
            FA_REQUIRE(key_of("git@" + host + ":" + path + ".git") == key, "git@host:<path>.git differs");

        // The crafted shapes of issue 14 around this key give no key.
        for (const char *c : {"#@", "?@", "\\@", "/@", "#/@"})
            FA_REQUIRE(key_of(std::string("https://evil.example") + c + key).empty(),
                       "a crafted evil.example URL around a key gives a key");
    }
    return 0;
}

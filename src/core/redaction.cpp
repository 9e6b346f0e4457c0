#include "redaction.hpp"

#include <cstring>
#include <initializer_list>

namespace forgea::core {

namespace {

bool is_separator(char c)
{
    return c == '_' || c == '-' || c == '.' || c == ' ';
}

bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

bool is_lower_or_digit(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

char fold(char c)
{
    return is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c;
}

// Whether s[0..n) equals word (lower case) after ASCII case folding.
bool equals_folded(const char *s, std::size_t n, const char *word)
{
    if (std::strlen(word) != n)
        return false;
    for (std::size_t i = 0; i < n; i++)
        if (fold(s[i]) != word[i])
            return false;
    return true;
}

// Whether key[0..len) has a word (split at separators and camelCase, see the header) equal to one
// of words: short names like "auth" are secrets as a word of their own, not inside "author".
bool has_word(const char *key, std::size_t len, const char *const *words, std::size_t nwords)
{
    std::size_t start = 0;
    for (std::size_t i = 0; i <= len; i++) {
        bool end = i == len || is_separator(key[i]);
        // camelCase: "basicAuth" splits before 'A'; "HTTPAuth" before the 'A' of "Auth".
        bool camel = !end && i > start && is_upper(key[i]) &&
                     (is_lower_or_digit(key[i - 1]) ||
                      (is_upper(key[i - 1]) && i + 1 < len && key[i + 1] >= 'a' && key[i + 1] <= 'z'));
        if (!end && !camel)
            continue;
        for (std::size_t w = 0; w < nwords; w++)
            if (equals_folded(key + start, i - start, words[w]))
                return true;
        start = end ? i + 1 : i;
    }
    return false;
}

bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool is_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// "Bearer x" / "Basic x": a scheme, spaces, one word (the header) after trimming.
bool is_auth_header_value(const char *v, std::size_t len)
{
    std::size_t b = 0, e = len;
    while (b < e && is_space(v[b]))
        b++;
    while (e > b && is_space(v[e - 1]))
        e--;
    for (const char *scheme : {"bearer", "basic"}) {
        std::size_t n = std::strlen(scheme);
        if (e - b <= n + 1 || !equals_folded(v + b, n, scheme) || !is_space(v[b + n]))
            continue;
        std::size_t c = b + n;
        while (c < e && is_space(v[c]))
            c++;
        bool one_word = c < e;
        for (std::size_t i = c; i < e; i++)
            one_word = one_word && !is_space(v[i]);
        if (one_word)
            return true;
    }
    return false;
}

// A GitHub token (prefix at a word start, then >= 20 token characters) anywhere in v.
bool has_github_token(const char *v, std::size_t len)
{
    static const char *const kPrefixes[] = {"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"};
    for (std::size_t i = 0; i + 4 <= len; i++) {
        if (v[i] != 'g' || (i > 0 && is_token_char(v[i - 1])))
            continue;
        for (const char *prefix : kPrefixes) {
            std::size_t n = std::strlen(prefix);
            if (len - i < n || std::memcmp(v + i, prefix, n) != 0)
                continue;
            std::size_t run = 0;
            while (i + n + run < len && is_token_char(v[i + n + run]))
                run++;
            if (run >= 20)
                return true;
        }
    }
    return false;
}

// A PEM private key block: "-----BEGIN " then "PRIVATE KEY-----" before the line ends.
bool has_pem_private_key(const char *v, std::size_t len)
{
    static const char kBegin[] = "-----BEGIN ";
    static const char kEnd[] = "PRIVATE KEY-----";
    const std::size_t nb = sizeof kBegin - 1, ne = sizeof kEnd - 1;
    for (std::size_t i = 0; i + nb + ne <= len; i++) {
        if (v[i] != '-' || std::memcmp(v + i, kBegin, nb) != 0)
            continue;
        for (std::size_t j = i + nb; j + ne <= len && v[j] != '\n' && v[j] != '\r'; j++)
            if (std::memcmp(v + j, kEnd, ne) == 0)
                return true;
    }
    return false;
}

}  // namespace

// Whether a metadata key names a secret (the rule is in the header): compared case- and
// separator-insensitively ("X-Api-Key", "client_secret"), so that a secret is redacted before it
// is hashed into the chain forever.
bool is_secret_key(const char *key, std::size_t len)
{
    static const char *const kSecretWords[] = {"password", "passwd", "passphrase", "secret", "token",
                                               "authorization", "apikey", "privatekey", "cookie", "credential",
                                               "accesskey"};
    static const char *const kSecretNames[] = {"pwd", "auth"};
    // Normalise into a bounded buffer: keys longer than this are compared on their first bytes.
    char norm[256];
    std::size_t n = 0;
    for (std::size_t i = 0; i < len && n < sizeof norm - 1; i++) {
        char c = key[i];
        if (is_separator(c))
            continue;
        norm[n++] = fold(c);
    }
    norm[n] = '\0';
    for (const char *word : kSecretWords)
        if (std::strstr(norm, word) != nullptr)
            return true;
    if (std::strcmp(norm, "session") == 0)
        return true;
    return has_word(key, len, kSecretNames, sizeof kSecretNames / sizeof kSecretNames[0]);
}

// Whether a string value is a credential under any key (the rule is in the header): tokens and
// keys pasted where no key names them are redacted all the same.
bool is_secret_value(const char *value, std::size_t len)
{
    return is_auth_header_value(value, len) || has_github_token(value, len) || has_pem_private_key(value, len);
}

}  // namespace forgea::core

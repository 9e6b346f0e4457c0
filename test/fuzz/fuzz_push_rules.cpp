// libFuzzer harness: the push rules of src/core/push_rules.hpp that read text a webhook sends
// (object ids, delivery GUIDs, ISO 8601 timestamps, JSON integers, repository URLs) and the secret
// key rule of src/core/redaction.hpp.  Every input goes through every parser; each result is
// checked against a slow reference written from the header's contract, not from the code.
#include <cctype>
#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "core/push_rules.hpp"
#include "core/redaction.hpp"
#include "fuzz_common.hpp"

namespace core = forgea::core;

namespace {

bool all_hex(const char *s, std::size_t n)
{
    for (std::size_t i = 0; i < n; i++)
        if (!std::isxdigit(static_cast<unsigned char>(s[i])))
            return false;
    return true;
}

// is_object_id / is_zero_object_id: 40 or 64 hex digits; zero: all '0'.
void check_object_id(const char *s, std::size_t n)
{
    bool ref = (n == 40 || n == 64) && all_hex(s, n);
    FA_REQUIRE(core::is_object_id(s, n) == ref, "is_object_id disagrees with 40/64 hex digits");
    bool zero = ref && std::string(s, n).find_first_not_of('0') == std::string::npos;
    FA_REQUIRE(core::is_zero_object_id(s, n) == zero, "is_zero_object_id disagrees with all zeros");
}

// parse_guid: 8-4-4-4-12 hex digits, optionally in braces; canonical text is lower case and
// parses to itself.
void check_guid(const char *s, std::size_t n)
{
    char out[core::kGuidTextLen + 2];
    out[core::kGuidTextLen + 1] = 'X';  // a canary one past the NUL
    bool ok = core::parse_guid(s, n, out);
    std::string body(s, n);
    if (n == 38 && s[0] == '{' && s[37] == '}')
        body = body.substr(1, 36);
    bool ref = body.size() == 36;
    for (std::size_t i = 0; ref && i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        ref = dash ? body[i] == '-' : std::isxdigit(static_cast<unsigned char>(body[i])) != 0;
    }
    FA_REQUIRE(ok == ref, "parse_guid disagrees with the 8-4-4-4-12 shape");
    FA_REQUIRE(out[core::kGuidTextLen + 1] == 'X', "parse_guid wrote past its NUL");
    if (!ok)
        return;
    FA_REQUIRE(std::strlen(out) == 36, "canonical GUID is not 36 characters");
    for (std::size_t i = 0; i < 36; i++) {
        FA_REQUIRE(!(out[i] >= 'A' && out[i] <= 'Z'), "canonical GUID has an upper-case letter");
        FA_REQUIRE(std::tolower(static_cast<unsigned char>(body[i])) == out[i], "canonical GUID changed a digit");
    }
    char again[core::kGuidTextLen + 1];
    FA_REQUIRE(core::parse_guid(out, 36, again) && std::memcmp(again, out, 37) == 0,
               "canonical GUID does not parse to itself");
}

// parse_int64: optional '-', one or more digits, in range; compared with 128-bit arithmetic.
void check_int64(const char *s, std::size_t n)
{
    std::int64_t v = 0x5a5a;
    bool ok = core::parse_int64(s, n, &v);
    std::size_t pos = (n > 0 && s[0] == '-') ? 1 : 0;
    bool ref = pos < n;
    __int128 acc = 0;
    for (std::size_t i = pos; ref && i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            ref = false;
        else if (acc <= (__int128)1 << 70)
            acc = acc * 10 + (s[i] - '0');
    }
    if (pos == 1)
        acc = -acc;
    ref = ref && acc >= INT64_MIN && acc <= INT64_MAX;
    FA_REQUIRE(ok == ref, "parse_int64 disagrees with the reference on validity");
    if (ok)
        FA_REQUIRE(v == static_cast<std::int64_t>(acc), "parse_int64 gives another value");
}

// parse_iso8601: the value must equal timegm() of the same fields minus the offset.
void check_iso8601(const char *s, std::size_t n)
{
    std::int64_t us = 0;
    if (!core::parse_iso8601(s, n, &us))
        return;
    // Accepted: re-read the fields the contract allows and recompute independently.
    FA_REQUIRE(n >= 20, "accepted a timestamp shorter than YYYY-MM-DDTHH:MM:SSZ");
    std::string t(s, n);
    struct tm tm = {};
    tm.tm_year = std::stoi(t.substr(0, 4)) - 1900;
    tm.tm_mon = std::stoi(t.substr(5, 2)) - 1;
    tm.tm_mday = std::stoi(t.substr(8, 2));
    tm.tm_hour = std::stoi(t.substr(11, 2));
    tm.tm_min = std::stoi(t.substr(14, 2));
    tm.tm_sec = std::stoi(t.substr(17, 2));
    FA_REQUIRE(tm.tm_hour <= 23 && tm.tm_min <= 59 && tm.tm_sec <= 60, "accepted an hour, minute or second out of range");
    // The date must exist: timegm() normalises day 31 of a 30-day month into the next month.
    struct tm date = tm;
    date.tm_hour = date.tm_min = date.tm_sec = 0;
    timegm(&date);
    FA_REQUIRE(date.tm_mday == tm.tm_mday && date.tm_mon == tm.tm_mon, "accepted a day the month does not have");
    // A leap second (:60) rolls over into the next minute, in timegm() as in the core.
    std::int64_t secs = static_cast<std::int64_t>(timegm(&tm));
    std::size_t pos = 19;
    std::int64_t micros = 0;
    if (t[pos] == '.') {
        int digits = 0;
        for (pos++; pos < n && std::isdigit(static_cast<unsigned char>(t[pos])); pos++)
            if (digits < 6) {
                micros = micros * 10 + (t[pos] - '0');
                digits++;
            }
        for (; digits < 6; digits++)
            micros *= 10;
    }
    std::int64_t offset = 0;
    if (t[pos] == '+' || t[pos] == '-') {
        FA_REQUIRE(n - pos == 6, "accepted an offset that is not +HH:MM");
        offset = (std::stoi(t.substr(pos + 1, 2)) * 60 + std::stoi(t.substr(pos + 4, 2))) * 60;
        if (t[pos] == '-')
            offset = -offset;
    } else {
        FA_REQUIRE(n - pos == 1 && (t[pos] == 'Z' || t[pos] == 'z'), "accepted a zone that is not Z");
    }
    FA_REQUIRE(us == (secs - offset) * 1000000 + micros, "parse_iso8601 gives another instant than timegm");
}

// repo_key: writes at most len bytes (ASan: out is exactly len long), lower case, "host/owner/repo"
// with no empty segment.  That a key is its own key (idempotence) is not asserted here: the
// strict URL rules of issue 14 own that, with test/fuzz/fuzz_repo_key.cpp (an input that breaks it
// today is kept in test/fuzz/seeds/fuzz_repo_key/).
void check_repo_key(const char *s, std::size_t n)
{
    char *out = static_cast<char *>(std::malloc(n == 0 ? 1 : n));
    std::size_t k = core::repo_key(s, n, out);
    FA_REQUIRE(k <= n, "repo_key is longer than its input");
    if (k > 0) {
        std::string key(out, k);
        for (char c : key)
            FA_REQUIRE(!(c >= 'A' && c <= 'Z'), "repo_key has an upper-case letter");
        FA_REQUIRE(key.find('/') != std::string::npos && key.front() != '/' && key.back() != '/',
                   "repo_key is not host/owner/repo");
        FA_REQUIRE(key.find("//") == std::string::npos, "repo_key has an empty segment");
    }
    std::free(out);
}

// is_secret_key: normalised (case folded; '_', '-', '.', ' ' dropped; first 255 bytes) it contains
// one of the secret words, or it is "session", or one of its words (split at those separators and
// at camelCase, src/core/redaction.hpp) is pwd or auth.  Keys with NUL are skipped: neither jsonb
// nor PostgreSQL text holds one.  The words are found here by marking boundaries in a copy first,
// not by the core's single pass.
void check_secret_key(const char *s, std::size_t n)
{
    if (std::memchr(s, 0, n) != nullptr)
        return;
    std::string norm;
    for (std::size_t i = 0; i < n && norm.size() < 255; i++) {
        char c = s[i];
        if (c == '_' || c == '-' || c == '.' || c == ' ')
            continue;
        norm += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    bool ref = norm == "session";
    for (const char *w : {"password", "passwd", "passphrase", "secret", "token", "authorization", "apikey",
                          "privatekey", "cookie", "credential", "accesskey"})
        ref = ref || norm.find(w) != std::string::npos;
    // The words: a new one starts at each separator (dropped), and before an upper-case letter that
    // follows a lower-case letter or digit, or that follows an upper-case one and precedes a
    // lower-case one.
    auto up = [](char c) { return c >= 'A' && c <= 'Z'; };
    auto lowdig = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    std::vector<std::string> words(1);
    for (std::size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '_' || c == '-' || c == '.' || c == ' ') {
            words.emplace_back();
            continue;
        }
        if (!words.back().empty() && up(c) &&
            (lowdig(s[i - 1]) || (up(s[i - 1]) && i + 1 < n && s[i + 1] >= 'a' && s[i + 1] <= 'z')))
            words.emplace_back();
        words.back() += (up(c) ? static_cast<char>(c - 'A' + 'a') : c);
    }
    for (const std::string &word : words)
        ref = ref || word == "pwd" || word == "auth";
    FA_REQUIRE(core::is_secret_key(s, n) == ref, "is_secret_key disagrees with the word list");
    (void) core::is_secret_value(s, n);   // any bytes: no read past n (ASan)
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const char *s = reinterpret_cast<const char *>(data);
    check_object_id(s, size);
    check_guid(s, size);
    check_int64(s, size);
    check_iso8601(s, size);
    check_repo_key(s, size);
    check_secret_key(s, size);
    return 0;
}

#include "push_rules.hpp"

#include <algorithm>
#include <cstring>

namespace forgea::core {

const char *const kChangeKindNames[kChangeKinds] = {"added", "modified", "removed"};

namespace {

bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly n digits at s[*pos]; advances *pos.
bool read_digits(const char *s, std::size_t len, std::size_t *pos, int n, int *value)
{
    if (*pos + n > len)
        return false;
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = s[*pos + i];
        if (!is_digit(c))
            return false;
        v = v * 10 + (c - '0');
    }
    *pos += n;
    *value = v;
    return true;
}

bool expect(const char *s, std::size_t len, std::size_t *pos, char c)
{
    if (*pos >= len || s[*pos] != c)
        return false;
    (*pos)++;
    return true;
}

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

bool path_less(const PathRef &a, const PathRef &b)
{
    std::uint32_t n = std::min(a.len, b.len);
    int c = n == 0 ? 0 : std::memcmp(a.data, b.data, n);
    if (c != 0)
        return c < 0;
    if (a.len != b.len)
        return a.len < b.len;
    return a.kind < b.kind;
}

bool same_path(const PathRef &a, const PathRef &b)
{
    return a.len == b.len && (a.len == 0 || std::memcmp(a.data, b.data, a.len) == 0);
}

}  // namespace

bool is_object_id(const char *s, std::size_t len)
{
    if (len != 40 && len != 64)
        return false;
    for (std::size_t i = 0; i < len; i++)
        if (!is_hex(s[i]))
            return false;
    return true;
}

bool is_zero_object_id(const char *s, std::size_t len)
{
    if (!is_object_id(s, len))
        return false;
    for (std::size_t i = 0; i < len; i++)
        if (s[i] != '0')
            return false;
    return true;
}

bool parse_guid(const char *s, std::size_t len, char out[kGuidTextLen + 1])
{
    if (len == kGuidTextLen + 2 && s[0] == '{' && s[len - 1] == '}') {
        s++;
        len -= 2;
    }
    if (len != kGuidTextLen)
        return false;
    for (std::size_t i = 0; i < len; i++) {
        bool dash_here = (i == 8 || i == 13 || i == 18 || i == 23);
        if (dash_here ? s[i] != '-' : !is_hex(s[i]))
            return false;
        out[i] = ascii_lower(s[i]);
    }
    out[kGuidTextLen] = '\0';
    return true;
}

std::size_t repo_key(const char *s, std::size_t len, char *out)
{
    // Trim surrounding whitespace: URLs pasted into a form often carry it.
    while (len > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;

    const char *end = s + len;
    const char *host;
    const char *host_end;
    const char *path;

    const char *scheme_sep = nullptr;
    for (const char *p = s; p + 2 < end; p++) {
        if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
            scheme_sep = p;
            break;
        }
        if (*p == '/' || *p == '@')
            break;
    }

    if (scheme_sep != nullptr) {
        // scheme://[userinfo@]host[:port]/path
        host = scheme_sep + 3;
        const char *slash = std::find(host, end, '/');
        const char *at = nullptr;
        for (const char *p = host; p < slash; p++)
            if (*p == '@')
                at = p;
        if (at != nullptr)
            host = at + 1;
        host_end = std::find(host, slash, ':');
        path = slash;
    } else {
        const char *slash = std::find(s, end, '/');
        const char *colon = std::find(s, slash, ':');
        host = s;
        if (colon != slash) {
            // scp-like: [user@]host:owner/repo
            const char *at = std::find(s, colon, '@');
            if (at != colon)
                host = at + 1;
            host_end = colon;
            path = colon + 1;
        } else {
            // host/owner/repo
            host_end = slash;
            path = slash;
        }
    }

    // Drop query and fragment, then slashes and a ".git" suffix at either end of the path.
    const char *path_end = path;
    while (path_end < end && *path_end != '?' && *path_end != '#')
        path_end++;
    while (path < path_end && *path == '/')
        path++;
    while (path_end > path && path_end[-1] == '/')
        path_end--;
    if (path_end - path >= 4 && path_end[-4] == '.' && ascii_lower(path_end[-3]) == 'g' &&
        ascii_lower(path_end[-2]) == 'i' && ascii_lower(path_end[-1]) == 't')
        path_end -= 4;
    while (path_end > path && path_end[-1] == '/')
        path_end--;

    if (host_end <= host || path_end <= path)
        return 0;

    // owner/repo: at least two non-empty segments.
    int segments = 0;
    bool in_segment = false;
    for (const char *p = path; p < path_end; p++) {
        if (*p == '/') {
            if (!in_segment)
                return 0;  // empty segment ("owner//repo")
            in_segment = false;
        } else if (*p == ' ' || *p == '\t') {
            return 0;
        } else if (!in_segment) {
            in_segment = true;
            segments++;
        }
    }
    if (segments < 2)
        return 0;

    std::size_t n = 0;
    for (const char *p = host; p < host_end; p++)
        out[n++] = ascii_lower(*p);
    out[n++] = '/';
    for (const char *p = path; p < path_end; p++)
        out[n++] = ascii_lower(*p);
    return n;
}

std::size_t sort_unique_paths(PathRef *paths, std::size_t n)
{
    std::sort(paths, paths + n, path_less);
    std::size_t out = 0;
    for (std::size_t i = 0; i < n; i++) {
        if (out > 0 && paths[out - 1].kind == paths[i].kind && same_path(paths[out - 1], paths[i]))
            continue;
        paths[out++] = paths[i];
    }
    return out;
}

std::size_t count_distinct_paths(const PathRef *paths, std::size_t n)
{
    std::size_t distinct = 0;
    for (std::size_t i = 0; i < n; i++)
        if (i == 0 || !same_path(paths[i - 1], paths[i]))
            distinct++;
    return distinct;
}

bool parse_iso8601(const char *s, std::size_t len, std::int64_t *unix_us)
{
    std::size_t pos = 0;
    int year, month, day, hour, minute, second;
    if (!read_digits(s, len, &pos, 4, &year) || !expect(s, len, &pos, '-') ||
        !read_digits(s, len, &pos, 2, &month) || !expect(s, len, &pos, '-') ||
        !read_digits(s, len, &pos, 2, &day))
        return false;
    if (pos >= len || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' '))
        return false;
    pos++;
    if (!read_digits(s, len, &pos, 2, &hour) || !expect(s, len, &pos, ':') ||
        !read_digits(s, len, &pos, 2, &minute) || !expect(s, len, &pos, ':') ||
        !read_digits(s, len, &pos, 2, &second))
        return false;
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
        minute > 59 || second > 60)
        return false;

    std::int64_t micros = 0;
    if (pos < len && s[pos] == '.') {
        pos++;
        int digits = 0;
        while (pos < len && is_digit(s[pos])) {
            if (digits < 6) {
                micros = micros * 10 + (s[pos] - '0');
                digits++;
            }
            pos++;
        }
        if (digits == 0)
            return false;
        for (; digits < 6; digits++)
            micros *= 10;
    }

    int offset_minutes = 0;
    if (pos < len && (s[pos] == 'Z' || s[pos] == 'z')) {
        pos++;
    } else if (pos < len && (s[pos] == '+' || s[pos] == '-')) {
        int sign = s[pos] == '-' ? -1 : 1;
        pos++;
        int oh, om;
        if (!read_digits(s, len, &pos, 2, &oh) || !expect(s, len, &pos, ':') ||
            !read_digits(s, len, &pos, 2, &om) || oh > 23 || om > 59)
            return false;
        offset_minutes = sign * (oh * 60 + om);
    } else {
        return false;  // a timestamp without a zone is ambiguous: refuse it
    }
    if (pos != len)
        return false;

    std::int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
    std::int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    *unix_us = secs * 1000000 + micros;
    return true;
}

bool parse_int64(const char *s, std::size_t len, std::int64_t *out)
{
    std::size_t pos = 0;
    bool negative = false;
    if (pos < len && s[pos] == '-') {
        negative = true;
        pos++;
    }
    if (pos == len)
        return false;
    // Accumulate negatively so that INT64_MIN parses.
    std::int64_t v = 0;
    for (; pos < len; pos++) {
        if (!is_digit(s[pos]))
            return false;
        int d = s[pos] - '0';
        if (v < (INT64_MIN + d) / 10)
            return false;
        v = v * 10 - d;
    }
    if (!negative) {
        if (v == INT64_MIN)
            return false;
        v = -v;
    }
    *out = v;
    return true;
}

}  // namespace forgea::core

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

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool is_url_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// RFC 3986 section 2.3.
bool is_unreserved(char c) { return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

// RFC 3986 section 2.2.
bool is_sub_delim(char c)
{
    return c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' ||
           c == ',' || c == ';' || c == '=';
}

// A half-open range of the input.
struct Span {
    const char *b;
    const char *e;
};

bool equals_lower(const char *b, const char *e, const char *word)
{
    std::size_t n = std::strlen(word);
    if (static_cast<std::size_t>(e - b) != n)
        return false;
    for (std::size_t i = 0; i < n; i++)
        if (ascii_lower(b[i]) != word[i])
            return false;
    return true;
}

// The ':' ending an RFC 3986 scheme (ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )) at s, or nullptr.
const char *scheme_end(const char *s, const char *end)
{
    if (s == end || !is_alpha(*s))
        return nullptr;
    for (const char *p = s + 1; p < end; p++) {
        if (*p == ':')
            return p;
        if (!is_alpha(*p) && !is_digit(*p) && *p != '+' && *p != '-' && *p != '.')
            return nullptr;
    }
    return nullptr;
}

// The schemes git clones over.  Anything else (ftp:, file:, javascript:) names no fork.
bool is_known_scheme(const char *b, const char *e)
{
    return equals_lower(b, e, "https") || equals_lower(b, e, "http") || equals_lower(b, e, "git") ||
           equals_lower(b, e, "ssh") || equals_lower(b, e, "git+ssh") || equals_lower(b, e, "ssh+git");
}

// Characters allowed by `allowed`, or "%" HEXDIG HEXDIG (RFC 3986 section 2.1).
template <typename Pred>
bool all_chars_or_pct(const char *b, const char *e, Pred allowed)
{
    for (const char *p = b; p < e; p++) {
        if (*p == '%') {
            if (e - p < 3 || !is_hex(p[1]) || !is_hex(p[2]))
                return false;
            p += 2;
        } else if (!allowed(*p)) {
            return false;
        }
    }
    return true;
}

// userinfo = *( unreserved / pct-encoded / sub-delims / ":" ).  No '@', no '\', no space.
bool is_userinfo(const char *b, const char *e)
{
    return all_chars_or_pct(b, e, [](char c) { return is_unreserved(c) || is_sub_delim(c) || c == ':'; });
}

// query and fragment = *( pchar / "/" / "?" ).  Read only to be sure they are well formed: they are
// dropped from the key.
bool is_query_or_fragment(const char *b, const char *e)
{
    return all_chars_or_pct(b, e, [](char c) {
        return is_unreserved(c) || is_sub_delim(c) || c == ':' || c == '@' || c == '/' || c == '?';
    });
}

// A DNS host name (or dotted IPv4, which has the same shape): labels of letters, digits and '-',
// 1 to 63 characters, not starting or ending with '-', joined by single dots; at most 253 in all.
// Stricter than RFC 3986's reg-name on purpose: no percent-encoding, no sub-delims, no trailing
// dot, so one host has one spelling (up to case).
bool is_hostname(const char *b, const char *e)
{
    if (b == e || e - b > 253)
        return false;
    const char *label = b;
    for (const char *p = b; p <= e; p++) {
        if (p == e || *p == '.') {
            std::ptrdiff_t n = p - label;
            if (n < 1 || n > 63 || *label == '-' || p[-1] == '-')
                return false;
            label = p + 1;
        } else if (!is_alpha(*p) && !is_digit(*p) && *p != '-') {
            return false;
        }
    }
    return true;
}

// The host of a key: a host name with at least one dot (so that "owner/repo/x" is not read as host
// "owner", and every key reads back as itself), or a dotted IPv4 address.
bool is_domain(const char *b, const char *e)
{
    return is_hostname(b, e) && std::find(b, e, '.') != e;
}

// RFC 3986 IPv6address (inside the brackets): up to eight groups of 1 to 4 hex digits separated by
// ':', at most one "::" standing for one or more zero groups, and optionally a dotted IPv4 address
// as the last two groups.  IPvFuture and zone ids are refused.
bool is_ipv6(const char *b, const char *e)
{
    int groups = 0;
    bool elided = false;
    const char *p = b;
    if (e - p >= 2 && p[0] == ':' && p[1] == ':') {
        elided = true;
        p += 2;
    } else if (p < e && *p == ':') {
        return false;  // a single leading ':'
    }
    while (p < e) {
        // One group: hex digits, or a dotted IPv4 address that ends the address.
        const char *q = p;
        while (q < e && is_hex(*q))
            q++;
        if (q < e && *q == '.') {
            if (!is_hostname(p, e))
                return false;
            int octets = 0;
            const char *o = p;
            for (const char *r = p; r <= e; r++) {
                if (r == e || *r == '.') {
                    int v = 0;
                    if (r - o < 1 || r - o > 3 || (r - o > 1 && *o == '0'))
                        return false;
                    for (const char *d = o; d < r; d++) {
                        if (!is_digit(*d))
                            return false;
                        v = v * 10 + (*d - '0');
                    }
                    if (v > 255)
                        return false;
                    octets++;
                    o = r + 1;
                }
            }
            if (octets != 4)
                return false;
            groups += 2;
            p = e;
            break;
        }
        if (q == p || q - p > 4)
            return false;
        groups++;
        p = q;
        if (p == e)
            break;
        if (*p != ':')
            return false;
        p++;
        if (p < e && *p == ':') {
            if (elided)
                return false;  // a second "::"
            elided = true;
            p++;
        } else if (p == e) {
            return false;  // a single trailing ':'
        }
    }
    return elided ? groups <= 7 : groups == 8;
}

// port = *DIGIT, at most 65535.
bool is_port(const char *b, const char *e)
{
    if (e - b > 5)
        return false;
    long v = 0;
    for (const char *p = b; p < e; p++) {
        if (!is_digit(*p))
            return false;
        v = v * 10 + (*p - '0');
    }
    return v <= 65535;
}

// The part after "scheme://": authority, then a path that starts with '/', then an optional query
// and fragment (dropped).  The authority ends at the first '/', '?' or '#' (RFC 3986 section 3.2),
// so an '@' after any of them is never a userinfo separator; inside it, userinfo (at most one '@')
// and port are checked and dropped.
bool read_url(const char *s, const char *end, Span *host, Span *path)
{
    const char *auth_end = s;
    while (auth_end < end && *auth_end != '/' && *auth_end != '?' && *auth_end != '#')
        auth_end++;
    const char *h = s;
    const char *at = std::find(s, auth_end, '@');
    if (at != auth_end) {
        if (!is_userinfo(s, at))
            return false;  // also refuses a second '@'
        h = at + 1;
    }
    const char *h_end;
    const char *port;
    if (h < auth_end && *h == '[') {
        const char *close = std::find(h, auth_end, ']');
        if (close == auth_end || !is_ipv6(h + 1, close))
            return false;
        h_end = close + 1;
        port = h_end;
        if (port < auth_end && *port != ':')
            return false;
    } else {
        h_end = std::find(h, auth_end, ':');
        if (!is_domain(h, h_end))
            return false;
        port = h_end;
    }
    if (port < auth_end && !is_port(port + 1, auth_end))
        return false;

    const char *path_end = auth_end;
    while (path_end < end && *path_end != '?' && *path_end != '#')
        path_end++;
    if (auth_end == path_end || *auth_end != '/')
        return false;  // no path: no owner/repo
    const char *frag = std::find(path_end, end, '#');
    if (path_end < frag && !is_query_or_fragment(path_end + 1, frag))
        return false;
    if (frag < end && !is_query_or_fragment(frag + 1, end))
        return false;  // includes a second '#'
    *host = Span{h, h_end};
    *path = Span{auth_end + 1, path_end};
    return true;
}

// git's scp-like form [user@]host:owner/repo (a ':' before any '/'), or host/owner/repo with no
// scheme.  Neither has a query or fragment; the user is a plain name and the host a host name.
bool read_scp_or_bare(const char *s, const char *end, Span *host, Span *path)
{
    const char *sep = s;
    while (sep < end && *sep != ':' && *sep != '/')
        sep++;
    if (sep == end)
        return false;
    const char *h = s;
    if (*sep == ':' && *h != '[') {
        const char *at = std::find(s, sep, '@');
        if (at != sep) {
            if (at == s || !std::all_of(s, at, is_unreserved))
                return false;
            h = at + 1;
        }
        if (!is_domain(h, sep))
            return false;
    } else if (*h == '[') {
        // [IPv6]/owner/repo: the key of an IPv6 URL, read back.
        const char *close = std::find(h, end, ']');
        if (close == end || close + 1 == end || close[1] != '/' || !is_ipv6(h + 1, close))
            return false;
        sep = close + 1;
    } else if (!is_domain(h, sep)) {
        return false;
    }
    *host = Span{h, sep};
    *path = Span{sep + 1, end};
    return true;
}

// One owner or repository name: unreserved characters only, and not "." or "..".
bool is_name_segment(const char *b, const char *e)
{
    if (b == e || !std::all_of(b, e, is_unreserved))
        return false;
    return !(e - b == 1 && b[0] == '.') && !(e - b == 2 && b[0] == '.' && b[1] == '.');
}

// Writes host/owner/repo[/...] in lower case: at most one trailing '/', then a ".git" suffix, are
// dropped from the path; at least two name segments must remain.  A leading "www." is dropped from
// the host (www.github.com serves github.com), as long as a dot is left, so that a key is its own
// key.  Returns the length, or 0.
std::size_t write_key(Span host, Span path, char *out)
{
    const char *pb = path.b;
    const char *pe = path.e;
    if (pe > pb && pe[-1] == '/')
        pe--;
    if (pe - pb >= 4 && pe[-4] == '.' && ascii_lower(pe[-3]) == 'g' && ascii_lower(pe[-2]) == 'i' &&
        ascii_lower(pe[-1]) == 't')
        pe -= 4;
    if (pe - pb >= 4 && pe[-4] == '.' && ascii_lower(pe[-3]) == 'g' && ascii_lower(pe[-2]) == 'i' &&
        ascii_lower(pe[-1]) == 't')
        return 0;  // "lab.git.git": one suffix is dropped, a name still ending in ".git" is refused
    int segments = 0;
    const char *seg = pb;
    for (const char *p = pb; p <= pe; p++) {
        if (p == pe || *p == '/') {
            if (!is_name_segment(seg, p))
                return 0;
            segments++;
            seg = p + 1;
        }
    }
    if (segments < 2)
        return 0;

    const char *hb = host.b;
    while (host.e - hb > 4 && equals_lower(hb, hb + 4, "www.") && std::find(hb + 4, host.e, '.') != host.e)
        hb += 4;
    std::size_t n = 0;
    for (const char *p = hb; p < host.e; p++)
        out[n++] = ascii_lower(*p);
    out[n++] = '/';
    for (const char *p = pb; p < pe; p++)
        out[n++] = ascii_lower(*p);
    return n;
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

// A strict reader of the URL forms a fork is written in (see push_rules.hpp).  It accepts only
// what it can read as host/owner/repo without guessing: a string an attacker crafts so that a
// lenient reader takes a query, fragment or userinfo for the host gives no key at all, and a
// session whose URL has no key matches no push.
std::size_t repo_key(const char *s, std::size_t len, char *out)
{
    // Trim surrounding whitespace: URLs pasted into a form often carry it.
    while (len > 0 && is_url_space(s[0])) {
        s++;
        len--;
    }
    while (len > 0 && is_url_space(s[len - 1]))
        len--;
    const char *end = s + len;

    Span host{nullptr, nullptr};
    Span path{nullptr, nullptr};
    const char *colon = scheme_end(s, end);
    if (colon != nullptr && colon + 2 < end && colon[1] == '/' && colon[2] == '/') {
        // scheme://authority/path[?query][#fragment]: only the schemes git fetches over.
        if (!is_known_scheme(s, colon))
            return 0;
        if (!read_url(colon + 3, end, &host, &path))
            return 0;
    } else if (colon != nullptr && is_known_scheme(s, colon)) {
        return 0;  // "https:/host/...", "https:host/...": a scheme without "//" is no URL we read
    } else if (!read_scp_or_bare(s, end, &host, &path)) {
        return 0;
    }
    return write_key(host, path, out);
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

// The timestamps GitHub sends (RFC 3339 with an offset or Z, fractions optional), strictly:
// calendar-checked, no locale, no PostgreSQL; microseconds since the Unix epoch.
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

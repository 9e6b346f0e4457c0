// The rules of a GitHub push that need no database: object ids, delivery GUIDs, repository URLs,
// changed-path sets and timestamps.  Pure functions over caller-owned memory, so that the backend,
// the unit tests and any offline tool agree on them byte for byte.
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstddef>
#include <cstdint>

namespace forgea::core {

// A git object id: 40 (SHA-1) or 64 (SHA-256) hex digits, either case.
bool is_object_id(const char *s, std::size_t len);

// The all-zeros id GitHub sends as `before` on a branch/tag creation and `after` on a deletion.
bool is_zero_object_id(const char *s, std::size_t len);

// The canonical text of an X-GitHub-Delivery GUID: 8-4-4-4-12 hex digits, optionally in braces.
// Writes 36 lower-case characters plus a NUL to out; false if s is not a GUID.
constexpr std::size_t kGuidTextLen = 36;
bool parse_guid(const char *s, std::size_t len, char out[kGuidTextLen + 1]);

// The key a repository is matched by: lower-case "host/owner/repo[/...]".  Read strictly, in three
// forms only:
//   scheme://[userinfo@]host[:port]/owner/repo[.git][/][?query][#fragment]   (RFC 3986; scheme
//       http, https, git, ssh, git+ssh or ssh+git; host a domain, dotted IPv4 or [IPv6] literal)
//   [user@]host:owner/repo[.git][/]                                          (git's scp-like form)
//   host/owner/repo[.git][/]                                                 (no scheme)
// The authority ends at the first '/', '?' or '#', so a query, fragment or path is never read as
// userinfo or host.  Userinfo, port, query and fragment are checked, then dropped; leading "www."
// labels are dropped from the host.  Names are RFC 3986 unreserved characters (no '%', no "." or
// ".." segment), at least two of them.  Surrounding whitespace is trimmed.  Anything else (another
// scheme, a scheme without "//", a backslash, a second '@', a bad port, an empty or dot-less host)
// gives no key.  A key is its own key.  Writes at most len bytes to out (no NUL) and returns the
// key's length, or 0 if s is not read as a repository.
std::size_t repo_key(const char *s, std::size_t len, char *out);

// One path from a commit's added/modified/removed list.
enum class ChangeKind : std::uint8_t { Added = 0, Modified = 1, Removed = 2 };
constexpr int kChangeKinds = 3;
extern const char *const kChangeKindNames[kChangeKinds];  // "added", "modified", "removed"

struct PathRef {
    const char *data;
    std::uint32_t len;
    ChangeKind kind;
};

// Sorts paths bytewise (then by kind) and removes exact (path, kind) repeats in place; returns the
// new count.  Allocates nothing.
std::size_t sort_unique_paths(PathRef *paths, std::size_t n);

// Counts the distinct paths (of any kind) in a sorted, unique array.
std::size_t count_distinct_paths(const PathRef *paths, std::size_t n);

// ISO 8601 date-time as GitHub writes it: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM).
// Stores microseconds since 1970-01-01T00:00:00Z; false if s is not such a timestamp.
bool parse_iso8601(const char *s, std::size_t len, std::int64_t *unix_us);

// A JSON number's text as an int64 (no fraction, no exponent, in range); false otherwise.
bool parse_int64(const char *s, std::size_t len, std::int64_t *out);

}  // namespace forgea::core

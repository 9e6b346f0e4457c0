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

// The key a repository is matched by: lower-case "host/owner/repo", from any of the forms a user or
// GitHub writes (https://host/owner/repo, with ".git" or a trailing "/", git@host:owner/repo.git,
// ssh://git@host:22/owner/repo.git, git://host/owner/repo, host/owner/repo).  Userinfo, port,
// query and fragment are dropped.  Writes at most len bytes to out (no NUL) and returns the key's
// length, or 0 if s does not name a repository (no host, or fewer than two path segments).
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

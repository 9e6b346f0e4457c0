// A GitHub push payload, read into a PushEvent by one of two front ends:
//
//   * payload_jsonb.cpp reads a jsonb datum (record_push(payload jsonb, ...)),
//   * payload_json_text.cpp reads JSON text with PostgreSQL's streaming parser
//     (record_push_json(payload json, ...)), never building a jsonb of the whole payload.
//
// Neither front end judges anything: each reports what it found at the paths the push rules read
// (PushFields), and build_push_event() below, the only place the rules live, validates and
// normalises that into the PushEvent, raising the class-22 errors that name the JSON path.
//
// Every pointer below points into the payload (detoasted jsonb or JSON text) or into palloc'd
// memory of the current context: the structs are plain data and die with the call.
#pragma once

#include "pg/core_headers.hpp"  // first: see there
#include "pg/boundary.hpp"

extern "C" {
#include "postgres.h"
#include "datatype/timestamp.h"
#include "utils/array.h"
#include "utils/jsonb.h"
}

#include "core/chain_record.hpp"
#include "core/push_rules.hpp"

#include <new>

using forgea::core::Bytes;

struct PushEvent {
    Bytes ref;
    Bytes base_ref;
    Bytes after;   // commit_sha
    Bytes before;
    bool created = false;
    bool deleted = false;
    bool forced = false;

    Bytes repo_url;   // as sent (html_url, else clone_url, else ssh_url)
    Bytes repo_key;   // core::repo_key of repo_url, palloc'd
    Bytes repo_full_name;
    forgea::core::NullableInt64 repo_id;

    Bytes pusher_name;
    Bytes pusher_email;
    Bytes sender_login;
    forgea::core::NullableInt64 sender_id;

    int32 commit_count = 0;
    bool commits_truncated = false;  // GitHub lists at most 2048 commits
    bool files_truncated = false;    // ... and at most 3000 files per list per commit
    int32 changed_path_count = 0;
    ArrayType *changed_paths = nullptr;  // text[], sorted bytewise, distinct
    Jsonb *changed_files = nullptr;      // {"added": [...], "modified": [...], "removed": [...]}

    bool has_pushed_at = false;
    TimestampTz pushed_at = 0;
};
FA_LIVES_ACROSS_PG_CALLS(PushEvent);

// The delivery's headers worth keeping (X-GitHub-Event, X-GitHub-Hook-ID, ...), as a jsonb object
// with short keys, or nullptr when no headers were given.
struct DeliveryHeaders {
    Bytes event;
    Jsonb *metadata = nullptr;
};
FA_LIVES_ACROSS_PG_CALLS(DeliveryHeaders);

// Longest file path and repository URL a payload may carry, in bytes (docs/webhook.md, "Limits").  Longer
// ones are refused with a class-22 error naming the JSON path: a path goes into lab_attempt's GIN
// index and a URL's key into chain_head's primary key and audit_log's target index, whose entries
// PostgreSQL caps near 2,700 bytes (a longer one failed there with 54000).
constexpr size_t kMaxPathBytes = 2048;
constexpr size_t kMaxRepoUrlBytes = 2048;

constexpr int kGitHubMaxCommits = 2048;
constexpr int kGitHubMaxFilesPerList = 3000;

// ---- What a front end reports --------------------------------------------------------------------

// The JSON type of the value at a path, or Absent when the path does not exist.
enum class JsonKind : uint8 { Absent, Null, String, Number, Bool, Object, Array };

// One value at one path.  String: its (de-escaped) value.  Number: the text numeric_out prints for
// it (jsonb stores numbers as numeric, so "1e2" reads as "100" from either front end).
// Array: its element count.
struct JsonField {
    JsonKind kind = JsonKind::Absent;
    Bytes text;
    bool boolean = false;
    int32 size = 0;
};
FA_LIVES_ACROSS_PG_CALLS(JsonField);

// The distinct (path, kind) pairs a push lists, in a palloc'd array with a palloc'd open-addressing
// hash index over it: trivially destructible, freed with the memory context.  A push that lists
// 570k file entries over 6k distinct paths keeps 6k entries and never sorts the 570k (the result is
// the same set, sorted by build_push_event).
//
// A repeated list key in JSON text (the last one wins) drops the entries the earlier list added:
// they become tombstones (data == nullptr, their slots marked deleted), so a drop costs what it
// drops and never a rescan or rehash of the whole list (50,000 repeated "added" keys after 15,000
// paths once cost 49 s here).  compact() removes the tombstones before the entries are read.
struct PathList {
    forgea::core::PathRef *items = nullptr;
    size_t count = 0;
    size_t capacity = 0;
    uint32 *slots = nullptr;  // 0: empty, kDeletedSlot: a dropped entry's, else an index into items + 1
    size_t nslots = 0;        // a power of two, at least twice used
    size_t used = 0;          // slots not empty (entries and deleted ones)

    static constexpr uint32 kDeletedSlot = PG_UINT32_MAX;

    void push(const char *data, size_t len, forgea::core::ChangeKind kind);
    // Drops the entries at index [from, to) (the entries a repeated list key's earlier list added).
    void drop_range(size_t from, size_t to);
    // Removes dropped entries; the list is read-only afterwards.
    void compact();
    void clear();

private:
    void index(size_t i);
    void rehash(size_t new_nslots);
};
FA_LIVES_ACROSS_PG_CALLS(PathList);

// One element of $.commits as the rules read it.
struct CommitFields {
    JsonKind kind = JsonKind::Absent;  // the element itself: must be an object
    JsonField id;
    JsonField lists[forgea::core::kChangeKinds];  // added, modified, removed
    // index of a list's first non-string or over-long string (kind String), or -1
    int32 bad_path[forgea::core::kChangeKinds] = {-1, -1, -1};
    JsonKind bad_path_kind[forgea::core::kChangeKinds] = {};
    size_t bad_path_len[forgea::core::kChangeKinds] = {};  // the over-long string's length
};
FA_LIVES_ACROSS_PG_CALLS(CommitFields);

// The first thing wrong in $.commits, in the order the rules check (commit by commit: the element,
// its id, then added, modified, removed), kept until build_push_event() reports it, so that a bad
// field outside $.commits is reported first whatever the order of the payload's keys.
struct CommitProblem {
    enum What : uint8 { None, NotObject, IdType, IdValue, ListType, PathType } what = None;
    int32 commit = 0;
    int kind = 0;        // ListType, PathType: a ChangeKind
    int32 element = 0;   // PathType
    size_t length = 0;   // PathType with found == String: the over-long path's length in bytes
    JsonKind found = JsonKind::Absent;
    Bytes id;            // IdValue
};
FA_LIVES_ACROSS_PG_CALLS(CommitProblem);

// The objects of a payload whose members the rules read (besides $.commits, read element by
// element by each front end).
enum class PayloadObject : uint8 { None, Root, Repository, Pusher, Sender, HeadCommit };
constexpr int kPayloadObjects = 6;

// Every payload field the rules read, listed once: X(parent object, key, PushFields member, the
// object it opens when it is one).  PushFields' members and the table both front ends walk
// (kPayloadFields) are generated from it, so a field added here is read by both, from jsonb and
// from JSON text.  A parent comes before its members.
#define FA_PAYLOAD_FIELDS(X)                                         \
    X(Root, "ref", ref, None)                                        \
    X(Root, "after", after, None)                                    \
    X(Root, "before", before, None)                                  \
    X(Root, "base_ref", base_ref, None)                              \
    X(Root, "created", created, None)                                \
    X(Root, "deleted", deleted, None)                                \
    X(Root, "forced", forced, None)                                  \
    X(Root, "repository", repository, Repository)                    \
    X(Repository, "html_url", html_url, None)                        \
    X(Repository, "clone_url", clone_url, None)                      \
    X(Repository, "ssh_url", ssh_url, None)                          \
    X(Repository, "full_name", full_name, None)                      \
    X(Repository, "id", repo_id, None)                               \
    X(Repository, "pushed_at", pushed_at, None)                      \
    X(Root, "pusher", pusher, Pusher)                                \
    X(Pusher, "name", pusher_name, None)                             \
    X(Pusher, "email", pusher_email, None)                           \
    X(Root, "sender", sender, Sender)                                \
    X(Sender, "login", sender_login, None)                           \
    X(Sender, "id", sender_id, None)                                 \
    X(Root, "head_commit", head_commit, HeadCommit)                  \
    X(HeadCommit, "timestamp", head_timestamp, None)

// Everything the rules read from a payload.  Children of an object are Absent unless the object is.
struct PushFields {
    JsonKind root = JsonKind::Absent;  // Object, Array, or a scalar kind
#define FA_PAYLOAD_MEMBER(parent, key, name, opens) JsonField name;
    FA_PAYLOAD_FIELDS(FA_PAYLOAD_MEMBER)
#undef FA_PAYLOAD_MEMBER
    JsonField commits;  // $.commits, Array: size = number of commits
    CommitProblem commit_problem;
    bool files_truncated = false;
    PathList paths;     // every (path, kind) of every commit; repeats allowed
};
FA_LIVES_ACROSS_PG_CALLS(PushFields);

// One row of FA_PAYLOAD_FIELDS.
struct PayloadField {
    PayloadObject parent;
    const char *key;
    JsonField PushFields::*member;
    PayloadObject opens;  // None: a leaf (or an object whose members are not read)
};

inline constexpr PayloadField kPayloadFields[] = {
#define FA_PAYLOAD_ROW(parent, key, name, opens) \
    {PayloadObject::parent, key, &PushFields::name, PayloadObject::opens},
    FA_PAYLOAD_FIELDS(FA_PAYLOAD_ROW)
#undef FA_PAYLOAD_ROW
};

// Checks one commit; records the first problem of the push in fields->commit_problem (and returns
// false) or accounts its lists (files_truncated).  Front ends call it once per element, in order,
// and may stop at the first false.
bool check_commit(const CommitFields &c, int32 index, PushFields *fields);

// Validates and normalises fields into *out, or raises a class-22 error naming the JSON path.
// hint is the errhint of payload errors (it names the function that was called).
void build_push_event(PushFields *fields, PushEvent *out, const char *hint);

// ---- The front ends ------------------------------------------------------------------------------

// Parses a jsonb payload into *out (payload_jsonb.cpp).
void parse_push_event(const Jsonb *payload, PushEvent *out, const char *hint);

// Parses JSON text (the value of a json datum, already syntax-checked by json_in) into *out and
// writes the SHA-256 of its canonical JSON (docs/chain.md), byte-identical to what record_push
// computes for the same text cast to jsonb (payload_json_text.cpp).  Repeated object keys follow
// jsonb: the last one wins.
void parse_push_event_text(const char *json, int len, PushEvent *out, uint8 sha256[forgea::core::kHashLen],
                           const char *hint);

// Reads the headers object (case-insensitive names); raises a class-22 error if it is not an object
// or names an event other than "push".
void parse_delivery_headers(const Jsonb *headers, DeliveryHeaders *out);

// The push rules, applied to what a front end found (push_event.hpp): the one place a payload
// is validated and normalised, whichever type it arrived as.
#include "pg/core_headers.hpp"  // first: see there

#include "push/push_event.hpp"

extern "C" {
#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
}

using forgea::core::ChangeKind;
using forgea::core::PathRef;

// ---- PathList ------------------------------------------------------------------------------------

static uint32 path_hash(const char *data, size_t len, ChangeKind kind)
{
    return hash_bytes(reinterpret_cast<const unsigned char *>(data), static_cast<int>(len)) ^
           (static_cast<uint32>(kind) * 0x9e3779b9U);
}

// Enters items[i] into the index (it is known not to be there).
void PathList::index(size_t i)
{
    size_t mask = nslots - 1;
    size_t slot = path_hash(items[i].data, items[i].len, items[i].kind) & mask;
    while (slots[slot] != 0)
        slot = (slot + 1) & mask;
    slots[slot] = static_cast<uint32>(i + 1);
}

// A fresh index of new_nslots slots over the live entries (deleted slots are not carried over).
void PathList::rehash(size_t new_nslots)
{
    if (new_nslots > MaxAllocHugeSize / sizeof(uint32) || new_nslots >= PG_UINT32_MAX)
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("push payload lists too many changed paths")));
    if (slots != nullptr)
        pfree(slots);
    slots = static_cast<uint32 *>(MemoryContextAllocHuge(CurrentMemoryContext, new_nslots * sizeof(uint32)));
    memset(slots, 0, new_nslots * sizeof(uint32));
    nslots = new_nslots;
    used = 0;
    for (size_t i = 0; i < count; i++) {
        CHECK_FOR_INTERRUPTS();
        if (items[i].data != nullptr) {
            index(i);
            used++;
        }
    }
}

// Adds (data, kind) unless it is listed already; expected O(1).
void PathList::push(const char *data, size_t len, ChangeKind kind)
{
    if (len > PG_INT32_MAX)
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("push payload lists a path that is too long")));
    if (slots == nullptr)
        rehash(1024);
    size_t mask = nslots - 1;
    size_t slot = path_hash(data, len, kind) & mask;
    size_t reuse = nslots;  // the first deleted slot on the probe, reused if the path is new
    for (; slots[slot] != 0; slot = (slot + 1) & mask) {
        if (slots[slot] == kDeletedSlot) {
            if (reuse == nslots)
                reuse = slot;
            continue;
        }
        const PathRef &p = items[slots[slot] - 1];
        if (p.kind == kind && p.len == len && memcmp(p.data, data, len) == 0)
            return;  // listed before
    }
    if (count == capacity) {
        size_t next = capacity == 0 ? 256 : capacity * 2;
        if (next > MaxAllocHugeSize / sizeof(PathRef) || next >= PG_UINT32_MAX)
            ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("push payload lists too many changed paths")));
        items = static_cast<PathRef *>(items == nullptr
                                           ? MemoryContextAllocHuge(CurrentMemoryContext, next * sizeof(PathRef))
                                           : repalloc_huge(items, next * sizeof(PathRef)));
        capacity = next;
    }
    items[count] = PathRef{data, static_cast<uint32_t>(len), kind};
    if (reuse != nslots) {
        slots[reuse] = static_cast<uint32>(count + 1);
    } else {
        slots[slot] = static_cast<uint32>(count + 1);
        used++;
    }
    count++;
    if (used * 2 > nslots)
        rehash(nslots * 2);
}

// Each entry is dropped at most once: O(to - from) over a whole payload's drops.
void PathList::drop_range(size_t from, size_t to)
{
    size_t mask = nslots - 1;
    for (size_t i = from; i < to && i < count; i++) {
        CHECK_FOR_INTERRUPTS();
        if (items[i].data == nullptr)
            continue;
        size_t slot = path_hash(items[i].data, items[i].len, items[i].kind) & mask;
        while (slots[slot] != i + 1)
            slot = (slot + 1) & mask;
        slots[slot] = kDeletedSlot;
        items[i].data = nullptr;
    }
}

// Removes the entries drop_kind_from() marked, keeping the index consistent.
void PathList::compact()
{
    size_t out = 0;
    for (size_t i = 0; i < count; i++)
        if (items[i].data != nullptr)
            items[out++] = items[i];
    count = out;
    if (slots != nullptr) {
        pfree(slots);
        slots = nullptr;
        nslots = used = 0;
    }
}

// Empties the list, keeping its memory for the next commits array.
void PathList::clear()
{
    count = 0;
    used = 0;
    if (slots != nullptr)
        memset(slots, 0, nslots * sizeof(uint32));
}

namespace {

// A JSON kind in words, for error details.
const char *type_name(JsonKind k)
{
    switch (k) {
        case JsonKind::Null: return "null";
        case JsonKind::String: return "a string";
        case JsonKind::Number: return "a number";
        case JsonKind::Bool: return "a boolean";
        case JsonKind::Object: return "an object";
        case JsonKind::Array: return "an array";
        default: return "a JSON value";
    }
}

// The errhint of payload errors, for the duration of one build_push_event().
const char *payload_hint = "";

[[noreturn]] void wrong_type(const char *path, const char *expected, JsonKind found)
{
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("invalid GitHub push payload: %s must be %s", path, expected),
                    errdetail("JSON path %s holds %s.", path, type_name(found)), errhint("%s", payload_hint)));
    pg_unreachable();
}

[[noreturn]] void missing(const char *path, const char *expected)
{
    ereport(ERROR, (errcode(ERRCODE_SQL_JSON_MEMBER_NOT_FOUND),
                    errmsg("invalid GitHub push payload: %s is missing", path),
                    errdetail("JSON path %s must hold %s.", path, expected), errhint("%s", payload_hint)));
    pg_unreachable();
}

// Optional fields: absent and null mean the same.
bool absent_or_null(const JsonField &f)
{
    return f.kind == JsonKind::Absent || f.kind == JsonKind::Null;
}

// Absent and JSON null both read as SQL NULL; any other non-string is an error.
Bytes optional_string(const JsonField &f, const char *path)
{
    if (absent_or_null(f))
        return Bytes{};
    if (f.kind != JsonKind::String)
        wrong_type(path, "a string", f.kind);
    return f.text;
}

// A field the push cannot do without: a string, or a class-22 error naming its JSON path.
Bytes required_string(const JsonField &f, const char *path)
{
    if (f.kind == JsonKind::Absent)
        missing(path, "a string");
    if (f.kind != JsonKind::String)
        wrong_type(path, "a string", f.kind);
    if (f.text.len == 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("invalid GitHub push payload: %s is empty", path),
                        errdetail("JSON path %s holds an empty string.", path), errhint("%s", payload_hint)));
    return f.text;
}

// A git object id (40 or 64 hex digits), or a class-22 error naming the path.
void check_object_id(Bytes id, const char *path)
{
    if (!forgea::core::is_object_id(id.data, id.len))
        ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                        errmsg("invalid GitHub push payload: %s is not a git object id", path),
                        errdetail("JSON path %s holds \"%.*s\"; expected 40 (SHA-1) or 64 (SHA-256) hex digits.",
                                  path, static_cast<int>(Min(id.len, 80)), id.data),
                        errhint("%s", payload_hint)));
}

// An optional boolean: absent or null gives fallback, any other type is an error.
bool optional_bool(const JsonField &f, const char *path, bool fallback)
{
    if (absent_or_null(f))
        return fallback;
    if (f.kind != JsonKind::Bool)
        wrong_type(path, "a boolean", f.kind);
    return f.boolean;
}

// An optional integer id (repository id, sender id): must fit int64 exactly.
forgea::core::NullableInt64 optional_int64(const JsonField &f, const char *path)
{
    forgea::core::NullableInt64 r;
    if (absent_or_null(f))
        return r;
    if (f.kind != JsonKind::Number || !forgea::core::parse_int64(f.text.data, f.text.len, &r.value))
        wrong_type(path, "an integer (bigint)", f.kind);
    r.is_null = false;
    return r;
}

// Absent and null read as false; anything else but an object is an error.
bool optional_object(const JsonField &f, const char *path)
{
    if (absent_or_null(f))
        return false;
    if (f.kind != JsonKind::Object)
        wrong_type(path, "an object", f.kind);
    return true;
}

// A timestamp GitHub writes either as Unix seconds (repository.pushed_at in push events) or as
// ISO 8601 text (head_commit.timestamp).  Absent and null: false.
bool timestamp_value(const JsonField &f, const char *path, TimestampTz *out)
{
    int64 unix_us;
    if (f.kind == JsonKind::Number) {
        int64 secs;
        // +-10^11 s is beyond year 5000: anything further is not a push time.
        if (!forgea::core::parse_int64(f.text.data, f.text.len, &secs) || secs > INT64CONST(100000000000) ||
            secs < -INT64CONST(100000000000))
            wrong_type(path, "Unix seconds (an integer) or an ISO 8601 timestamp", f.kind);
        unix_us = secs * USECS_PER_SEC;
    } else if (f.kind == JsonKind::String) {
        if (!forgea::core::parse_iso8601(f.text.data, f.text.len, &unix_us))
            ereport(ERROR, (errcode(ERRCODE_INVALID_DATETIME_FORMAT),
                            errmsg("invalid GitHub push payload: %s is not an ISO 8601 timestamp", path),
                            errdetail("JSON path %s holds \"%.*s\".", path, static_cast<int>(Min(f.text.len, 80)),
                                      f.text.data),
                            errhint("%s", payload_hint)));
    } else if (absent_or_null(f)) {
        return false;
    } else {
        wrong_type(path, "Unix seconds (an integer) or an ISO 8601 timestamp", f.kind);
    }
    *out = unix_us - forgea::core::kUnixToPgEpochMicros;
    return true;
}

[[noreturn]] void raise_commit_problem(const CommitProblem &p)
{
    char path[160];
    const char *kind_name = forgea::core::kChangeKindNames[p.kind];
    switch (p.what) {
        case CommitProblem::NotObject:
            snprintf(path, sizeof path, "$.commits[%d]", p.commit);
            wrong_type(path, "an object (a commit)", p.found);
        case CommitProblem::IdType:
            snprintf(path, sizeof path, "$.commits[%d].id", p.commit);
            wrong_type(path, "a string", p.found);
        case CommitProblem::IdValue:
            snprintf(path, sizeof path, "$.commits[%d].id", p.commit);
            check_object_id(p.id, path);
            break;
        case CommitProblem::ListType:
            snprintf(path, sizeof path, "$.commits[%d].%s", p.commit, kind_name);
            wrong_type(path, "an array of file paths", p.found);
        case CommitProblem::PathType:
            snprintf(path, sizeof path, "$.commits[%d].%s[%d]", p.commit, kind_name, p.element);
            if (p.found == JsonKind::String)
                ereport(ERROR, (errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
                                errmsg("invalid GitHub push payload: %s is longer than %zu bytes", path, kMaxPathBytes),
                                errdetail("JSON path %s holds a file path of %zu bytes.", path, p.length),
                                errhint("%s File paths are limited to %zu bytes (docs/webhook.md, \"Limits\").",
                                        payload_hint, kMaxPathBytes)));
            wrong_type(path, "a string (a file path)", p.found);
        case CommitProblem::None:
            break;
    }
    elog(ERROR, "unexpected commit problem %d", static_cast<int>(p.what));
    pg_unreachable();
}

// The attempt's changed_paths and changed_files: every (path, kind) of the push, sorted and
// deduplicated in the core (the jsonb stores them the same way whichever front end read them).
void build_changed_sets(PathList *paths, PushEvent *out)
{
    paths->compact();
    size_t n = forgea::core::sort_unique_paths(paths->items, paths->count);
    size_t distinct = forgea::core::count_distinct_paths(paths->items, n);

    Datum *elems = static_cast<Datum *>(palloc(Max(distinct, 1) * sizeof(Datum)));
    size_t e = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK_FOR_INTERRUPTS();
        const PathRef &p = paths->items[i];
        if (i > 0 && paths->items[i - 1].len == p.len && memcmp(paths->items[i - 1].data, p.data, p.len) == 0)
            continue;
        elems[e++] = PointerGetDatum(cstring_to_text_with_len(p.data, static_cast<int>(p.len)));
    }
    out->changed_path_count = static_cast<int32>(distinct);
    out->changed_paths = distinct == 0 ? construct_empty_array(TEXTOID)
                                       : construct_array(elems, static_cast<int>(distinct), TEXTOID, -1, false,
                                                         TYPALIGN_INT);

    JsonbParseState *state = nullptr;
    pushJsonbValue(&state, WJB_BEGIN_OBJECT, nullptr);
    for (int k = 0; k < forgea::core::kChangeKinds; k++) {
        JsonbValue key;
        key.type = jbvString;
        key.val.string.val = const_cast<char *>(forgea::core::kChangeKindNames[k]);
        key.val.string.len = static_cast<int>(strlen(forgea::core::kChangeKindNames[k]));
        pushJsonbValue(&state, WJB_KEY, &key);
        pushJsonbValue(&state, WJB_BEGIN_ARRAY, nullptr);
        for (size_t i = 0; i < n; i++) {
            CHECK_FOR_INTERRUPTS();
            const PathRef &p = paths->items[i];
            if (static_cast<int>(p.kind) != k)
                continue;
            JsonbValue s;
            s.type = jbvString;
            s.val.string.val = const_cast<char *>(p.data);
            s.val.string.len = static_cast<int>(p.len);
            pushJsonbValue(&state, WJB_ELEM, &s);
        }
        pushJsonbValue(&state, WJB_END_ARRAY, nullptr);
    }
    out->changed_files = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, nullptr));
}

}  // namespace

// See push_event.hpp.  Records only the first problem: an error report names one path, and the
// front ends stop reading commits after it.
bool check_commit(const CommitFields &c, int32 index, PushFields *fields)
{
    CommitProblem p;
    p.commit = index;
    if (c.kind != JsonKind::Object) {
        p.what = CommitProblem::NotObject;
        p.found = c.kind;
    } else if (!absent_or_null(c.id) && c.id.kind != JsonKind::String) {
        p.what = CommitProblem::IdType;
        p.found = c.id.kind;
    } else if (c.id.kind == JsonKind::String && !forgea::core::is_object_id(c.id.text.data, c.id.text.len)) {
        p.what = CommitProblem::IdValue;
        p.id = c.id.text;
    } else {
        for (int k = 0; k < forgea::core::kChangeKinds; k++) {
            const JsonField &list = c.lists[k];
            if (absent_or_null(list))
                continue;
            p.kind = k;
            if (list.kind != JsonKind::Array) {
                p.what = CommitProblem::ListType;
                p.found = list.kind;
                break;
            }
            if (list.size >= kGitHubMaxFilesPerList)
                fields->files_truncated = true;
            if (c.bad_path[k] >= 0) {
                p.what = CommitProblem::PathType;
                p.element = c.bad_path[k];
                p.found = c.bad_path_kind[k];
                p.length = c.bad_path_len[k];
                break;
            }
        }
    }
    if (p.what == CommitProblem::None)
        return true;
    if (fields->commit_problem.what == CommitProblem::None)
        fields->commit_problem = p;
    return false;
}

// See push_event.hpp.  The single place the push rules live: each field checked in a fixed order
// (so both front ends report the same first error whatever the key order), then normalised.
void build_push_event(PushFields *f, PushEvent *out, const char *hint)
{
    payload_hint = hint;
    if (f->root != JsonKind::Object)
        ereport(ERROR, (errcode(ERRCODE_SQL_JSON_OBJECT_NOT_FOUND),
                        errmsg("invalid GitHub push payload: the payload must be a JSON object"),
                        errdetail("JSON path $ holds %s.", f->root == JsonKind::Array ? "an array" : "a scalar"),
                        errhint("%s", hint)));

    out->ref = required_string(f->ref, "$.ref");
    out->after = required_string(f->after, "$.after");
    check_object_id(out->after, "$.after");
    out->before = optional_string(f->before, "$.before");
    if (!out->before.is_null())
        check_object_id(out->before, "$.before");
    out->base_ref = optional_string(f->base_ref, "$.base_ref");

    // GitHub states these; derive them from the zero ids when a payload leaves them out.
    out->created = optional_bool(f->created, "$.created",
                                 !out->before.is_null() &&
                                     forgea::core::is_zero_object_id(out->before.data, out->before.len));
    out->deleted = optional_bool(f->deleted, "$.deleted",
                                 forgea::core::is_zero_object_id(out->after.data, out->after.len));
    out->forced = optional_bool(f->forced, "$.forced", false);

    if (f->repository.kind == JsonKind::Absent)
        missing("$.repository", "an object");
    if (f->repository.kind != JsonKind::Object)
        wrong_type("$.repository", "an object", f->repository.kind);

    const struct {
        const JsonField *field;
        const char *path;
    } urls[] = {{&f->html_url, "$.repository.html_url"},
                {&f->clone_url, "$.repository.clone_url"},
                {&f->ssh_url, "$.repository.ssh_url"}};
    const char *url_path = urls[0].path;
    for (const auto &u : urls) {
        out->repo_url = optional_string(*u.field, u.path);
        if (!out->repo_url.is_null()) {
            url_path = u.path;
            break;
        }
    }
    if (out->repo_url.is_null())
        missing("$.repository.html_url", "the repository's URL (or clone_url / ssh_url)");
    if (out->repo_url.len > kMaxRepoUrlBytes)
        ereport(ERROR, (errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
                        errmsg("invalid GitHub push payload: %s is longer than %zu bytes", url_path, kMaxRepoUrlBytes),
                        errdetail("JSON path %s holds a URL of %zu bytes.", url_path, out->repo_url.len),
                        errhint("%s Repository URLs are limited to %zu bytes (docs/webhook.md, \"Limits\").", hint,
                                kMaxRepoUrlBytes)));
    char *key = static_cast<char *>(palloc(out->repo_url.len + 1));
    size_t keylen = forgea::core::repo_key(out->repo_url.data, out->repo_url.len, key);
    if (keylen == 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("invalid GitHub push payload: %s is not a repository URL", url_path),
                        errdetail("JSON path %s holds \"%.*s\".", url_path,
                                  static_cast<int>(Min(out->repo_url.len, 200)), out->repo_url.data),
                        errhint("Expected a URL such as https://github.com/owner/repo.")));
    out->repo_key = Bytes{key, keylen};
    out->repo_full_name = optional_string(f->full_name, "$.repository.full_name");
    out->repo_id = optional_int64(f->repo_id, "$.repository.id");

    if (optional_object(f->pusher, "$.pusher")) {
        out->pusher_name = optional_string(f->pusher_name, "$.pusher.name");
        out->pusher_email = optional_string(f->pusher_email, "$.pusher.email");
    }
    if (optional_object(f->sender, "$.sender")) {
        out->sender_login = optional_string(f->sender_login, "$.sender.login");
        out->sender_id = optional_int64(f->sender_id, "$.sender.id");
    }

    // Deletions may omit the list altogether.
    if (f->commits.kind != JsonKind::Absent) {
        if (f->commits.kind != JsonKind::Array)
            ereport(ERROR, (errcode(ERRCODE_SQL_JSON_ARRAY_NOT_FOUND),
                            errmsg("invalid GitHub push payload: $.commits must be an array"),
                            errdetail("JSON path $.commits holds %s.", type_name(f->commits.kind)),
                            errhint("%s", hint)));
        out->commit_count = f->commits.size;
        out->commits_truncated = out->commit_count >= kGitHubMaxCommits;
        if (f->commit_problem.what != CommitProblem::None)
            raise_commit_problem(f->commit_problem);
        out->files_truncated = f->files_truncated;
    }
    build_changed_sets(&f->paths, out);

    // When: the repository's pushed_at, else the head commit's timestamp.
    out->has_pushed_at = timestamp_value(f->pushed_at, "$.repository.pushed_at", &out->pushed_at);
    if (!out->has_pushed_at && optional_object(f->head_commit, "$.head_commit"))
        out->has_pushed_at = timestamp_value(f->head_timestamp, "$.head_commit.timestamp", &out->pushed_at);
}

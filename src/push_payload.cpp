#include "push_payload.hpp"

extern "C" {
#include "catalog/pg_type_d.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
}

#include "core/push_rules.hpp"

using forgea::core::ChangeKind;
using forgea::core::PathRef;

namespace {

constexpr const char *kPayloadHint =
    "record_push takes the JSON body of a GitHub \"push\" webhook delivery, as jsonb.";

const char *type_name(const JsonbValue &v)
{
    switch (v.type) {
        case jbvNull: return "null";
        case jbvString: return "a string";
        case jbvNumeric: return "a number";
        case jbvBool: return "a boolean";
        case jbvBinary: return JsonContainerIsObject(v.val.binary.data) ? "an object" : "an array";
        default: return "a JSON value";
    }
}

[[noreturn]] void wrong_type(const char *path, const char *expected, const JsonbValue &found)
{
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("invalid GitHub push payload: %s must be %s", path, expected),
                    errdetail("JSON path %s holds %s.", path, type_name(found)), errhint("%s", kPayloadHint)));
    pg_unreachable();
}

[[noreturn]] void missing(const char *path, const char *expected)
{
    ereport(ERROR, (errcode(ERRCODE_SQL_JSON_MEMBER_NOT_FOUND),
                    errmsg("invalid GitHub push payload: %s is missing", path),
                    errdetail("JSON path %s must hold %s.", path, expected), errhint("%s", kPayloadHint)));
    pg_unreachable();
}

bool member(const JsonbContainer *c, const char *key, JsonbValue *out)
{
    return getKeyJsonValueFromContainer(const_cast<JsonbContainer *>(c), key, static_cast<int>(strlen(key)), out) !=
           nullptr;
}

bool is_object(const JsonbValue &v)
{
    return v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data);
}

bool is_array(const JsonbValue &v)
{
    return v.type == jbvBinary && JsonContainerIsArray(v.val.binary.data);
}

// Absent and JSON null both read as SQL NULL; any other non-string is an error.
Bytes optional_string(const JsonbContainer *c, const char *key, const char *path)
{
    JsonbValue v;
    if (!member(c, key, &v) || v.type == jbvNull)
        return Bytes{};
    if (v.type != jbvString)
        wrong_type(path, "a string", v);
    return Bytes{v.val.string.val, static_cast<size_t>(v.val.string.len)};
}

Bytes required_string(const JsonbContainer *c, const char *key, const char *path)
{
    JsonbValue v;
    if (!member(c, key, &v))
        missing(path, "a string");
    if (v.type != jbvString)
        wrong_type(path, "a string", v);
    if (v.val.string.len == 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("invalid GitHub push payload: %s is empty", path),
                        errdetail("JSON path %s holds an empty string.", path), errhint("%s", kPayloadHint)));
    return Bytes{v.val.string.val, static_cast<size_t>(v.val.string.len)};
}

void check_object_id(Bytes id, const char *path)
{
    if (!forgea::core::is_object_id(id.data, id.len))
        ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                        errmsg("invalid GitHub push payload: %s is not a git object id", path),
                        errdetail("JSON path %s holds \"%.*s\"; expected 40 (SHA-1) or 64 (SHA-256) hex digits.",
                                  path, static_cast<int>(Min(id.len, 80)), id.data),
                        errhint("%s", kPayloadHint)));
}

bool optional_bool(const JsonbContainer *c, const char *key, const char *path, bool fallback)
{
    JsonbValue v;
    if (!member(c, key, &v) || v.type == jbvNull)
        return fallback;
    if (v.type != jbvBool)
        wrong_type(path, "a boolean", v);
    return v.val.boolean;
}

bool numeric_to_int64(Numeric n, int64 *out)
{
    char *text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n)));
    bool ok = forgea::core::parse_int64(text, strlen(text), out);
    pfree(text);
    return ok;
}

forgea::core::NullableInt64 optional_int64(const JsonbContainer *c, const char *key, const char *path)
{
    forgea::core::NullableInt64 r;
    JsonbValue v;
    if (!member(c, key, &v) || v.type == jbvNull)
        return r;
    if (v.type != jbvNumeric || !numeric_to_int64(v.val.numeric, &r.value))
        wrong_type(path, "an integer (bigint)", v);
    r.is_null = false;
    return r;
}

// Absent and null read as nullptr; anything else but an object is an error.
const JsonbContainer *optional_object(const JsonbContainer *c, const char *key, const char *path)
{
    JsonbValue v;
    if (!member(c, key, &v) || v.type == jbvNull)
        return nullptr;
    if (!is_object(v))
        wrong_type(path, "an object", v);
    return v.val.binary.data;
}

// A timestamp GitHub writes either as Unix seconds (repository.pushed_at in push events) or as
// ISO 8601 text (head_commit.timestamp).
bool timestamp_value(const JsonbValue &v, const char *path, TimestampTz *out)
{
    int64 unix_us;
    if (v.type == jbvNumeric) {
        int64 secs;
        // +-10^11 s is beyond year 5000: anything further is not a push time.
        if (!numeric_to_int64(v.val.numeric, &secs) || secs > INT64CONST(100000000000) ||
            secs < -INT64CONST(100000000000))
            wrong_type(path, "Unix seconds (an integer) or an ISO 8601 timestamp", v);
        unix_us = secs * USECS_PER_SEC;
    } else if (v.type == jbvString) {
        if (!forgea::core::parse_iso8601(v.val.string.val, v.val.string.len, &unix_us))
            ereport(ERROR, (errcode(ERRCODE_INVALID_DATETIME_FORMAT),
                            errmsg("invalid GitHub push payload: %s is not an ISO 8601 timestamp", path),
                            errdetail("JSON path %s holds \"%.*s\".", path, Min(v.val.string.len, 80),
                                      v.val.string.val),
                            errhint("%s", kPayloadHint)));
    } else if (v.type == jbvNull) {
        return false;
    } else {
        wrong_type(path, "Unix seconds (an integer) or an ISO 8601 timestamp", v);
    }
    *out = unix_us - forgea::core::kUnixToPgEpochMicros;
    return true;
}

// A growable palloc'd array of paths: trivially destructible, freed with the memory context.
struct PathList {
    PathRef *items = nullptr;
    size_t count = 0;
    size_t capacity = 0;

    void push(const char *data, int len, ChangeKind kind)
    {
        if (count == capacity) {
            size_t next = capacity == 0 ? 256 : capacity * 2;
            if (next > MaxAllocHugeSize / sizeof(PathRef))
                ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                                errmsg("push payload lists too many changed paths")));
            items = static_cast<PathRef *>(
                items == nullptr ? MemoryContextAllocHuge(CurrentMemoryContext, next * sizeof(PathRef))
                                 : repalloc_huge(items, next * sizeof(PathRef)));
            capacity = next;
        }
        items[count++] = PathRef{data, static_cast<uint32_t>(len), kind};
    }
};

// Reads commits[i].added / modified / removed into paths.
void collect_commit_paths(const JsonbContainer *commit, int commit_index, PathList *paths, PushEvent *out)
{
    for (int k = 0; k < forgea::core::kChangeKinds; k++) {
        const char *kind_name = forgea::core::kChangeKindNames[k];
        char path[96];
        snprintf(path, sizeof path, "$.commits[%d].%s", commit_index, kind_name);

        JsonbValue list;
        if (!member(commit, kind_name, &list) || list.type == jbvNull)
            continue;
        if (!is_array(list))
            wrong_type(path, "an array of file paths", list);
        if (JsonContainerSize(list.val.binary.data) >= kGitHubMaxFilesPerList)
            out->files_truncated = true;

        JsonbIterator *it = JsonbIteratorInit(list.val.binary.data);
        JsonbValue v;
        JsonbIteratorToken tok;
        int j = 0;
        while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE) {
            if (tok != WJB_ELEM)
                continue;
            if (v.type != jbvString) {
                char elem_path[128];
                snprintf(elem_path, sizeof elem_path, "%s[%d]", path, j);
                wrong_type(elem_path, "a string (a file path)", v);
            }
            paths->push(v.val.string.val, v.val.string.len, static_cast<ChangeKind>(k));
            j++;
        }
    }
}

void build_changed_sets(PathList *paths, PushEvent *out)
{
    size_t n = forgea::core::sort_unique_paths(paths->items, paths->count);
    size_t distinct = forgea::core::count_distinct_paths(paths->items, n);

    Datum *elems = static_cast<Datum *>(palloc(Max(distinct, 1) * sizeof(Datum)));
    size_t e = 0;
    for (size_t i = 0; i < n; i++) {
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

void parse_commits(const JsonbContainer *root, PushEvent *out)
{
    JsonbValue commits;
    if (!member(root, "commits", &commits))
        return;  // deletions may omit the list altogether
    if (!is_array(commits)) {
        ereport(ERROR, (errcode(ERRCODE_SQL_JSON_ARRAY_NOT_FOUND),
                        errmsg("invalid GitHub push payload: $.commits must be an array"),
                        errdetail("JSON path $.commits holds %s.", type_name(commits)), errhint("%s", kPayloadHint)));
    }
    const JsonbContainer *list = commits.val.binary.data;
    out->commit_count = static_cast<int32>(JsonContainerSize(list));
    out->commits_truncated = out->commit_count >= kGitHubMaxCommits;

    PathList paths;
    JsonbIterator *it = JsonbIteratorInit(const_cast<JsonbContainer *>(list));
    JsonbValue v;
    JsonbIteratorToken tok;
    int i = 0;
    while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE) {
        if (tok != WJB_ELEM)
            continue;
        char path[64];
        snprintf(path, sizeof path, "$.commits[%d]", i);
        if (!is_object(v))
            wrong_type(path, "an object (a commit)", v);
        snprintf(path, sizeof path, "$.commits[%d].id", i);
        Bytes id = optional_string(v.val.binary.data, "id", path);
        if (!id.is_null())
            check_object_id(id, path);
        collect_commit_paths(v.val.binary.data, i, &paths, out);
        i++;
    }
    build_changed_sets(&paths, out);
}

}  // namespace

void parse_push_event(const Jsonb *payload, PushEvent *out)
{
    if (!JB_ROOT_IS_OBJECT(payload) || JB_ROOT_IS_SCALAR(payload))
        ereport(ERROR, (errcode(ERRCODE_SQL_JSON_OBJECT_NOT_FOUND),
                        errmsg("invalid GitHub push payload: the payload must be a JSON object"),
                        errdetail("JSON path $ holds %s.",
                                  JB_ROOT_IS_SCALAR(payload) ? "a scalar" : "an array"),
                        errhint("%s", kPayloadHint)));
    const JsonbContainer *root = &payload->root;

    out->ref = required_string(root, "ref", "$.ref");
    out->after = required_string(root, "after", "$.after");
    check_object_id(out->after, "$.after");
    out->before = optional_string(root, "before", "$.before");
    if (!out->before.is_null())
        check_object_id(out->before, "$.before");
    out->base_ref = optional_string(root, "base_ref", "$.base_ref");

    // GitHub states these; derive them from the zero ids when a payload leaves them out.
    out->created = optional_bool(root, "created", "$.created",
                                 !out->before.is_null() &&
                                     forgea::core::is_zero_object_id(out->before.data, out->before.len));
    out->deleted = optional_bool(root, "deleted", "$.deleted",
                                 forgea::core::is_zero_object_id(out->after.data, out->after.len));
    out->forced = optional_bool(root, "forced", "$.forced", false);

    JsonbValue repo_value;
    if (!member(root, "repository", &repo_value))
        missing("$.repository", "an object");
    if (!is_object(repo_value))
        wrong_type("$.repository", "an object", repo_value);
    const JsonbContainer *repo = repo_value.val.binary.data;

    static const char *const url_keys[][2] = {{"html_url", "$.repository.html_url"},
                                              {"clone_url", "$.repository.clone_url"},
                                              {"ssh_url", "$.repository.ssh_url"}};
    const char *url_path = url_keys[0][1];
    for (const auto &k : url_keys) {
        out->repo_url = optional_string(repo, k[0], k[1]);
        if (!out->repo_url.is_null()) {
            url_path = k[1];
            break;
        }
    }
    if (out->repo_url.is_null())
        missing("$.repository.html_url", "the repository's URL (or clone_url / ssh_url)");
    char *key = static_cast<char *>(palloc(out->repo_url.len + 1));
    size_t keylen = forgea::core::repo_key(out->repo_url.data, out->repo_url.len, key);
    if (keylen == 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("invalid GitHub push payload: %s is not a repository URL", url_path),
                        errdetail("JSON path %s holds \"%.*s\".", url_path,
                                  static_cast<int>(Min(out->repo_url.len, 200)), out->repo_url.data),
                        errhint("Expected a URL such as https://github.com/owner/repo.")));
    out->repo_key = Bytes{key, keylen};
    out->repo_full_name = optional_string(repo, "full_name", "$.repository.full_name");
    out->repo_id = optional_int64(repo, "id", "$.repository.id");

    if (const JsonbContainer *pusher = optional_object(root, "pusher", "$.pusher")) {
        out->pusher_name = optional_string(pusher, "name", "$.pusher.name");
        out->pusher_email = optional_string(pusher, "email", "$.pusher.email");
    }
    if (const JsonbContainer *sender = optional_object(root, "sender", "$.sender")) {
        out->sender_login = optional_string(sender, "login", "$.sender.login");
        out->sender_id = optional_int64(sender, "id", "$.sender.id");
    }

    parse_commits(root, out);
    if (out->changed_paths == nullptr) {
        PathList none;
        build_changed_sets(&none, out);
    }

    // When: the repository's pushed_at, else the head commit's timestamp.
    JsonbValue when;
    if (member(repo, "pushed_at", &when))
        out->has_pushed_at = timestamp_value(when, "$.repository.pushed_at", &out->pushed_at);
    if (!out->has_pushed_at) {
        if (const JsonbContainer *head = optional_object(root, "head_commit", "$.head_commit"))
            if (member(head, "timestamp", &when))
                out->has_pushed_at = timestamp_value(when, "$.head_commit.timestamp", &out->pushed_at);
    }
}

void parse_delivery_headers(const Jsonb *headers, DeliveryHeaders *out)
{
    if (headers == nullptr)
        return;
    if (!JB_ROOT_IS_OBJECT(headers) || JB_ROOT_IS_SCALAR(headers))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("invalid delivery headers: headers must be a JSON object"),
                        errdetail("Got %s.", JB_ROOT_IS_SCALAR(headers) ? "a scalar" : "an array"),
                        errhint("Pass the delivery's headers as {\"X-GitHub-Event\": \"push\", ...}, or NULL.")));

    // Header names are case-insensitive; these are the ones worth keeping as delivery metadata.
    static const char *const kept[][2] = {
        {"x-github-event", "event"},
        {"x-github-hook-id", "hook_id"},
        {"x-github-hook-installation-target-type", "hook_target_type"},
        {"x-github-hook-installation-target-id", "hook_target_id"},
        {"x-github-enterprise-host", "enterprise_host"},
        {"x-github-enterprise-version", "enterprise_version"},
        {"user-agent", "user_agent"},
    };

    JsonbParseState *state = nullptr;
    pushJsonbValue(&state, WJB_BEGIN_OBJECT, nullptr);
    JsonbIterator *it = JsonbIteratorInit(const_cast<JsonbContainer *>(&headers->root));
    JsonbValue k, v;
    JsonbIteratorToken tok;
    while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE) {
        if (tok != WJB_KEY)
            continue;
        tok = JsonbIteratorNext(&it, &v, true);
        const char *short_name = nullptr;
        for (const auto &h : kept)
            if (strlen(h[0]) == static_cast<size_t>(k.val.string.len) &&
                pg_strncasecmp(h[0], k.val.string.val, k.val.string.len) == 0)
                short_name = h[1];
        // A header the route did not receive arrives as null (JSON.stringify of a missing
        // header): it is simply absent.
        if (short_name == nullptr || v.type == jbvNull)
            continue;

        JsonbValue value;
        value.type = jbvString;
        if (v.type == jbvString) {
            value.val.string = v.val.string;
        } else if (v.type == jbvNumeric) {
            char *text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
            value.val.string.val = text;
            value.val.string.len = static_cast<int>(strlen(text));
        } else {
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("invalid delivery headers: header \"%.*s\" must be a string",
                                   k.val.string.len, k.val.string.val),
                            errdetail("It holds %s.", type_name(v)),
                            errhint("Pass header values as the strings GitHub sent.")));
        }
        if (strcmp(short_name, "event") == 0)
            out->event = Bytes{value.val.string.val, static_cast<size_t>(value.val.string.len)};

        JsonbValue key;
        key.type = jbvString;
        key.val.string.val = const_cast<char *>(short_name);
        key.val.string.len = static_cast<int>(strlen(short_name));
        pushJsonbValue(&state, WJB_KEY, &key);
        pushJsonbValue(&state, WJB_VALUE, &value);
    }
    out->metadata = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, nullptr));

    if (!out->event.is_null() && !(out->event.len == 4 && memcmp(out->event.data, "push", 4) == 0))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("record_push records push deliveries only, not \"%.*s\"",
                               static_cast<int>(Min(out->event.len, 64)), out->event.data),
                        errdetail("The X-GitHub-Event header says \"%.*s\".",
                                  static_cast<int>(Min(out->event.len, 64)), out->event.data),
                        errhint("Route only X-GitHub-Event: push deliveries to forgea_audit.record_push.")));
}

// The JSON-text front end: reads a json datum's text with PostgreSQL's streaming parser
// (common/jsonapi.h) at the paths the push rules read (PushFields), and hands over to
// build_push_event(), never building a jsonb (or any tree) of the payload.
//
// One pass extracts the fields and locates the root object's members; the payload's SHA-256 is then
// computed member by member in canonical order (json/canonical_json_text.cpp), re-reading each member's text,
// so that only one commit's worth of nested objects is buffered at a time.
//
// Repeated keys follow jsonb: the last one wins, at every level (a repeated "commits" or "added"
// replaces what the earlier one listed).  File paths without escapes point into the text itself.
//
// The callbacks run inside pg_parse_json, C code that may ereport: the state is palloc'd plain data.
#include "pg/core_headers.hpp"  // first: see there
#include "pg/boundary.hpp"

#include "push/push_event.hpp"

extern "C" {
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/jsonfuncs.h"
#include "utils/memutils.h"
}

#include "json/canonical_json_text.hpp"
#include "pg/sha256.hpp"

using forgea::core::ChangeKind;

namespace {

// What an open object or array is, for the rules.  The first six are the PayloadObjects, in the
// same order, so that a listed field's object (kPayloadFields) is a Role by a cast.
enum class Role : uint8 { Ignore, Root, Repository, Pusher, Sender, HeadCommit, Commits, Commit, Paths };
static_assert(static_cast<int>(Role::Ignore) == static_cast<int>(PayloadObject::None) &&
                  static_cast<int>(Role::Root) == static_cast<int>(PayloadObject::Root) &&
                  static_cast<int>(Role::Repository) == static_cast<int>(PayloadObject::Repository) &&
                  static_cast<int>(Role::Pusher) == static_cast<int>(PayloadObject::Pusher) &&
                  static_cast<int>(Role::Sender) == static_cast<int>(PayloadObject::Sender) &&
                  static_cast<int>(Role::HeadCommit) == static_cast<int>(PayloadObject::HeadCommit) &&
                  kPayloadObjects == static_cast<int>(Role::HeadCommit) + 1,
              "Role must begin with the PayloadObjects");

struct Frame {
    Role role;
    int kind;  // Paths: the ChangeKind
};
FA_LIVES_ACROSS_PG_CALLS(Frame);

struct Extract {
    JsonLexContext *lex;
    PushFields *f;
    Frame *frames;
    int depth;
    int capacity;

    // The value about to be read: the field it fills (or nullptr) and the role it opens as.
    JsonField *target;
    Role object_role;
    Role array_role;
    int array_kind;

    // The root object's members, for the hash.
    JsonMember *members;
    int nmembers;
    int member_capacity;

    // The commit being read.
    CommitFields commit;
    // The entries of f->paths that the commit's last list of each kind added, [from, to): a
    // repeated list key drops exactly these (the last list wins).  list_kind: the list being read.
    size_t list_from[forgea::core::kChangeKinds];
    size_t list_to[forgea::core::kChangeKinds];
    int list_kind;
    bool commits_failed;       // a problem was recorded: later commits need no checking
    const char *elem_start;    // a path element's token
    const char *elem_end;
};
FA_LIVES_ACROSS_PG_CALLS(Extract);

// Opens an object or array: its role decides which member keys are read below it.
void push_frame(Extract *x, Role role, int kind = 0)
{
    if (x->depth == x->capacity) {
        x->capacity = x->capacity == 0 ? 16 : x->capacity * 2;
        x->frames = static_cast<Frame *>(x->frames == nullptr ? palloc(x->capacity * sizeof(Frame))
                                                              : repalloc(x->frames, x->capacity * sizeof(Frame)));
    }
    x->frames[x->depth++] = Frame{role, kind};
}

// The innermost open object or array (nullptr at the top level).
Frame *top(Extract *x)
{
    return x->depth > 0 ? &x->frames[x->depth - 1] : nullptr;
}

void expect(Extract *x, JsonField *target, Role object_role = Role::Ignore, Role array_role = Role::Ignore,
            int array_kind = 0)
{
    x->target = target;
    x->object_role = object_role;
    x->array_role = array_role;
    x->array_kind = array_kind;
    if (target != nullptr)
        *target = JsonField{};  // a repeated key: the last one wins
}

// A member of an object the rules read: if kPayloadFields lists (object, key), the value fills
// that field.  A repeated key replaces the earlier value, and for an object also everything read
// from inside the earlier one: jsonb keeps the last of repeated keys, and this front end must read
// what the jsonb one reads.
void expect_listed(Extract *x, Role object, const char *key)
{
    PayloadObject parent = static_cast<PayloadObject>(object);
    for (const PayloadField &pf : kPayloadFields) {
        if (pf.parent != parent || strcmp(pf.key, key) != 0)
            continue;
        expect(x, &(x->f->*pf.member), static_cast<Role>(pf.opens));
        if (pf.opens != PayloadObject::None)
            for (const PayloadField &child : kPayloadFields)
                if (child.parent == pf.opens)
                    x->f->*child.member = JsonField{};
        return;
    }
}

// A (repeated) $.commits key: everything read from an earlier commits array is dropped, as jsonb
// keeps only the last value of a repeated key.
void reset_commits(Extract *x)
{
    PushFields *f = x->f;
    f->commit_problem = CommitProblem{};
    f->files_truncated = false;
    f->paths.clear();
    x->commits_failed = false;
}

// One commit element is complete: check it (the rules stop at the first problem).
void finish_commit(Extract *x)
{
    PushFields *f = x->f;
    if (!x->commits_failed && !check_commit(x->commit, f->commits.size - 1, f))
        x->commits_failed = true;
}

// A path list's element that is an object or an array: not a path.
void bad_path_container(Extract *x, Frame *t, JsonKind kind)
{
    int k = t->kind;
    if (x->commit.bad_path[k] < 0) {
        x->commit.bad_path[k] = x->commit.lists[k].size - 1;
        x->commit.bad_path_kind[k] = kind;
    }
    push_frame(x, Role::Ignore);
}

// Semantic actions of the streaming parser (common/jsonapi.h).  Each object or array opened is
// given a role from the key that led to it; values land in the field expect() set up; the root
// object's member boundaries are recorded for the canonical hash.
void x_object_start(void *state)
{
    Extract *x = static_cast<Extract *>(state);
    CHECK_FOR_INTERRUPTS();
    Frame *t = top(x);
    if (t != nullptr && t->role == Role::Paths) {
        bad_path_container(x, t, JsonKind::Object);
        return;
    }
    if (t == nullptr) {
        x->f->root = JsonKind::Object;
        push_frame(x, Role::Root);
        return;
    }
    if (t->role == Role::Commits) {
        x->commit.kind = JsonKind::Object;
        push_frame(x, Role::Commit);
        return;
    }
    if (x->target != nullptr)
        x->target->kind = JsonKind::Object;
    push_frame(x, x->target != nullptr ? x->object_role : Role::Ignore);
    x->target = nullptr;
}

void x_object_end(void *state)
{
    Extract *x = static_cast<Extract *>(state);
    x->depth--;
}

void x_array_start(void *state)
{
    Extract *x = static_cast<Extract *>(state);
    CHECK_FOR_INTERRUPTS();
    Frame *t = top(x);
    if (t != nullptr && t->role == Role::Paths) {
        bad_path_container(x, t, JsonKind::Array);
        return;
    }
    if (t == nullptr) {
        x->f->root = JsonKind::Array;
        push_frame(x, Role::Ignore);
        return;
    }
    if (t->role == Role::Commits) {
        x->commit.kind = JsonKind::Array;
        push_frame(x, Role::Ignore);
        return;
    }
    if (x->target != nullptr)
        x->target->kind = JsonKind::Array;
    push_frame(x, x->target != nullptr ? x->array_role : Role::Ignore, x->array_kind);
    x->target = nullptr;
}

void x_array_end(void *state)
{
    Extract *x = static_cast<Extract *>(state);
    x->depth--;
}

// A member key: inside an object the rules read, look it up in kPayloadFields (or the commit's own
// keys) and expect its value; the root's keys are also kept for the hash.
void x_field_start(void *state, char *fname, bool isnull)
{
    Extract *x = static_cast<Extract *>(state);
    CHECK_FOR_INTERRUPTS();
    PushFields *f = x->f;
    Frame *t = top(x);
    x->target = nullptr;
    switch (t->role) {
        case Role::Root: {
            if (x->nmembers == x->member_capacity) {
                x->member_capacity = x->member_capacity == 0 ? 32 : x->member_capacity * 2;
                x->members = static_cast<JsonMember *>(
                    x->members == nullptr ? palloc(x->member_capacity * sizeof(JsonMember))
                                          : repalloc(x->members, x->member_capacity * sizeof(JsonMember)));
            }
            // The key is kept for the hash; the value's text starts at the token the parser peeked.
            x->members[x->nmembers] = JsonMember{fname, static_cast<int>(strlen(fname)), x->lex->token_start, 0,
                                                 x->nmembers};
            x->nmembers++;

            if (strcmp(fname, "commits") == 0) {
                expect(x, &f->commits, Role::Ignore, Role::Commits);
                reset_commits(x);
                break;
            }
            expect_listed(x, Role::Root, fname);
            break;
        }
        case Role::Repository:
        case Role::Pusher:
        case Role::Sender:
        case Role::HeadCommit:
            expect_listed(x, t->role, fname);
            break;
        case Role::Commit:
            if (strcmp(fname, "id") == 0) {
                expect(x, &x->commit.id);
                break;
            }
            for (int k = 0; k < forgea::core::kChangeKinds; k++) {
                if (strcmp(fname, forgea::core::kChangeKindNames[k]) != 0)
                    continue;
                // A repeated list replaces the earlier one.
                f->paths.drop_range(x->list_from[k], x->list_to[k]);
                x->list_from[k] = x->list_to[k] = f->paths.count;
                x->list_kind = k;
                x->commit.bad_path[k] = -1;
                expect(x, &x->commit.lists[k], Role::Ignore, Role::Paths, k);
            }
            break;
        default:
            break;
    }
}

// A member ends: note where a root member's text ends (for the hash); other keys are freed.
void x_field_end(void *state, char *fname, bool isnull)
{
    Extract *x = static_cast<Extract *>(state);
    x->target = nullptr;
    if (top(x)->role == Role::Commit && x->list_kind >= 0) {
        x->list_to[x->list_kind] = x->f->paths.count;
        x->list_kind = -1;
    }
    if (top(x)->role == Role::Root) {
        JsonMember &m = x->members[x->nmembers - 1];
        m.value_len = static_cast<int>(x->lex->prev_token_terminator - m.value);
        return;  // the key stays: the hash needs it
    }
    pfree(fname);
}

// An array element: a new commit, or a path of a commit's added/modified/removed list.
void x_element_start(void *state, bool isnull)
{
    Extract *x = static_cast<Extract *>(state);
    Frame *t = top(x);
    x->target = nullptr;
    if (t->role == Role::Commits) {
        x->f->commits.size++;
        x->commit = CommitFields{};
        for (int k = 0; k < forgea::core::kChangeKinds; k++)
            x->list_from[k] = x->list_to[k] = x->f->paths.count;
        x->list_kind = -1;
    } else if (t->role == Role::Paths) {
        x->commit.lists[t->kind].size++;
        x->elem_start = x->lex->token_start;
        x->elem_end = x->lex->token_terminator;
    }
}

void x_element_end(void *state, bool isnull)
{
    Extract *x = static_cast<Extract *>(state);
    if (top(x)->role == Role::Commits)
        finish_commit(x);
}

// The JSON kind of a scalar token.
JsonKind kind_of(JsonTokenType type)
{
    switch (type) {
        case JSON_TOKEN_STRING: return JsonKind::String;
        case JSON_TOKEN_NUMBER: return JsonKind::Number;
        case JSON_TOKEN_TRUE:
        case JSON_TOKEN_FALSE: return JsonKind::Bool;
        default: return JsonKind::Null;
    }
}

// A scalar value: fills the expected field (de-escaped strings, numbers normalised as numeric_out
// prints them), or is recorded as a path or as a non-string where a path belongs.
void x_scalar(void *state, char *token, JsonTokenType type)
{
    Extract *x = static_cast<Extract *>(state);
    CHECK_FOR_INTERRUPTS();
    Frame *t = top(x);
    JsonKind kind = kind_of(type);
    if (t == nullptr) {
        x->f->root = kind;
    } else if (t->role == Role::Paths) {
        int k = t->kind;
        if (kind == JsonKind::String && strlen(token) > kMaxPathBytes) {
            if (x->commit.bad_path[k] < 0) {
                x->commit.bad_path[k] = x->commit.lists[k].size - 1;
                x->commit.bad_path_kind[k] = JsonKind::String;
                x->commit.bad_path_len[k] = strlen(token);
            }
        } else if (kind == JsonKind::String) {
            size_t len = strlen(token);
            const char *data = token;
            // Without escapes the value is the token's text between its quotes: point there.
            if (static_cast<size_t>(x->elem_end - x->elem_start) == len + 2) {
                data = x->elem_start + 1;
                pfree(token);
            }
            x->f->paths.push(data, len, static_cast<ChangeKind>(k));
            return;
        }
        if (x->commit.bad_path[k] < 0) {
            x->commit.bad_path[k] = x->commit.lists[k].size - 1;
            x->commit.bad_path_kind[k] = kind;
        }
    } else if (t->role == Role::Commits) {
        x->commit.kind = kind;
    } else if (x->target != nullptr) {
        JsonField *f = x->target;
        f->kind = kind;
        if (kind == JsonKind::String) {
            f->text = Bytes{token, strlen(token)};
            token = nullptr;  // kept
        } else if (kind == JsonKind::Number) {
            f->text = json_number_text(token, strlen(token));
            if (f->text.data == token)
                token = nullptr;
        } else if (kind == JsonKind::Bool) {
            f->boolean = type == JSON_TOKEN_TRUE;
        }
        x->target = nullptr;
    }
    if (token != nullptr)
        pfree(token);
}

}  // namespace

void parse_push_event_text(const char *json, int len, PushEvent *out, uint8 sha256[forgea::core::kHashLen],
                           const char *hint)
{
    PushFields *f = static_cast<PushFields *>(palloc0(sizeof(PushFields)));
    new (f) PushFields();
    JsonLexContext *lex = makeJsonLexContextCstringLen(const_cast<char *>(json), len, GetDatabaseEncoding(), true);
    Extract *x = static_cast<Extract *>(palloc0(sizeof(Extract)));
    new (&x->commit) CommitFields();
    x->lex = lex;
    x->f = f;

    JsonSemAction sem;
    memset(&sem, 0, sizeof sem);
    sem.semstate = x;
    sem.object_start = x_object_start;
    sem.object_end = x_object_end;
    sem.array_start = x_array_start;
    sem.array_end = x_array_end;
    sem.object_field_start = x_field_start;
    sem.object_field_end = x_field_end;
    sem.array_element_start = x_element_start;
    sem.array_element_end = x_element_end;
    sem.scalar = x_scalar;

    // json_in has checked the syntax; what remains is what jsonb_in refuses beyond it (\u0000, and
    // escapes the database encoding cannot hold), raised with jsonb_in's own message.
    JsonParseErrorType rc = pg_parse_json(lex, &sem);
    if (rc != JSON_SUCCESS)
        json_ereport_error(rc, lex);

    build_push_event(f, out, hint);

    // The payload's canonical SHA-256, in a context of its own: nothing of it outlives the hash.
    MemoryContext hash_cxt = AllocSetContextCreate(CurrentMemoryContext, "record_push_json hash",
                                                   ALLOCSET_DEFAULT_SIZES);
    MemoryContext old = MemoryContextSwitchTo(hash_cxt);
    Sha256Sink sink;
    write_canonical_json_object(x->members, x->nmembers, sink);
    sink.finish(sha256);
    MemoryContextSwitchTo(old);
    MemoryContextDelete(hash_cxt);
}

// The jsonb front end: reads a jsonb payload at the paths the push rules read (PushFields), without
// copying anything (strings point into the detoasted datum), and hands over to build_push_event().
#include "pg/core_headers.hpp"  // first: see there

#include "push/push_event.hpp"

#include "chain/audit_metadata.hpp"

extern "C" {
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
}

using forgea::core::ChangeKind;

namespace {

// The JSON type of v in words, for error details ("got an array").
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

// What the rules need to know about one value, pointing into the datum (no copy); numbers as
// numeric_out prints them, the same text the JSON text front end reports.
JsonField field_of(const JsonbValue &v)
{
    JsonField f;
    switch (v.type) {
        case jbvNull:
            f.kind = JsonKind::Null;
            break;
        case jbvString:
            f.kind = JsonKind::String;
            f.text = Bytes{v.val.string.val, static_cast<size_t>(v.val.string.len)};
            break;
        case jbvNumeric: {
            f.kind = JsonKind::Number;
            char *text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
            f.text = Bytes{text, strlen(text)};
            break;
        }
        case jbvBool:
            f.kind = JsonKind::Bool;
            f.boolean = v.val.boolean;
            break;
        case jbvBinary:
            f.kind = JsonContainerIsObject(v.val.binary.data) ? JsonKind::Object : JsonKind::Array;
            f.size = static_cast<int32>(JsonContainerSize(v.val.binary.data));
            break;
        default:
            elog(ERROR, "unexpected jsonb value type %d", static_cast<int>(v.type));
    }
    return f;
}

// The member key of object c (nullptr: not an object) as a JsonField; *container is set to the
// member's container when it is an object or an array.
JsonField member(const JsonbContainer *c, const char *key, const JsonbContainer **container = nullptr)
{
    JsonbValue v;
    if (c == nullptr ||
        getKeyJsonValueFromContainer(const_cast<JsonbContainer *>(c), key, static_cast<int>(strlen(key)), &v) ==
            nullptr)
        return JsonField{};
    if (container != nullptr)
        *container = v.type == jbvBinary ? v.val.binary.data : nullptr;
    return field_of(v);
}

// Reads one commit's id and lists; file paths go to fields->paths.
void read_commit(const JsonbValue &elem, CommitFields *c, PushFields *fields)
{
    if (elem.type != jbvBinary || !JsonContainerIsObject(elem.val.binary.data)) {
        c->kind = field_of(elem).kind;
        return;
    }
    c->kind = JsonKind::Object;
    const JsonbContainer *commit = elem.val.binary.data;
    c->id = member(commit, "id");
    for (int k = 0; k < forgea::core::kChangeKinds; k++) {
        c->bad_path[k] = -1;
        const JsonbContainer *list = nullptr;
        c->lists[k] = member(commit, forgea::core::kChangeKindNames[k], &list);
        if (c->lists[k].kind != JsonKind::Array)
            continue;
        JsonbIterator *it = JsonbIteratorInit(const_cast<JsonbContainer *>(list));
        JsonbValue v;
        JsonbIteratorToken tok;
        int32 j = 0;
        while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE) {
            CHECK_FOR_INTERRUPTS();
            if (tok != WJB_ELEM)
                continue;
            if (v.type != jbvString || static_cast<size_t>(v.val.string.len) > kMaxPathBytes) {
                c->bad_path[k] = j;
                c->bad_path_kind[k] = v.type == jbvString ? JsonKind::String : field_of(v).kind;
                c->bad_path_len[k] = v.type == jbvString ? static_cast<size_t>(v.val.string.len) : 0;
                break;
            }
            fields->paths.push(v.val.string.val, static_cast<size_t>(v.val.string.len), static_cast<ChangeKind>(k));
            j++;
        }
    }
}

}  // namespace

// See push_event.hpp.  Reads the listed fields (FA_PAYLOAD_FIELDS) by key lookup, then $.commits
// element by element, stopping at the first bad commit (the only one reported).
void parse_push_event(const Jsonb *payload, PushEvent *out, const char *hint)
{
    PushFields *f = static_cast<PushFields *>(palloc0(sizeof(PushFields)));
    new (f) PushFields();
    if (!JB_ROOT_IS_OBJECT(payload) || JB_ROOT_IS_SCALAR(payload)) {
        f->root = JB_ROOT_IS_SCALAR(payload) ? JsonKind::String : JsonKind::Array;
        build_push_event(f, out, hint);  // raises
    }
    f->root = JsonKind::Object;
    const JsonbContainer *root = &payload->root;

    // Every listed field by key lookup; a member of an object that is absent or not an object
    // stays Absent, because its parent's container is never set (parents come first in the list).
    const JsonbContainer *objects[kPayloadObjects] = {};
    objects[static_cast<int>(PayloadObject::Root)] = root;
    for (const PayloadField &pf : kPayloadFields) {
        const JsonbContainer *parent = objects[static_cast<int>(pf.parent)];
        if (parent == nullptr)
            continue;
        const JsonbContainer *opened = nullptr;
        JsonField &field = f->*pf.member;
        field = member(parent, pf.key, &opened);
        if (pf.opens != PayloadObject::None && field.kind == JsonKind::Object)
            objects[static_cast<int>(pf.opens)] = opened;
    }

    const JsonbContainer *commits = nullptr;
    f->commits = member(root, "commits", &commits);
    if (f->commits.kind == JsonKind::Array) {
        JsonbIterator *it = JsonbIteratorInit(const_cast<JsonbContainer *>(commits));
        JsonbValue v;
        JsonbIteratorToken tok;
        int32 i = 0;
        while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE) {
            CHECK_FOR_INTERRUPTS();
            if (tok != WJB_ELEM)
                continue;
            CommitFields c;
            read_commit(v, &c, f);
            if (!check_commit(c, i, f))
                break;  // the first problem is all build_push_event reports
            i++;
        }
    }
    build_push_event(f, out, hint);
}

// See push_event.hpp.  Only a few headers are kept (as delivery metadata); an event other than
// "push" is refused so that a misrouted delivery is not recorded as a push.
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

    MetadataBuilder kept_headers;
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

        Bytes value;
        if (v.type == jbvString) {
            value = Bytes{v.val.string.val, static_cast<size_t>(v.val.string.len)};
        } else if (v.type == jbvNumeric) {
            char *text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
            value = Bytes{text, strlen(text)};
        } else {
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("invalid delivery headers: header \"%.*s\" must be a string",
                                   k.val.string.len, k.val.string.val),
                            errdetail("It holds %s.", type_name(v)),
                            errhint("Pass header values as the strings GitHub sent.")));
        }
        if (strcmp(short_name, "event") == 0)
            out->event = value;
        kept_headers.text(short_name, value);
    }
    out->metadata = kept_headers.finish();

    if (!out->event.is_null() && !(out->event.len == 4 && memcmp(out->event.data, "push", 4) == 0))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("record_push records push deliveries only, not \"%.*s\"",
                               static_cast<int>(Min(out->event.len, 64)), out->event.data),
                        errdetail("The X-GitHub-Event header says \"%.*s\".",
                                  static_cast<int>(Min(out->event.len, 64)), out->event.data),
                        errhint("Route only X-GitHub-Event: push deliveries to forgea_audit.record_push.")));
}

// forgea_audit.record_push(payload jsonb, delivery_id text, headers jsonb DEFAULT NULL)
// forgea_audit.record_push_json(payload json, delivery_id text, headers jsonb DEFAULT NULL)
//
// The one call the webhook route makes, with the payload as jsonb or as JSON text (json: for large
// payloads, read by a streaming parser without building a jsonb; see push/push_event.hpp).  Both share
// everything after the payload is read, so the same delivery recorded through either writes the
// same rows, and a retry through the other is a duplicate.  Follow a push from here:
// payload_jsonb.cpp or payload_json_text.cpp reads the payload, push_event_builder.cpp applies the
// rules, session_binding.cpp finds and moves the lab session, chain/chain_append.cpp appends the
// audit rows.  Everything runs in the caller's transaction: an error anywhere writes nothing.
#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"
}

#include "chain/chain_append.hpp"
#include "core/hex.hpp"
#include "core/push_rules.hpp"
#include "json/canonical_jsonb.hpp"
#include "pg/sha256.hpp"
#include "chain/audit_metadata.hpp"
#include "pg/boundary.hpp"
#include "pg/datum_read.hpp"
#include "pg/key_lookup.hpp"
#include "pg/spi_plan.hpp"
#include "push/push_event.hpp"
#include "push/session_binding.hpp"

using forgea::core::Bytes;
using forgea::core::kHashLen;

namespace {

// record_push's statements, planned once per backend (pg/spi_plan.hpp).
enum AttemptPlan { kInsertAttempt, kAttemptPlans };
SPIPlanPtr attempt_plans[kAttemptPlans];

constexpr int kInsertArgs = 25;

// record_push's two lab_attempt statements, prepared once per backend and kept together.
void prepare_plans()
{
    if (attempt_plans[kInsertAttempt] != nullptr)
        return;
    static const Oid types[kInsertArgs] = {TEXTOID, UUIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID,
                                           JSONBOID, INT4OID, BOOLOID, BOOLOID, BOOLOID, BOOLOID, BOOLOID,
                                           TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, TEXTOID, TEXTOID,
                                           TEXTOID, BYTEAOID, JSONBOID, TIMESTAMPTZOID};
    const FaPlanSpec specs[kAttemptPlans] = {
        {"INSERT INTO forgea_audit.lab_attempt (session_id, delivery_id, commit_sha, before_sha, ref, base_ref,"
        "  changed_paths, changed_files, commit_count, commits_truncated, files_truncated, created, deleted,"
        "  forced, pusher_name, pusher_email, sender_login, sender_id, repository_id, repository_url,"
        "  repository_full_name, repository_key, payload_sha256, delivery, pushed_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,"
        "  $21, $22, $23, $24, $25) "
        "ON CONFLICT (delivery_id) DO NOTHING RETURNING id",
         kInsertArgs, types},
    };
    fa_keep_plans(specs, kAttemptPlans, attempt_plans, "record_push's lab_attempt statements");
}

// The request, checked and parsed: everything below works from this.
struct Delivery {
    char guid[forgea::core::kGuidTextLen + 1];
    Datum guid_uuid;
    PushEvent push;
    DeliveryHeaders headers;
    uint8 payload_sha[kHashLen];
    char payload_sha_hex[2 * kHashLen + 1];
};
FA_LIVES_ACROSS_PG_CALLS(Delivery);

struct ExistingAttempt {
    bool found = false;
    int64 id = 0;
    Bytes session_id;
    uint8 payload_sha[kHashLen];
};
FA_LIVES_ACROSS_PG_CALLS(ExistingAttempt);

struct Outcome {
    const char *status;
    bool has_attempt = false;
    int64 attempt_id = 0;
    Bytes session_id;
    int64 audit_seq = 0;
};
FA_LIVES_ACROSS_PG_CALLS(Outcome);

// Copies id, session_id and payload_sha256 of an attempt row into the ExistingAttempt.
void read_attempt(HeapTuple tuple, TupleDesc desc, void *arg)
{
    ExistingAttempt *a = static_cast<ExistingAttempt *>(arg);
    // By name: the live and the archived table are read alike.
    FaRow row = fa_row(desc, tuple, "the attempt recorded for the delivery");
    a->id = fa_get<SqlInt8>(row, "id");
    text *sid = fa_get<SqlTextCopy>(row, "session_id");
    a->session_id = Bytes{VARDATA_ANY(sid), VARSIZE_ANY_EXHDR(sid)};
    bytea *sha = fa_get<SqlBytea>(row, "payload_sha256");
    memcpy(a->payload_sha, VARDATA_ANY(sha), Min(VARSIZE_ANY_EXHDR(sha), kHashLen));
}

// The attempt recorded for this delivery, live or archived (a delivery archived by retention is
// still a duplicate if GitHub sends it again), read through the delivery_id unique indexes
// (pg/key_lookup.hpp): the same cost on a fresh install as on a full one, whatever the settings.
ExistingAttempt find_attempt(const Delivery &d)
{
    static const FaKey live = {"lab_attempt", "lab_attempt_delivery_id_key", "delivery_id", F_UUID_EQ};
    static const FaKey archived = {"lab_attempt_archive", "lab_attempt_archive_delivery_id_key", "delivery_id",
                                   F_UUID_EQ};
    ExistingAttempt a;
    a.found = fa_read_by_key(live, d.guid_uuid, read_attempt, &a) ||
              fa_read_by_key(archived, d.guid_uuid, read_attempt, &a);
    return a;
}

// The chain a lab session's events go to: "session:<id>".
char *session_chain(Bytes session_id)
{
    return psprintf("session:%.*s", static_cast<int>(session_id.len), session_id.data);
}

// The fields every webhook audit event shares (actor github, target, correlation id = GUID).
AuditEvent webhook_event(const Delivery &d, const char *chain, const char *action)
{
    AuditEvent ev;
    ev.chain_id = cstr_bytes(chain);
    ev.actor_type = cstr_bytes("webhook");
    ev.actor_id = cstr_bytes("github");
    ev.action = cstr_bytes(action);
    ev.outcome = cstr_bytes("success");
    ev.severity = cstr_bytes("INFO");
    ev.correlation_id = Bytes{d.guid, forgea::core::kGuidTextLen};
    return ev;
}

// What every record_push audit row says about the delivery.
void describe_delivery(MetadataBuilder &m, const Delivery &d)
{
    m.text("delivery_id", d.guid)
        .text("commit_sha", d.push.after)
        .text("ref", d.push.ref)
        .text("repository", d.push.repo_url)
        .integer("repository_id", d.push.repo_id)
        .text("payload_sha256", d.payload_sha_hex);
    if (!d.push.sender_login.is_null())
        m.text("sender", d.push.sender_login);
    if (d.headers.metadata != nullptr) {
        JsonbValue hook;
        if (getKeyJsonValueFromContainer(&d.headers.metadata->root, "hook_id", 7, &hook) != nullptr &&
            hook.type == jbvString)
            m.text("hook_id", Bytes{hook.val.string.val, static_cast<size_t>(hook.val.string.len)});
    }
}

// A GUID seen before: the same payload is a duplicate (INFO), a different one a conflict (HIGH,
// alerted): GitHub never reuses a GUID for other content, so that is a forged or broken sender.
Outcome duplicate_or_conflict(const Delivery &d, const ExistingAttempt &a)
{
    bool same = memcmp(a.payload_sha, d.payload_sha, kHashLen) == 0;
    Outcome o;
    o.status = same ? "duplicate" : "conflict";
    o.has_attempt = true;
    o.attempt_id = a.id;
    o.session_id = a.session_id;

    char *attempt_text = psprintf(INT64_FORMAT, a.id);
    AuditEvent ev = webhook_event(d, session_chain(a.session_id),
                                  same ? "LAB_VERIFY_ATTEMPT_DUPLICATE" : "LAB_VERIFY_ATTEMPT_CONFLICT");
    ev.target_type = cstr_bytes("lab_attempt");
    ev.target_id = cstr_bytes(attempt_text);
    MetadataBuilder m;
    describe_delivery(m, d);
    m.integer("attempt_id", a.id).text("session_id", a.session_id);
    if (!same) {
        char hex[2 * kHashLen + 1];
        forgea::core::write_hex(a.payload_sha, kHashLen, hex);
        m.text("recorded_payload_sha256", hex);
        ev.outcome = cstr_bytes("failure");
        ev.severity = cstr_bytes("HIGH");
    }
    ev.metadata = m.finish();
    o.audit_seq = fa_audit_append(ev);
    return o;
}

// No active session for the fork: nothing is recorded but the audit row on the repository's chain,
// so the push is not lost from the log.
Outcome unmatched(const Delivery &d)
{
    Outcome o;
    o.status = "unmatched";
    char *chain = psprintf("repository:%.*s", static_cast<int>(d.push.repo_key.len), d.push.repo_key.data);
    AuditEvent ev = webhook_event(d, chain, "LAB_VERIFY_ATTEMPT_UNMATCHED");
    ev.target_type = cstr_bytes("repository");
    ev.target_id = d.push.repo_key;
    ev.outcome = cstr_bytes("failure");
    ev.severity = cstr_bytes("LOW");
    MetadataBuilder m;
    describe_delivery(m, d);
    m.text("repository_key", d.push.repo_key).text("reason", "no IN_PROGRESS or STUCK lab session for this fork");
    ev.metadata = m.finish();
    o.audit_seq = fa_audit_append(ev);
    return o;
}

// INSERT ... ON CONFLICT (delivery_id) DO NOTHING RETURNING id: *inserted is false when a racing
// call with the same GUID won (the caller then reads its attempt).
Datum insert_attempt(const Delivery &d, const ActiveSession &s, bool *inserted)
{
    const PushEvent &p = d.push;
    Datum v[kInsertArgs];
    char nulls[kInsertArgs + 1];
    memset(nulls, ' ', kInsertArgs);
    nulls[kInsertArgs] = '\0';
    auto text_at = [&](int i, Bytes b) {
        if (b.is_null())
            nulls[i] = 'n';
        else
            v[i] = PointerGetDatum(cstring_to_text_with_len(b.data, static_cast<int>(b.len)));
    };
    auto int8_at = [&](int i, forgea::core::NullableInt64 n) {
        v[i] = Int64GetDatum(n.value);
        if (n.is_null)
            nulls[i] = 'n';
    };
    text_at(0, s.id);
    v[1] = d.guid_uuid;
    text_at(2, p.after);
    text_at(3, p.before);
    text_at(4, p.ref);
    text_at(5, p.base_ref);
    v[6] = PointerGetDatum(p.changed_paths);
    v[7] = JsonbPGetDatum(p.changed_files);
    v[8] = Int32GetDatum(p.commit_count);
    v[9] = BoolGetDatum(p.commits_truncated);
    v[10] = BoolGetDatum(p.files_truncated);
    v[11] = BoolGetDatum(p.created);
    v[12] = BoolGetDatum(p.deleted);
    v[13] = BoolGetDatum(p.forced);
    text_at(14, p.pusher_name);
    text_at(15, p.pusher_email);
    text_at(16, p.sender_login);
    int8_at(17, p.sender_id);
    int8_at(18, p.repo_id);
    text_at(19, p.repo_url);
    text_at(20, p.repo_full_name);
    text_at(21, p.repo_key);
    v[22] = PointerGetDatum(bytea_from_bytes(d.payload_sha, kHashLen));
    if (d.headers.metadata != nullptr)
        v[23] = JsonbPGetDatum(d.headers.metadata);
    else
        nulls[23] = 'n';
    v[24] = TimestampTzGetDatum(p.pushed_at);
    if (!p.has_pushed_at)
        nulls[24] = 'n';

    int rc = SPI_execute_plan(attempt_plans[kInsertAttempt], v, nulls, false, 1);
    if (rc != SPI_OK_INSERT_RETURNING)
        elog(ERROR, "attempt insert failed: %s", SPI_result_code_string(rc));
    *inserted = SPI_processed == 1;
    if (!*inserted)
        return (Datum) 0;
    return Int64GetDatum(fa_get<SqlInt8>(fa_spi_row(0, "the attempt insert"), 1));
}

// The attempt is new: move the session (activity, STUCK -> IN_PROGRESS) and append its audit rows.
Outcome recorded(const Delivery &d, const ActiveSession &s, int64 attempt_id)
{
    Outcome o;
    o.status = "recorded";
    o.has_attempt = true;
    o.attempt_id = attempt_id;
    o.session_id = s.id;

    const char *old_status = fa_touch_session(s);
    char *chain = session_chain(s.id);
    char *attempt_text = psprintf(INT64_FORMAT, attempt_id);

    AuditEvent ev = webhook_event(d, chain, "LAB_VERIFY_ATTEMPT");
    ev.target_type = cstr_bytes("lab_attempt");
    ev.target_id = cstr_bytes(attempt_text);
    ev.user_id = s.user_id;
    MetadataBuilder m;
    describe_delivery(m, d);
    m.integer("attempt_id", attempt_id)
        .text("session_id", s.id)
        .text("before_sha", d.push.before)
        .integer("commit_count", d.push.commit_count)
        .integer("changed_path_count", d.push.changed_path_count)
        .boolean("created", d.push.created)
        .boolean("deleted", d.push.deleted)
        .boolean("forced", d.push.forced);
    if (d.push.commits_truncated || d.push.files_truncated)
        m.boolean("commits_truncated", d.push.commits_truncated).boolean("files_truncated", d.push.files_truncated);
    // Several active sessions on one fork is how a hijacked fork URL shows (issue 14): one of them
    // is someone else's.  MEDIUM, so the operator's severity alert sees it; forgea_audit.shared_forks
    // lists the forks and sessions.
    if (s.active_count > 1) {
        m.integer("active_sessions", s.active_count)
            .text("session_choice", "most recently started of several active sessions for this fork");
        ev.severity = cstr_bytes("MEDIUM");
    }
    if (old_status == nullptr)
        m.text("session_note", "session left IN_PROGRESS/STUCK before it could be updated");
    ev.metadata = m.finish();
    o.audit_seq = fa_audit_append(ev);

    if (old_status != nullptr && strcmp(old_status, "STUCK") == 0) {
        AuditEvent t = webhook_event(d, chain, "LAB_STATUS_TRANSITION");
        t.target_type = cstr_bytes("lab_session");
        t.target_id = s.id;
        t.user_id = s.user_id;
        t.parent_seq.is_null = false;
        t.parent_seq.value = o.audit_seq;
        MetadataBuilder tm;
        tm.text("session_id", s.id)
            .text("from", "STUCK")
            .text("to", "IN_PROGRESS")
            .text("delivery_id", d.guid)
            .integer("attempt_id", attempt_id)
            .text("commit_sha", d.push.after);
        t.metadata = tm.finish();
        fa_audit_append(t);
    }
    return o;
}

// The whole decision for one delivery: duplicate/conflict, unmatched, or recorded.
Outcome record(const Delivery &d)
{
    ExistingAttempt existing = find_attempt(d);
    if (existing.found)
        return duplicate_or_conflict(d, existing);

    ActiveSession s = fa_find_active_session(d.push.repo_key);
    if (!s.found)
        return unmatched(d);

    // ON CONFLICT DO NOTHING: a racing call with the same GUID makes this wait for its commit and
    // then insert nothing; the attempt it committed is then read with a fresh snapshot.
    bool inserted;
    Datum id = insert_attempt(d, s, &inserted);
    if (inserted)
        return recorded(d, s, DatumGetInt64(id));
    existing = find_attempt(d);
    if (!existing.found)
        ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
                        errmsg("delivery %s was recorded by a concurrent transaction that is not visible yet", d.guid),
                        errhint("Call record_push in READ COMMITTED (the default), where racing deliveries resolve to "
                                "\"duplicate\".")));
    return duplicate_or_conflict(d, existing);
}

[[noreturn]] void null_argument(const char *function, const char *name, const char *hint)
{
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                    errmsg("%s: %s must not be NULL", function, name), errhint("%s", hint)));
    pg_unreachable();
}

enum class PayloadType { Jsonb, JsonText };

// What record_push and record_push_json share after reading the payload (everything): checks the
// arguments, parses, connects to SPI, decides, returns the one result row.
Datum record_push_call(FunctionCallInfo fcinfo, PayloadType type, const char *function)
{
    Jsonb *payload_jsonb = nullptr;
    text *payload_json = nullptr;
    bool has_payload = type == PayloadType::Jsonb ? fa_arg_opt<SqlJsonb>(fcinfo, 0, &payload_jsonb)
                                                  : fa_arg_opt<SqlJson>(fcinfo, 0, &payload_json);
    if (!has_payload)
        null_argument(function, "payload", "Pass the JSON body of the GitHub push delivery.");
    text *delivery;
    if (!fa_arg_opt<SqlText>(fcinfo, 1, &delivery))
        null_argument(function, "delivery_id",
                      "Pass the X-GitHub-Delivery header: it is what makes retries idempotent.");

    Delivery *d = static_cast<Delivery *>(palloc0(sizeof(Delivery)));
    new (&d->push) PushEvent();
    new (&d->headers) DeliveryHeaders();

    int delivery_len = VARSIZE_ANY_EXHDR(delivery);
    if (!forgea::core::parse_guid(VARDATA_ANY(delivery), delivery_len, d->guid))
        ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                        errmsg("invalid delivery id: \"%.*s\" is not a GUID", Min(delivery_len, 80),
                               VARDATA_ANY(delivery)),
                        errdetail("delivery_id must be 8-4-4-4-12 hex digits, as in the X-GitHub-Delivery header."),
                        errhint("Pass the X-GitHub-Delivery header of the delivery, unchanged.")));
    d->guid_uuid = DirectFunctionCall1(uuid_in, CStringGetDatum(d->guid));

    Jsonb *headers;
    if (fa_arg_opt<SqlJsonb>(fcinfo, 2, &headers))
        parse_delivery_headers(headers, &d->headers);

    if (type == PayloadType::Jsonb) {
        const Jsonb *payload = payload_jsonb;
        parse_push_event(payload, &d->push,
                         "record_push takes the JSON body of a GitHub \"push\" webhook delivery, as jsonb.");
        Sha256Sink sink;
        write_canonical_jsonb(payload, sink);
        sink.finish(d->payload_sha);
    } else {
        // json's input function kept the text as sent; the hash is the one jsonb would give.
        text *payload = payload_json;
        parse_push_event_text(VARDATA_ANY(payload), static_cast<int>(VARSIZE_ANY_EXHDR(payload)), &d->push,
                              d->payload_sha,
                              "record_push_json takes the JSON body of a GitHub \"push\" webhook delivery, "
                              "as json.");
    }
    forgea::core::write_hex(d->payload_sha, kHashLen, d->payload_sha_hex);

    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);

    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    prepare_plans();
    Outcome o = record(*d);

    Datum values[4];
    bool nulls[4] = {false, !o.has_attempt, o.session_id.is_null(), false};
    values[0] = CStringGetTextDatum(o.status);
    values[1] = Int64GetDatum(o.attempt_id);
    values[2] = o.session_id.is_null()
                    ? (Datum) 0
                    : PointerGetDatum(cstring_to_text_with_len(o.session_id.data, static_cast<int>(o.session_id.len)));
    values[3] = Int64GetDatum(o.audit_seq);
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    SPI_finish();
    return (Datum) 0;
}

}  // namespace

// forgea_audit.record_push(payload jsonb, ...).
FA_FUNCTION(fa_record_push, "forgea_audit.record_push")
{
    return record_push_call(fcinfo, PayloadType::Jsonb, "forgea_audit.record_push");
}

// forgea_audit.record_push_json(payload json, ...): the same, from the text, for large payloads.
FA_FUNCTION(fa_record_push_json, "forgea_audit.record_push_json")
{
    return record_push_call(fcinfo, PayloadType::JsonText, "forgea_audit.record_push_json");
}

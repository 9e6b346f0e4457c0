#include "pg/core_headers.hpp"  // first: see there

#include "chain/chain_append.hpp"

extern "C" {
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "commands/async.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
}

#include "core/hex.hpp"
#include "core/redaction.hpp"
#include "json/canonical_jsonb.hpp"
#include "pg/sha256.hpp"
#include "chain/audit_metadata.hpp"
#include "pg/boundary.hpp"
#include "pg/datum_read.hpp"
#include "pg/local_setting.hpp"
#include "pg/settings.hpp"
#include "pg/spi_plan.hpp"
#include "chain/chain_write_guard.hpp"

using forgea::core::Bytes;
using forgea::core::kHashLen;

namespace {

const char *const kOutcomes[] = {"success", "failure", "partial", "pending"};
const char *const kSeverities[] = {"INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"};

bool one_of(Bytes v, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(set[i]) == v.len && memcmp(set[i], v.data, v.len) == 0)
            return true;
    return false;
}

// The append's statements, planned once per backend (pg/spi_plan.hpp).
enum AppendPlan { kLockHead, kCreateHead, kNextSeq, kInsertRow, kAppendPlans };
SPIPlanPtr append_plans[kAppendPlans];

// The append's four statements, prepared once per backend and kept together (fa_keep_plans):
// the first append of a session pays the parse and plan, every later one only executes.
void prepare_plans()
{
    if (append_plans[kInsertRow] != nullptr)
        return;
    static const Oid text1[1] = {TEXTOID};
    // The row's 19 parameters, in the order of the INSERT below.
    static const Oid row_types[19] = {INT8OID, TEXTOID, INT8OID, BYTEAOID, BYTEAOID, TIMESTAMPTZOID, TEXTOID,
                                      TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
                                      JSONBOID, JSONBOID, TEXTOID, INT8OID};
    const FaPlanSpec specs[kAppendPlans] = {
        {"SELECT length, last_hash FROM forgea_audit.chain_head WHERE chain_id = $1 FOR UPDATE", 1, text1},
        {"INSERT INTO forgea_audit.chain_head (chain_id) VALUES ($1) ON CONFLICT (chain_id) DO NOTHING", 1, text1},
        {"SELECT nextval('forgea_audit.audit_log_seq')", 0, nullptr},
        // One statement writes the row and moves the head: the head always names the last row.
        {"WITH head AS ("
        "  UPDATE forgea_audit.chain_head SET length = $3, last_seq = $1, last_hash = $5, updated_at = $6"
        "  WHERE chain_id = $2 RETURNING 1) "
        "INSERT INTO forgea_audit.audit_log (seq, chain_id, chain_pos, prev_hash, row_hash, hash_version,"
        "  created_at, tenant_id, user_id, actor_type, actor_id, action, target_type, target_id,"
        "  outcome, severity, metadata, proof, correlation_id, parent_seq) "
        "SELECT $1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19 "
        "FROM head",
         19, row_types},
    };
    fa_keep_plans(specs, kAppendPlans, append_plans, "the audit chain append");
}

// A text Datum for an optional field, setting its SPI null flag: Bytes with no data is SQL NULL,
// which the encoding distinguishes from an empty string.
Datum text_or_null(Bytes b, char *null_flag)
{
    if (b.is_null()) {
        *null_flag = 'n';
        return (Datum) 0;
    }
    *null_flag = ' ';
    return PointerGetDatum(cstring_to_text_with_len(b.data, static_cast<int>(b.len)));
}

// Whether a string value (an object's value or an array's element) is a credential whatever its
// key (core/redaction.hpp: "Bearer x", GitHub tokens, PEM private keys).
bool is_secret_string(JsonbIteratorToken tok, const JsonbValue &v)
{
    return (tok == WJB_VALUE || tok == WJB_ELEM) && v.type == jbvString &&
           forgea::core::is_secret_value(v.val.string.val, static_cast<size_t>(v.val.string.len));
}

// Whether any object key anywhere in jb names a secret, or any string in it is one
// (core/redaction.hpp): a cheap scan first, so that the common case copies nothing.
bool has_secret(const Jsonb *jb)
{
    JsonbIterator *it = JsonbIteratorInit(const_cast<JsonbContainer *>(&jb->root));
    JsonbValue v;
    JsonbIteratorToken tok;
    while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE) {
        CHECK_FOR_INTERRUPTS();
        if ((tok == WJB_KEY && forgea::core::is_secret_key(v.val.string.val, v.val.string.len)) ||
            is_secret_string(tok, v))
            return true;
    }
    return false;
}

// "[REDACTED]", as a jsonb string.
JsonbValue redacted_marker()
{
    JsonbValue marker;
    marker.type = jbvString;
    marker.val.string.val = const_cast<char *>(forgea::core::kRedacted);
    marker.val.string.len = static_cast<int>(strlen(forgea::core::kRedacted));
    return marker;
}

// A copy of jb with the value of every secret-named key, at any depth, and every string that is a
// credential itself, replaced by "[REDACTED]".
const Jsonb *scrub_secrets(const Jsonb *jb)
{
    if (jb == nullptr || !has_secret(jb))
        return jb;
    JsonbParseState *state = nullptr;
    JsonbValue *result = nullptr;
    JsonbIterator *it = JsonbIteratorInit(const_cast<JsonbContainer *>(&jb->root));
    JsonbValue v;
    JsonbIteratorToken tok;
    int skip_depth = 0;     // > 0 while skipping a redacted container
    bool redact_next = false;
    while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE) {
        CHECK_FOR_INTERRUPTS();
        if (skip_depth > 0) {
            if (tok == WJB_BEGIN_ARRAY || tok == WJB_BEGIN_OBJECT)
                skip_depth++;
            else if (tok == WJB_END_ARRAY || tok == WJB_END_OBJECT)
                skip_depth--;
            continue;
        }
        if (redact_next) {
            redact_next = false;
            JsonbValue marker = redacted_marker();
            result = pushJsonbValue(&state, WJB_VALUE, &marker);
            if (tok == WJB_BEGIN_ARRAY || tok == WJB_BEGIN_OBJECT)
                skip_depth = 1;
            continue;
        }
        if (is_secret_string(tok, v)) {
            JsonbValue marker = redacted_marker();
            result = pushJsonbValue(&state, tok, &marker);
            continue;
        }
        if (tok == WJB_KEY && forgea::core::is_secret_key(v.val.string.val, v.val.string.len))
            redact_next = true;
        bool container = tok == WJB_BEGIN_ARRAY || tok == WJB_BEGIN_OBJECT || tok == WJB_END_ARRAY || tok == WJB_END_OBJECT;
        result = pushJsonbValue(&state, tok, container && (tok == WJB_END_ARRAY || tok == WJB_END_OBJECT) ? nullptr : &v);
    }
    return JsonbValueToJsonb(result);
}

// Metadata over forgea_audit.max_metadata_bytes becomes a marker that keeps its size and digest.
const Jsonb *oversize_marker(StringInfo canonical)
{
    uint8 digest[kHashLen];
    sha256_bytes(canonical->data, canonical->len, digest);
    char hex[2 * kHashLen + 1];
    forgea::core::write_hex(digest, kHashLen, hex);
    MetadataBuilder m;
    m.boolean("_oversize", true)
        .integer("original_bytes", canonical->len)
        .text("original_sha256", hex)
        .integer("max_metadata_bytes", fa_max_metadata_bytes);
    return m.finish();
}

// HIGH and CRITICAL events go to listeners too, at commit.  Any role can LISTEN, so the payload
// names the event and nothing about whom it concerns: the listener reads the row by seq with its
// own privileges.  The action is clipped on a character boundary so the payload stays valid UTF-8
// and far below NOTIFY's 8000-byte limit: an alert must never cost the event itself.
void publish_alert(const AuditEvent &ev, int64 seq)
{
    bool alert = (ev.severity.len == 4 && memcmp(ev.severity.data, "HIGH", 4) == 0) ||
                 (ev.severity.len == 8 && memcmp(ev.severity.data, "CRITICAL", 8) == 0);
    if (!alert)
        return;
    int action_len = pg_mbcliplen(ev.action.data, static_cast<int>(ev.action.len), 200);
    MetadataBuilder m;
    m.integer("seq", seq)
        .text("action", Bytes{ev.action.data, static_cast<size_t>(action_len)})
        .text("severity", ev.severity)
        .text("outcome", ev.outcome);
    Jsonb *payload = m.finish();
    Async_Notify(FA_ALERT_CHANNEL, JsonbToCString(nullptr, &payload->root, VARSIZE(payload)));
}

}  // namespace

// The library reads result columns by position and type; a database whose forgea_audit objects
// come from another build of the install script must get an error here, not a crashed backend.
void fa_require_columns(TupleDesc desc, const Oid *types, int n, const char *what)
{
    bool ok = desc->natts == n;
    for (int i = 0; ok && i < n; i++)
        ok = TupleDescAttr(desc, i)->atttypid == types[i];
    if (!ok)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("forgea_audit's %s does not have the columns this library expects", what),
                        errhint("The installed library and the extension's SQL objects differ: run ALTER EXTENSION "
                                "forgea_audit UPDATE, or reinstall the matching version.")));
}

// outcome must be one of the documented values: raised here with a hint, before anything is
// hashed or written.
void fa_check_outcome(Bytes outcome)
{
    if (outcome.is_null() || !one_of(outcome, kOutcomes, lengthof(kOutcomes)))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("invalid audit outcome \"%.*s\"", static_cast<int>(outcome.len),
                               outcome.is_null() ? "" : outcome.data),
                        errhint("Use one of success, failure, partial, pending.")));
}

// severity, likewise: one of the five levels the alerting and the RLS policies know.
void fa_check_severity(Bytes severity)
{
    if (severity.is_null() || !one_of(severity, kSeverities, lengthof(kSeverities)))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("invalid audit severity \"%.*s\"", static_cast<int>(severity.len),
                               severity.is_null() ? "" : severity.data),
                        errhint("Use one of INFO, LOW, MEDIUM, HIGH, CRITICAL.")));
}

// Appends one event (see the header).  The order matters: lock the chain's head (so positions and
// seq grow along the chain), draw seq, build what is hashed (redacted, size-capped), hash it in
// C++, then one statement writes the row and moves the head.  fa_chain_write_depth lets the
// write-guard triggers tell this writer from everyone else.
int64 fa_audit_append(const AuditEvent &ev)
{
    prepare_plans();

    Datum chain_arg[1] = {PointerGetDatum(cstring_to_text_with_len(ev.chain_id.data, static_cast<int>(ev.chain_id.len)))};

    // Lock this chain's head (creating it on first use).  In READ COMMITTED each execution takes
    // a fresh snapshot, so the second SELECT sees a head a racing transaction just committed.
    // enable_seqscan = off for these statements only (pg/local_setting.hpp): they are planned
    // once per backend and the plan cached, and one planned while chain_head was empty would
    // scan it sequentially while it grows.  Only the extension's own code runs in them.
    fa_as_chain_writer([&] {
        fa_with_local_setting("enable_seqscan", "off", [&] {
            for (;;) {
                fa_exec_plan(append_plans[kLockHead], chain_arg, nullptr, 1);
                if (SPI_processed == 1)
                    break;
                fa_exec_plan(append_plans[kCreateHead], chain_arg, nullptr, 0);
            }
        });
    });

    FaRow head = fa_spi_row(0, "forgea_audit.chain_head");
    int64 prev_length = fa_get<SqlInt8>(head, 1);
    bytea *prev_hash = fa_get<SqlBytea>(head, 2);
    if (VARSIZE_ANY_EXHDR(prev_hash) != kHashLen)
        elog(ERROR, "chain head of \"%.*s\" holds a hash of %zu bytes", static_cast<int>(ev.chain_id.len),
             ev.chain_id.data, VARSIZE_ANY_EXHDR(prev_hash));
    uint8 prev[kHashLen];
    memcpy(prev, VARDATA_ANY(prev_hash), kHashLen);

    // seq is drawn while the head is locked, so seq grows along every chain; and after this
    // transaction holds an xid (the row lock took one; asked for again so that nothing rests on
    // that): the Merkle integrator's horizon relies on it (merkle_integrate.cpp, read_mark).
    (void) GetCurrentTransactionId();
    fa_exec_plan(append_plans[kNextSeq], nullptr, nullptr, 1);
    int64 seq = fa_get<SqlInt8>(fa_spi_row(0, "nextval of forgea_audit.audit_log_seq"), 1);
    TimestampTz created_at = GetCurrentTimestamp();

    // What is hashed and stored: secrets redacted, oversize metadata replaced by a marker.
    const Jsonb *metadata_jb = scrub_secrets(ev.metadata);
    const Jsonb *proof_jb = scrub_secrets(ev.proof);
    StringInfo metadata = canonical_jsonb_text(metadata_jb);
    if (metadata->len > fa_max_metadata_bytes) {
        metadata_jb = oversize_marker(metadata);
        metadata = canonical_jsonb_text(metadata_jb);
    }
    StringInfo proof = proof_jb ? canonical_jsonb_text(proof_jb) : nullptr;

    forgea::core::AuditRecord rec;
    rec.seq = seq;
    rec.chain_id = ev.chain_id;
    rec.chain_pos = prev_length + 1;
    rec.prev_hash = prev;
    rec.created_at_unix_us = created_at + forgea::core::kUnixToPgEpochMicros;
    rec.tenant_id = ev.tenant_id;
    rec.user_id = ev.user_id;
    rec.actor_type = ev.actor_type;
    rec.actor_id = ev.actor_id;
    rec.action = ev.action;
    rec.target_type = ev.target_type;
    rec.target_id = ev.target_id;
    rec.outcome = ev.outcome;
    rec.severity = ev.severity;
    rec.metadata_json = Bytes{metadata->data, static_cast<size_t>(metadata->len)};
    rec.proof_json = proof ? Bytes{proof->data, static_cast<size_t>(proof->len)} : Bytes{};
    rec.correlation_id = ev.correlation_id;
    rec.parent_seq = ev.parent_seq;

    uint8 row_hash[kHashLen];
    {
        Sha256Sink sink;
        forgea::core::encode_record_v1(rec, sink);
        sink.finish(row_hash);
    }

    Datum values[19];
    char nulls[20];
    memset(nulls, ' ', sizeof nulls);
    nulls[19] = '\0';
    values[0] = Int64GetDatum(seq);
    values[1] = chain_arg[0];
    values[2] = Int64GetDatum(rec.chain_pos);
    values[3] = PointerGetDatum(bytea_from_bytes(prev, kHashLen));
    values[4] = PointerGetDatum(bytea_from_bytes(row_hash, kHashLen));
    values[5] = TimestampTzGetDatum(created_at);
    values[6] = text_or_null(ev.tenant_id, &nulls[6]);
    values[7] = text_or_null(ev.user_id, &nulls[7]);
    values[8] = text_or_null(ev.actor_type, &nulls[8]);
    values[9] = text_or_null(ev.actor_id, &nulls[9]);
    values[10] = text_or_null(ev.action, &nulls[10]);
    values[11] = text_or_null(ev.target_type, &nulls[11]);
    values[12] = text_or_null(ev.target_id, &nulls[12]);
    values[13] = text_or_null(ev.outcome, &nulls[13]);
    values[14] = text_or_null(ev.severity, &nulls[14]);
    values[15] = JsonbPGetDatum(metadata_jb);
    values[16] = proof_jb ? JsonbPGetDatum(proof_jb) : (Datum) 0;
    nulls[16] = proof_jb ? ' ' : 'n';
    values[17] = text_or_null(ev.correlation_id, &nulls[17]);
    values[18] = Int64GetDatum(ev.parent_seq.value);
    nulls[18] = ev.parent_seq.is_null ? 'n' : ' ';

    fa_as_chain_writer([&] {
        fa_with_local_setting("enable_seqscan", "off", [&] { fa_exec_plan(append_plans[kInsertRow], values, nulls, 0); });
    });
    if (SPI_processed != 1)
        elog(ERROR, "chain head of \"%.*s\" vanished while appending", static_cast<int>(ev.chain_id.len),
             ev.chain_id.data);
    publish_alert(ev, seq);
    return seq;
}

// ---- forgea_audit.append(...) --------------------------------------------------------------------

// Argument n as Bytes pointing into the detoasted text (NULL stays NULL).
static Bytes text_arg(FunctionCallInfo fcinfo, int n)
{
    text *t;
    if (!fa_arg_opt<SqlText>(fcinfo, n, &t))
        return Bytes{};
    return Bytes{VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)};
}

// append()'s required text arguments: NULL or empty is bad input (22023), with the caller's hint.
static void require_nonempty(Bytes b, const char *argname, const char *hint)
{
    if (b.is_null() || b.len == 0)
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("forgea_audit.append: %s must not be NULL or empty", argname), errhint("%s", hint)));
}

// parent_seq must name a row that exists: a dangling reference would be signed into the chain forever.
static void require_parent(int64 parent_seq)
{
    Datum arg[1] = {Int64GetDatum(parent_seq)};
    Oid type[1] = {INT8OID};
    int rc = SPI_execute_with_args("SELECT 1 FROM forgea_audit.audit_log WHERE seq = $1", 1, type, arg, nullptr,
                                   false, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "parent lookup failed: %s", SPI_result_code_string(rc));
    if (SPI_processed == 0)
        ereport(ERROR, (errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
                        errmsg("forgea_audit.append: parent_seq " INT64_FORMAT " is not an audit event", parent_seq),
                        errhint("parent_seq names the seq of an earlier event, as returned by append().")));
}

// Is c, at p (n bytes left), a space to trim: ASCII whitespace and controls, or one of the Unicode
// spaces a reader cannot see (NBSP, U+1680, U+2000-U+200B, U+2028/9, U+202F, U+205F, U+3000,
// U+FEFF)?  Returns its length in bytes, 0 if it is not one.
static size_t space_at(const unsigned char *p, size_t n)
{
    if (n == 0)
        return 0;
    if (p[0] <= 0x20 || p[0] == 0x7f)
        return 1;
    if (n >= 2 && p[0] == 0xc2 && (p[1] == 0xa0 || p[1] == 0x85))
        return 2;
    if (n >= 3) {
        unsigned cp = ((p[0] & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
        if ((p[0] & 0xf0) == 0xe0 &&
            (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200b) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
             cp == 0x205f || cp == 0x3000 || cp == 0xfeff))
            return 3;
    }
    return 0;
}

// The name a reader would take it for: trimmed of leading and trailing spaces (space_at), ASCII
// letters folded to lower case.  Reserved names are compared in this form, so that
// 'lab_verify_attempt', 'RETENTION_ARCHIVE ' or 'Session:s1' cannot pass for the extension's own.
static Bytes reader_form(Bytes v)
{
    if (v.is_null())
        return v;
    const unsigned char *p = reinterpret_cast<const unsigned char *>(v.data);
    size_t begin = 0, end = v.len;
    for (size_t k; begin < end && (k = space_at(p + begin, end - begin)) > 0;)
        begin += k;
    // Trailing: step back over whole characters that are spaces.
    for (bool trimmed = true; trimmed && end > begin;) {
        trimmed = false;
        for (size_t k = 1; k <= 3 && k <= end - begin; k++)
            if (space_at(p + end - k, k) == k) {
                end -= k;
                trimmed = true;
                break;
            }
    }
    char *out = static_cast<char *>(palloc(end - begin + 1));
    for (size_t i = begin; i < end; i++)
        out[i - begin] = (p[i] >= 'A' && p[i] <= 'Z') ? static_cast<char>(p[i] + ('a' - 'A')) : static_cast<char>(p[i]);
    out[end - begin] = '\0';
    return Bytes{out, end - begin};
}

// Case-insensitive membership, for the reserved action and chain names that callers must not forge.
static bool one_of_folded(Bytes v, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(set[i]) == v.len && pg_strncasecmp(set[i], v.data, v.len) == 0)
            return true;
    return false;
}

// What the extension itself writes: a writer may not append events that would pass for it (a
// RETENTION_ARCHIVE that verify_archive() would then trust, an AUDIT_DDL naming a superuser), nor
// into the chains it keeps.  Its own SQL (archive_batch, the DDL guard) uses append_system().
// Compared in reader_form(): case and surrounding spaces do not make another name.
static void refuse_reserved(Bytes action, Bytes chain)
{
    static const char *const kActions[] = {"LAB_VERIFY_ATTEMPT", "LAB_VERIFY_ATTEMPT_DUPLICATE",
                                           "LAB_VERIFY_ATTEMPT_CONFLICT", "LAB_VERIFY_ATTEMPT_UNMATCHED",
                                           "LAB_STATUS_TRANSITION", "RETENTION_ARCHIVE", "AUDIT_DDL", "CHECKPOINT",
                                           "CHAIN_VERIFY_FAILED", "WEBHOOK_DELIVERY_REJECTED",
                                           "WEBHOOK_REJECTIONS_ROLLED_UP"};
    static const char *const kChains[] = {"retention", "ddl", "checkpoint", "verification"};
    static const char *const kChainPrefixes[] = {"session:", "repository:", "webhook_rejected:"};
    Bytes action_form = reader_form(action);
    Bytes chain_form = reader_form(chain);
    bool reserved_action = one_of_folded(action_form, kActions, lengthof(kActions));
    bool reserved_chain = one_of_folded(chain_form, kChains, lengthof(kChains));
    for (const char *prefix : kChainPrefixes)
        reserved_chain |= chain_form.len >= strlen(prefix) && memcmp(chain_form.data, prefix, strlen(prefix)) == 0;
    if (reserved_action || reserved_chain)
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("forgea_audit.append: %s \"%.*s\" is reserved for forgea_audit itself",
                               reserved_action ? "action" : "chain",
                               static_cast<int>(Min(reserved_action ? action.len : chain.len, 200)),
                               reserved_action ? action.data : chain.data),
                        errdetail("record_push, retention, checkpoints and the DDL guard write these; an event "
                                  "appended by anyone else must not pass for theirs."),
                        errhint("Use an action and chain of your own (the default chain follows target_type, so pick "
                                "a target_type other than \"session\" or \"repository\").")));
}

// metadata and proof must be JSON objects (the encoding and the redaction both assume it).
static bool jsonb_is_object(const Jsonb *jb)
{
    return JB_ROOT_IS_OBJECT(jb) && !JB_ROOT_IS_SCALAR(jb);
}

// append(action, actor_type, actor_id, target_type, target_id, outcome, metadata, proof,
//        correlation_id, parent_seq, tenant_id, user_id, severity, chain); system: may write what
// refuse_reserved() keeps from everyone else.
static Datum append_from_args(FunctionCallInfo fcinfo, bool system)
{
    {
        AuditEvent ev;
        ev.action = text_arg(fcinfo, 0);
        ev.actor_type = text_arg(fcinfo, 1);
        ev.actor_id = text_arg(fcinfo, 2);
        ev.target_type = text_arg(fcinfo, 3);
        ev.target_id = text_arg(fcinfo, 4);
        ev.outcome = text_arg(fcinfo, 5);
        ev.correlation_id = text_arg(fcinfo, 8);
        ev.tenant_id = text_arg(fcinfo, 10);
        ev.user_id = text_arg(fcinfo, 11);
        ev.severity = text_arg(fcinfo, 12);
        Bytes chain = text_arg(fcinfo, 13);

        require_nonempty(ev.action, "action", "Name what happened, e.g. append(action => 'LAB_STARTED', ...).");
        require_nonempty(ev.actor_type, "actor_type", "Name who did it: 'user', 'system', 'webhook', ... (default 'system').");
        fa_check_outcome(ev.outcome);
        fa_check_severity(ev.severity);

        Jsonb *metadata = nullptr;
        ev.metadata = fa_arg_opt<SqlJsonb>(fcinfo, 6, &metadata) ? metadata : nullptr;
        if (ev.metadata == nullptr || !jsonb_is_object(ev.metadata))
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("forgea_audit.append: metadata must be a JSON object"),
                            errhint("Pass '{}' when there is nothing to add.")));
        Jsonb *proof = nullptr;
        ev.proof = fa_arg_opt<SqlJsonb>(fcinfo, 7, &proof) ? proof : nullptr;
        if (ev.proof != nullptr && !jsonb_is_object(ev.proof))
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("forgea_audit.append: proof must be a JSON object or NULL, not %s",
                                   JB_ROOT_IS_SCALAR(ev.proof) ? "a scalar" : "an array"),
                            errdetail("The proof is stored and hashed as an object, as metadata is."),
                            errhint("Wrap it in an object, e.g. proof => jsonb_build_object('items', ...), or pass NULL.")));
        int64 parent_seq;
        if (fa_arg_opt<SqlInt8>(fcinfo, 9, &parent_seq)) {
            ev.parent_seq.is_null = false;
            ev.parent_seq.value = parent_seq;
        }

        // The default chain follows the event's target, else its actor: events about one thing
        // are chained together, and unrelated writers never wait on each other.
        if (chain.is_null()) {
            const Bytes &kind = !ev.target_type.is_null() ? ev.target_type : ev.actor_type;
            const Bytes &id = !ev.target_type.is_null() ? ev.target_id : ev.actor_id;
            StringInfoData buf;
            initStringInfo(&buf);
            appendBinaryStringInfo(&buf, kind.data, static_cast<int>(kind.len));
            if (!id.is_null()) {
                appendStringInfoChar(&buf, ':');
                appendBinaryStringInfo(&buf, id.data, static_cast<int>(id.len));
            }
            chain = Bytes{buf.data, static_cast<size_t>(buf.len)};
        } else if (chain.len == 0) {
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("forgea_audit.append: chain must not be empty"),
                            errhint("Leave chain NULL to chain by target (or actor).")));
        }
        ev.chain_id = chain;
        if (!system)
            refuse_reserved(ev.action, ev.chain_id);

        if (SPI_connect() != SPI_OK_CONNECT)
            elog(ERROR, "SPI_connect failed");
        if (!ev.parent_seq.is_null)
            require_parent(ev.parent_seq.value);
        int64 seq = fa_audit_append(ev);
        SPI_finish();
        PG_RETURN_INT64(seq);
    }
}

// forgea_audit.append(...): an application event, on a chain the caller names (reserved names refused).
FA_FUNCTION(fa_append, "forgea_audit.append")
{
    return append_from_args(fcinfo, false);
}

// forgea_audit.append_system(...): events with a system actor (the extension's own and trusted jobs').
FA_FUNCTION(fa_append_system, "forgea_audit.append_system")
{
    return append_from_args(fcinfo, true);
}


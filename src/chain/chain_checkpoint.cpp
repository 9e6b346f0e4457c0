#include "pg/core_headers.hpp"  // first: see there

#include "chain/chain_checkpoint.hpp"

extern "C" {
#include "access/xlog.h"
#include "catalog/pg_type_d.h"
#include "commands/async.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"
}

#include "chain/chain_append.hpp"
#include "chain/chain_heads.hpp"
#include "chain/chain_write_guard.hpp"
#include "merkle/merkle_store.hpp"
#include "core/base64.hpp"
#include "core/ed25519.hpp"
#include "core/hex.hpp"
#include "json/canonical_jsonb.hpp"
#include "pg/sha256.hpp"
#include "chain/audit_metadata.hpp"
#include "pg/boundary.hpp"
#include "pg/lock_wait.hpp"
#include "pg/datum_read.hpp"
#include "pg/settings.hpp"

using forgea::core::Bytes;
using forgea::core::HeadRecord;
using forgea::core::kHashLen;

namespace {

constexpr const char *kCheckpointChannel = "forgea_audit_checkpoint";

// A string setting that is set: neither NULL nor empty.
bool is_set(const char *setting)
{
    return setting != nullptr && setting[0] != '\0';
}

// Loads the signing key into *key; raises if it is configured but unusable (never a silent unsigned
// note).  The caller wipes *key, also when an error follows (see sign_note).
void load_signing_key(forgea::core::Ed25519Key *key)
{
    char err[1024];
    bool loaded = forgea::core::load_ed25519_pem(fa_signing_key_file, key, err, sizeof err);
    if (loaded && !key->has_private)
        snprintf(err, sizeof err, "\"%s\" holds a public key, not the private key checkpoints are signed with",
                 fa_signing_key_file);
    if (!loaded || !key->has_private)
        ereport(ERROR, (errcode(ERRCODE_CONFIG_FILE_ERROR),
                        errmsg("could not load the checkpoint signing key: %s", err),
                        errhint("forgea_audit.signing_key_file must name a PEM Ed25519 private key readable by the "
                                "server, e.g. made with: openssl genpkey -algorithm ed25519 -out key.pem")));
}

// Loads a public key signatures are checked with (forgea_audit.verify_key_file, or one of
// forgea_audit.retired_verify_key_files: `setting` names which, for the message).  Checking never
// needs the private key, so it never opens the signing key file: a verifier may run where that
// file is unreadable, and the secret is not read into memory just to derive its public half.
void load_public_key(const char *path, const char *setting, uint8 public_key[32])
{
    forgea::core::Ed25519Key key;
    char err[1024];
    bool ok = forgea::core::load_ed25519_pem(path, &key, err, sizeof err);
    bool was_private = key.has_private;
    explicit_bzero(key.private_key, sizeof key.private_key);
    if (!ok || was_private)
        ereport(ERROR, (errcode(ERRCODE_CONFIG_FILE_ERROR),
                        errmsg("could not load the checkpoint verification key: %s",
                               was_private ? "the file holds a private key, not a public one" : err),
                        errhint("%s must name %s, e.g. made with: openssl pkey -in key.pem -pubout -out key.pub.pem",
                                setting, strcmp(setting, "forgea_audit.verify_key_file") == 0
                                             ? "a PEM Ed25519 public key"
                                             : "PEM Ed25519 public keys, separated by commas")));
    memcpy(public_key, key.public_key, 32);
}

void load_verify_key(uint8 public_key[32])
{
    load_public_key(fa_verify_key_file, "forgea_audit.verify_key_file", public_key);
}

// forgea_audit.retired_verify_key_files as a list of paths (palloc'd; empty when unset).  A
// malformed list (an unterminated quote) is a configuration error.
List *retired_key_files()
{
    List *files = NIL;
    if (fa_retired_verify_key_files == nullptr || fa_retired_verify_key_files[0] == '\0')
        return NIL;
    if (!SplitDirectoriesString(pstrdup(fa_retired_verify_key_files), ',', &files))
        ereport(ERROR, (errcode(ERRCODE_CONFIG_FILE_ERROR),
                        errmsg("forgea_audit.retired_verify_key_files is not a list of file names"),
                        errhint("Separate the PEM files with commas; quote a name that holds a comma with double quotes.")));
    return files;
}

// Signs note with the configured key, loaded only now and wiped in PG_FINALLY: whatever raises
// between loading and wiping (a bad key file, a failed signature), the secret does not stay on
// the stack.  Nothing between load and wipe allocates or calls SPI.
void sign_note(StringInfo note, uint8 sig[64], uint8 public_key[32])
{
    forgea::core::Ed25519Key key;
    bool ok = false;
    PG_TRY();
    {
        load_signing_key(&key);
        ok = forgea::core::ed25519_sign(key, note->data, note->len, sig);
        memcpy(public_key, key.public_key, 32);
    }
    PG_FINALLY();
    {
        explicit_bzero(&key, sizeof key);
    }
    PG_END_TRY();
    if (!ok)
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not sign the checkpoint with Ed25519")));
}

// A palloc'd hex string of data (roots and head hashes in notes, events and messages).
char *hex(const uint8 *data, size_t len)
{
    char *out = static_cast<char *>(palloc(2 * len + 1));
    forgea::core::write_hex(data, len, out);
    return out;
}


// The CHECKPOINT event's proof: {"note": <the note>}.  Constant size: the tree's root stands for
// every row, whatever the number of chains (0.1.0 stored every chain head here).
Jsonb *note_json(StringInfo note)
{
    MetadataBuilder m;
    m.text("note", Bytes{note->data, static_cast<size_t>(note->len)});
    return m.finish();
}

// Records the checkpoint where receipt() finds it.
void store_checkpoint(int64 size, const uint8 root[kHashLen], StringInfo note)
{
    Oid types[3] = {INT8OID, BYTEAOID, TEXTOID};
    Datum args[3] = {Int64GetDatum(size), PointerGetDatum(bytea_from_bytes(root, kHashLen)),
                     PointerGetDatum(cstring_to_text_with_len(note->data, note->len))};
    fa_as_chain_writer([&] {
        int rc = SPI_execute_with_args("INSERT INTO forgea_audit.merkle_checkpoint (tree_size, root, note) VALUES ($1, $2, $3)",
                                       3, types, args, nullptr, false, 0);
        if (rc != SPI_OK_INSERT)
            elog(ERROR, "storing the checkpoint failed: %s", SPI_result_code_string(rc));
    });
}

// Appends the blank line and the signature line of the configured key to a note body.
void append_signature(StringInfo note, uint32 *key_id)
{
    uint8 sig[64];
    uint8 public_key[32];
    sign_note(note, sig, public_key);
    Sha256Sink h;
    Bytes key_name{fa_note_key_name(), strlen(fa_note_key_name())};
    *key_id = forgea::core::note_key_id(key_name, public_key, h);
    appendStringInfoChar(note, '\n');
    StringInfoSink out(note);
    forgea::core::write_signature_line(key_name, *key_id, sig, out);
}

// The newest checkpoint's note if nothing but its own CHECKPOINT row was integrated after it (the
// tree has its size, or one more leaf: that row), else NULL.  Readers may call checkpoint():
// calling it in a loop must not grow the log, and each new checkpoint appends a CHECKPOINT row
// that the next call would otherwise have to seal.  Runs after the integration (which holds
// merkle_state's lock), read-write: a fresh snapshot that sees a checkpoint committed by a
// concurrent call before the lock was granted.
char *unchanged_checkpoint(int64 size)
{
    Oid types[1] = {INT8OID};
    Datum args[1] = {Int64GetDatum(size)};
    int rc = SPI_execute_with_args(
        "SELECT c.note FROM (SELECT tree_size, root, note FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1) c "
        "WHERE c.tree_size = $1 OR (c.tree_size = $1 - 1 AND EXISTS ("
        "  SELECT 1 FROM forgea_audit.merkle_leaf m JOIN forgea_audit.audit_log a ON a.seq = m.seq "
        "  WHERE m.leaf_index = c.tree_size AND a.chain_id = 'checkpoint' AND a.action = 'CHECKPOINT' "
        "    AND a.target_id = pg_catalog.encode(c.root, 'hex')))",
        1, types, args, nullptr, false, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "reading the newest checkpoint failed: %s", SPI_result_code_string(rc));
    if (SPI_processed == 0)
        return nullptr;
    return text_to_cstring(fa_get<SqlText>(fa_spi_row(0, "forgea_audit.merkle_checkpoint"), 1));
}

// Whether a stored note is the one this server would make now from its body: unsigned if it does
// not sign, else signed by the configured key under its name.  Ed25519 signatures are
// deterministic, so the body is signed again and the whole note compared: a key rotated, renamed,
// added or removed since makes a new checkpoint, and an unreadable key file is an error here as it
// is for a new note.
bool signed_as_now(const char *stored, bool sign)
{
    const char *blank = strstr(stored, "\n\n");  // a signed note: a blank line before its signatures
    if (!sign || blank == nullptr)
        return !sign && blank == nullptr;
    StringInfo again = makeStringInfo();
    appendBinaryStringInfo(again, stored, static_cast<int>(blank - stored) + 1);
    uint32 key_id;
    append_signature(again, &key_id);
    return strcmp(again->data, stored) == 0;
}

// An admin's (or the worker's) checkpoint: integrates every committed row, then returns the newest
// note if nothing new was added since it, else signs, records and sends out a new one.  Takes
// merkle_state's and the checkpoint chain's locks (the caller bounds the wait).
text *make_checkpoint()
{
    bool sign = is_set(fa_signing_key_file);

    // The note outlives SPI_finish(): build it in the caller's memory.
    MemoryContext caller = CurrentMemoryContext;
    StringInfo note = makeStringInfo();
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    // Every row committed by now becomes a leaf first; the note seals the whole tree.
    int64 size = 0;
    fa_merkle_integrate_all(&size);
    // Nothing new since the newest checkpoint, and it has the origin in force: hand out that one
    // again; nothing is written or sent.
    char *origin = fa_checkpoint_origin();
    size_t origin_len = strlen(origin);
    char *same = unchanged_checkpoint(size);
    if (same != nullptr && strncmp(same, origin, origin_len) == 0 && same[origin_len] == '\n' &&
        signed_as_now(same, sign)) {
        MemoryContext old = MemoryContextSwitchTo(caller);
        text *result = cstring_to_text(same);
        MemoryContextSwitchTo(old);
        SPI_finish();
        return result;
    }
    uint8 root[kHashLen];
    fa_merkle_root_of(size, root);

    StringInfoSink out(note);
    forgea::core::write_tree_checkpoint_body(Bytes{origin, origin_len}, size, root, out);
    uint32 key_id = 0;
    Bytes key_name{fa_note_key_name(), strlen(fa_note_key_name())};
    if (sign)
        append_signature(note, &key_id);
    store_checkpoint(size, root, note);

    char *root_hex = hex(root, kHashLen);
    AuditEvent ev;
    ev.chain_id = cstr_bytes("checkpoint");
    ev.actor_type = cstr_bytes("system");
    ev.actor_id = cstr_bytes("forgea_audit.checkpoint");
    ev.action = cstr_bytes("CHECKPOINT");
    ev.target_type = cstr_bytes("checkpoint");
    ev.target_id = cstr_bytes(root_hex);
    ev.outcome = cstr_bytes("success");
    ev.severity = cstr_bytes("INFO");
    MetadataBuilder m;
    m.text("origin", origin).text("root", root_hex).integer("tree_size", size).boolean("signed", sign);
    if (sign) {
        char id_hex[9];
        snprintf(id_hex, sizeof id_hex, "%08x", key_id);
        m.text("key_name", key_name).text("key_id", id_hex);
    }
    ev.metadata = m.finish();
    ev.proof = note_json(note);
    int64 seq = fa_audit_append(ev);
    SPI_finish();

    // Out of the database: to listeners (after commit) and to the server log.
    Async_Notify(kCheckpointChannel, note->data);
    ereport(LOG, (errmsg("forgea_audit checkpoint at seq " INT64_FORMAT " (%s):\n%s", seq,
                         sign ? "signed" : "unsigned: forgea_audit.signing_key_file is not set", note->data)));
    return cstring_to_text_with_len(note->data, note->len);
}

// Whether this session makes checkpoints (integrates, signs, records), or only reads the newest
// one: the role it acts as (GetOuterUserId(): SET ROLE counts, this function's SECURITY DEFINER
// does not) is a superuser (the background worker connects as one) or has forgea_audit_admin's
// privileges.  Readers get the newest stored note and take no lock (docs/checkpoints.md).
bool session_makes_checkpoints()
{
    Oid who = GetOuterUserId();
    if (superuser_arg(who))
        return true;
    Oid admin = get_role_oid("forgea_audit_admin", true);
    return OidIsValid(admin) && has_privs_of_role(who, admin);
}

// A reader's checkpoint(): the newest stored note, as stored (signed by whoever made it), or NULL
// before the first one; read with a plain SELECT: no row lock, no write, no transaction id,
// nothing an integration or a verification could wait for, however long the reader's transaction
// stays open.  The result is palloc'd in the caller's memory.
text *newest_note()
{
    MemoryContext caller = CurrentMemoryContext;
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    int rc = SPI_execute("SELECT note FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1", true, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "reading the newest checkpoint failed: %s", SPI_result_code_string(rc));
    text *result = nullptr;
    if (SPI_processed == 1) {
        MemoryContext old = MemoryContextSwitchTo(caller);
        if (!fa_get_opt<SqlTextCopy>(fa_spi_row(0, "forgea_audit.merkle_checkpoint"), 1, &result))
            result = nullptr;
        MemoryContextSwitchTo(old);
    }
    SPI_finish();
    return result;
}

}  // namespace

// forgea_audit.checkpoint() RETURNS text: for a reader the newest stored note, NULL before the
// first (no lock taken); for an admin, a superuser or the worker a new checkpoint if anything was
// added since the newest one, waiting at most kPassLockWaitMs for the integrator's locks
// (pg/lock_wait.hpp).
FA_FUNCTION(fa_checkpoint, "forgea_audit.checkpoint")
{
    if (!session_makes_checkpoints()) {
        text *newest = newest_note();
        if (newest == nullptr)
            PG_RETURN_NULL();
        PG_RETURN_TEXT_P(newest);
    }
    text *result = nullptr;
    fa_with_bounded_lock_wait("checkpoint()", [&] { result = make_checkpoint(); });
    PG_RETURN_TEXT_P(result);
}

// What one public key says of a note's signatures: 1 a line of this key (under one of the names,
// with the key id they give it) verifies, -1 such a line does not verify (*bad_name is its name),
// 0 the note has no line of this key.  *first_id: the key id under names[0].
static int key_verdict(const forgea::core::ParsedCheckpoint &cp, const uint8 public_key[32], const char *const *names,
                int name_count, const char **bad_name, uint32 *first_id)
{
    Sha256Sink h;
    for (int n = 0; n < name_count; n++) {
        Bytes name{names[n], strlen(names[n])};
        uint32 name_id = forgea::core::note_key_id(name, public_key, h);
        if (n == 0)
            *first_id = name_id;
        for (int i = 0; i < cp.signature_count; i++) {
            const forgea::core::ParsedSignature &s = cp.signatures[i];
            if (s.timestamped || s.key_id != name_id || s.key_name.len != name.len || memcmp(s.key_name.data, name.data, name.len) != 0)
                continue;
            if (forgea::core::ed25519_verify(public_key, cp.text_signed.data, cp.text_signed.len, s.signature))
                return 1;
            *bad_name = names[n];
            return -1;
        }
    }
    return 0;
}

// See the header.  Decides from the settings alone whether this server signs, so that checking a
// note never opens the private key file; the public key comes from forgea_audit.verify_key_file.
// After a key rotation a note signed by one of forgea_audit.retired_verify_key_files' keys is
// accepted too: a receipt's checkpoint keeps its signature of the day (docs/witnesses.md).
char *fa_checkpoint_signature_problem(const forgea::core::ParsedCheckpoint &cp, bool *is_signed)
{
    *is_signed = cp.signature_count > 0;
    // Whether this server signs is read from the settings only: the signing key file is not opened.
    bool server_signs = is_set(fa_signing_key_file) || is_set(fa_verify_key_file);
    if (cp.signature_count == 0)
        return server_signs ? pstrdup("the checkpoint is not signed, but this server signs its checkpoints") : nullptr;
    if (!is_set(fa_verify_key_file))
        return pstrdup("the checkpoint is signed, but forgea_audit.verify_key_file (the public key to check it "
                       "with) is not set here");
    uint8 public_key[32];
    load_verify_key(public_key);
    // The key's name now (forgea_audit.log_origin when set), or the one it signed under before
    // log_origin was set (forgea_audit.signing_key_name): old checkpoints keep verifying.
    const char *names[2] = {fa_note_key_name(), fa_signing_key_name};
    int name_count = strcmp(names[0], names[1]) == 0 ? 1 : 2;
    const char *bad_name = nullptr;
    uint32 id = 0, retired_id = 0;
    int v = key_verdict(cp, public_key, names, name_count, &bad_name, &id);
    StringInfoData retired_ids;
    initStringInfo(&retired_ids);
    ListCell *lc;
    foreach (lc, retired_key_files()) {
        if (v != 0)
            break;
        load_public_key(static_cast<const char *>(lfirst(lc)), "forgea_audit.retired_verify_key_files", public_key);
        v = key_verdict(cp, public_key, names, name_count, &bad_name, &retired_id);
        appendStringInfo(&retired_ids, "%s%08x", retired_ids.len > 0 ? ", " : "", retired_id);
    }
    if (v == 1)
        return nullptr;
    if (v == -1)
        return psprintf("the checkpoint's signature by key \"%s\" does not verify (the note was altered)", bad_name);
    if (retired_ids.len > 0)
        return psprintf("the checkpoint is not signed by this server's key \"%s\" (key id %08x) nor by a retired key of "
                        "forgea_audit.retired_verify_key_files (key ids %s)", names[0], id, retired_ids.data);
    return psprintf("the checkpoint is not signed by this server's key \"%s\" (key id %08x)", names[0], id);
}

// See the header.  The heads come from the CHECKPOINT event's proof, which is in the log the note
// is meant to check; they are trusted only after their root equals the note's root.
HeadRecord *fa_checkpoint_heads(const forgea::core::ParsedCheckpoint &cp, int64 *count, char **why)
{
    char *root_hex = hex(cp.body.root, kHashLen);
    Oid types[1] = {TEXTOID};
    Datum args[1] = {CStringGetTextDatum(root_hex)};
    int rc = SPI_execute_with_args(
        "SELECT proof->'heads' FROM forgea_audit.audit_log WHERE action = 'CHECKPOINT' AND target_id = $1 "
        "ORDER BY seq LIMIT 1",
        1, types, args, nullptr, true, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "reading the checkpoint's heads failed: %s", SPI_result_code_string(rc));
    Jsonb *list = nullptr;
    if (SPI_processed != 1 || !fa_get_opt<SqlJsonb>(fa_spi_row(0, "the CHECKPOINT event's heads"), 1, &list)) {
        *why = psprintf("the log holds no CHECKPOINT event with root %s (it was removed, or the checkpoint is not from "
                        "this database)", root_hex);
        return nullptr;
    }
    int64 n = JB_ROOT_IS_ARRAY(list) && !JB_ROOT_IS_SCALAR(list) ? JB_ROOT_COUNT(list) : -1;
    HeadRecord *heads = static_cast<HeadRecord *>(palloc0(Max(n, 1) * sizeof(HeadRecord)));
    bool well_formed = n >= 0;
    for (int64 i = 0; well_formed && i < n; i++) {
        JsonbValue *e = getIthJsonbValueFromContainer(&list->root, static_cast<uint32>(i));
        if (e == nullptr || e->type != jbvBinary || !JsonContainerIsArray(e->val.binary.data) ||
            JsonContainerSize(e->val.binary.data) != 4) {
            well_formed = false;
            break;
        }
        JsonbValue *id = getIthJsonbValueFromContainer(e->val.binary.data, 0);
        JsonbValue *len = getIthJsonbValueFromContainer(e->val.binary.data, 1);
        JsonbValue *seq = getIthJsonbValueFromContainer(e->val.binary.data, 2);
        JsonbValue *h = getIthJsonbValueFromContainer(e->val.binary.data, 3);
        if (id->type != jbvString || len->type != jbvNumeric || seq->type != jbvNumeric || h->type != jbvString ||
            h->val.string.len != 2 * kHashLen) {
            well_formed = false;
            break;
        }
        heads[i].chain_id = Bytes{id->val.string.val, static_cast<size_t>(id->val.string.len)};
        heads[i].length = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(len->val.numeric)));
        heads[i].last_seq = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(seq->val.numeric)));
        hex_decode(h->val.string.val, 2 * kHashLen, reinterpret_cast<char *>(heads[i].last_hash));
    }
    const char *mismatch = nullptr;
    if (well_formed) {
        Sha256Sink s;
        mismatch = forgea::core::check_sealed_heads(cp.body, heads, static_cast<size_t>(n), s);
    }
    if (!well_formed || mismatch != nullptr) {
        *why = psprintf("CHECKPOINT event %s does not match the checkpoint: %s (the event or the note was altered)",
                        root_hex, well_formed ? mismatch : "its heads are malformed");
        return nullptr;
    }
    *count = n;
    return heads;
}

namespace {

// The C2SP verifier key of a log public key under the key name new notes are signed under
// (fa_note_key_name()): "<name>+<key id, 8 hex digits>+<base64 of 0x01 || public key>".
text *vkey_text(const uint8 public_key[32])
{
    const char *name = fa_note_key_name();
    Sha256Sink h;
    uint32 id = forgea::core::note_key_id(Bytes{name, strlen(name)}, public_key, h);
    uint8 typed[33];
    typed[0] = 0x01;  // Ed25519 (C2SP signed-note)
    memcpy(typed + 1, public_key, 32);
    StringInfoData buf;
    initStringInfo(&buf);
    appendStringInfo(&buf, "%s+%08x+", name, id);
    StringInfoSink out(&buf);
    forgea::core::base64_encode(typed, sizeof typed, out);
    return cstring_to_text_with_len(buf.data, buf.len);
}

// log_vkey() and log_vkeys() need forgea_audit.verify_key_file.
void require_verify_key_file(const char *function)
{
    if (!is_set(fa_verify_key_file))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("forgea_audit.%s(): forgea_audit.verify_key_file is not set", function),
                        errdetail("The verifier key is made from the log's public key, which that setting names."),
                        errhint("Set forgea_audit.verify_key_file to the PEM Ed25519 public key of the signing key and "
                                "reload, or pass the verifier key yourself.")));
}

}  // namespace

// forgea_audit.log_vkey() RETURNS text: the log's C2SP verifier key, "<key name>+<key id, 8 hex
// digits>+<base64 of 0x01 || public key>", so that the operator hands witnesses and the receipt
// page the exact string they check signatures with instead of deriving it by hand
// (docs/publishing.md).  The key is forgea_audit.verify_key_file's (never the private key file),
// the name the one new notes are signed under (fa_note_key_name()).
FA_FUNCTION(fa_log_vkey, "forgea_audit.log_vkey")
{
    require_verify_key_file("log_vkey");
    uint8 public_key[32];
    load_verify_key(public_key);
    PG_RETURN_TEXT_P(vkey_text(public_key));
}

// forgea_audit.log_vkeys() RETURNS text[]: every verifier key of the log, log_vkey() first, then
// one per file of forgea_audit.retired_verify_key_files, in its order, under the same name.  After
// a key rotation a receipt's checkpoint is signed by an earlier key and today's by the current one:
// the receipt page needs both (receipt_link() passes them all, docs/receipt_link.md).
FA_FUNCTION(fa_log_vkeys, "forgea_audit.log_vkeys")
{
    require_verify_key_file("log_vkeys");
    List *files = retired_key_files();
    int n = 1 + list_length(files);
    Datum *keys = static_cast<Datum *>(palloc(n * sizeof(Datum)));
    uint8 public_key[32];
    load_verify_key(public_key);
    keys[0] = PointerGetDatum(vkey_text(public_key));
    ListCell *lc;
    int i = 1;
    foreach (lc, files) {
        load_public_key(static_cast<const char *>(lfirst(lc)), "forgea_audit.retired_verify_key_files", public_key);
        keys[i++] = PointerGetDatum(vkey_text(public_key));
    }
    PG_RETURN_ARRAYTYPE_P(construct_array(keys, n, TEXTOID, -1, false, TYPALIGN_INT));
}

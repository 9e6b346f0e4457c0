#!/usr/bin/env bash
# Exports forgea_audit's log for offline verification (tools/forgea_audit_verify; docs/checkpoints.md,
# "Offline").
#
#   tools/export_audit.sh DBNAME OUTDIR [CHECKPOINT_FILE]
#
# Connects with psql and the usual PG* environment variables (PGHOST, PGPORT, PGUSER, ...) and
# writes, with \copy ... CSV HEADER, in one REPEATABLE READ snapshot (so a concurrent append is in
# both the rows and the heads, or in neither):
#   OUTDIR/audit_log.csv        every audit row, ordered by chain_id COLLATE "C", chain_pos
#   OUTDIR/chain_head.csv       every chain head with length > 0, ordered the same way
# and, given a checkpoint note (the text forgea_audit.checkpoint() returned, kept outside):
#   OUTDIR/checkpoint.txt       a copy of it
#   OUTDIR/checkpoint_heads.csv the heads its CHECKPOINT audit event sealed, in the event's order;
#                               not written if the log holds no CHECKPOINT event with its root
#                               (the verifier then reports that).
# Run it as a role that sees every audit row (a superuser, the extension's owner, or a member of
# forgea_audit_admin); a role that row-level security limits is refused.
# Text is exported as UTF-8 whatever the client's locale (PGCLIENTENCODING=UTF8): the chain hashes
# the stored UTF-8 bytes.
set -euo pipefail

usage() {
    echo "usage: $0 DBNAME OUTDIR [CHECKPOINT_FILE]" >&2
    exit 2
}
[ $# -ge 2 ] && [ $# -le 3 ] || usage
db=$1
out=$2
checkpoint=${3:-}

# Every path given is made absolute here, before the script changes directory (it runs psql in
# OUTDIR below): a relative CHECKPOINT_FILE read after the cd would name another file, or none.
if [ -n "$checkpoint" ]; then
    [ -r "$checkpoint" ] && [ -f "$checkpoint" ] || { echo "$0: cannot read the checkpoint file $checkpoint" >&2; exit 2; }
    checkpoint="$(cd "$(dirname -- "$checkpoint")" && pwd -P)/$(basename -- "$checkpoint")"
fi
mkdir -p -- "$out"
out=$(cd -- "$out" && pwd -P)

if [ -n "$checkpoint" ]; then
    # The root, base64, is the note's third line (C2SP checkpoint format).
    root_b64=$(sed -n 3p "$checkpoint")
    [[ "$root_b64" =~ ^[A-Za-z0-9+/]{43}=$ ]] || {
        echo "$0: $checkpoint is not a checkpoint note (its third line is not a base64 SHA-256 root)" >&2
        exit 2
    }
fi

# No stale file from an earlier export may survive into this one.
rm -f "$out/audit_log.csv" "$out/chain_head.csv" "$out/checkpoint.txt" "$out/checkpoint_heads.csv" "$out/merkle_leaf.csv"
[ -n "$checkpoint" ] && cp "$checkpoint" "$out/checkpoint.txt"

export PGCLIENTENCODING=UTF8
# \copy writes files relative to psql's working directory: run psql in OUTDIR, so no path needs
# quoting inside a \copy line (which psql does not interpolate).
cd "$out"
# A 0.1.0 note (with a "chains" line) is checked against the heads its CHECKPOINT event sealed; a
# transparency-log note (0.2.0: origin, size, root) against the Merkle tree's leaves, which are
# exported whenever the database has them (merkle_leaf.csv, docs/transparency.md).
heads_note=0
if [ -n "$checkpoint" ] && grep -q '^chains ' "$checkpoint"; then heads_note=1; fi
psql -X -q -v ON_ERROR_STOP=1 -v has_checkpoint="$heads_note" \
     -v root_b64="${root_b64:-}" -d "$db" <<'SQL'
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;

-- A role that row-level security limits (a forgea_audit_reader) would export some rows only, and
-- the verifier would report the others as removed: refuse it.  Superusers, the tables' owner and
-- forgea_audit_admin see every row.
DO $$
BEGIN
    IF pg_catalog.row_security_active('forgea_audit.audit_log') THEN
        IF pg_catalog.to_regrole('forgea_audit_admin') IS NULL
           OR NOT pg_catalog.pg_has_role('forgea_audit_admin', 'MEMBER') THEN
            RAISE EXCEPTION 'role "%" sees only some of forgea_audit.audit_log (row-level security)', current_user
                USING HINT = 'Export as a superuser, the extension''s owner or a member of forgea_audit_admin.';
        END IF;
    END IF;
END
$$;

\copy (SELECT seq, chain_id, chain_pos, encode(prev_hash, 'hex') AS prev_hash, encode(row_hash, 'hex') AS row_hash, hash_version, (extract(epoch FROM created_at) * 1000000)::bigint AS created_at, tenant_id, user_id, actor_type, actor_id, action, target_type, target_id, outcome, severity, forgea_audit.canonical_json(metadata) AS metadata, forgea_audit.canonical_json(proof) AS proof, correlation_id, parent_seq FROM forgea_audit.audit_log ORDER BY chain_id COLLATE "C", chain_pos) TO 'audit_log.csv' CSV HEADER

\copy (SELECT chain_id, length, last_seq, encode(last_hash, 'hex') AS last_hash FROM forgea_audit.chain_head WHERE length > 0 ORDER BY chain_id COLLATE "C") TO 'chain_head.csv' CSV HEADER

SELECT pg_catalog.to_regclass('forgea_audit.merkle_leaf') IS NOT NULL AS has_tree \gset
\if :has_tree
\copy (SELECT m.leaf_index, m.seq, encode(substring(t.hashes FROM (m.leaf_index % 256)::int * 32 + 1 FOR 32), 'hex') AS leaf_hash FROM forgea_audit.merkle_leaf m LEFT JOIN forgea_audit.merkle_tile t ON t.level = 0 AND t.idx = m.leaf_index / 256 ORDER BY m.leaf_index) TO 'merkle_leaf.csv' CSV HEADER
\endif

\if :has_checkpoint
-- The root in hex, computed from the note's third line; \copy does not interpolate psql
-- variables, so the query reads it back with current_setting().
SELECT set_config('forgea_audit_export.root', encode(decode(:'root_b64', 'base64'), 'hex'), false) AS root_hex \gset
-- The event verify_chain(checkpoint) reads: the first CHECKPOINT event with that root.
SELECT (SELECT proof -> 'heads' FROM forgea_audit.audit_log
        WHERE action = 'CHECKPOINT' AND target_id = current_setting('forgea_audit_export.root')
        ORDER BY seq LIMIT 1) IS NOT NULL AS has_event \gset
\if :has_event
\copy (SELECT CASE WHEN wf THEN h ->> 0 END AS chain_id, CASE WHEN wf THEN (h -> 1)::numeric::bigint END AS length, CASE WHEN wf THEN (h -> 2)::numeric::bigint END AS last_seq, CASE WHEN wf THEN h ->> 3 END AS last_hash FROM (SELECT x.h, x.i, CASE WHEN jsonb_typeof(x.h) IS DISTINCT FROM 'array' THEN false WHEN jsonb_array_length(x.h) <> 4 THEN false ELSE jsonb_typeof(x.h -> 0) = 'string' AND jsonb_typeof(x.h -> 1) = 'number' AND jsonb_typeof(x.h -> 2) = 'number' AND jsonb_typeof(x.h -> 3) = 'string' END AS wf FROM (SELECT proof -> 'heads' AS heads FROM forgea_audit.audit_log WHERE action = 'CHECKPOINT' AND target_id = current_setting('forgea_audit_export.root') ORDER BY seq LIMIT 1) e, jsonb_array_elements(CASE jsonb_typeof(e.heads) WHEN 'array' THEN e.heads ELSE '[null]' END) WITH ORDINALITY AS x(h, i)) s ORDER BY i) TO 'checkpoint_heads.csv' CSV HEADER
\else
\warn 'export_audit: the log holds no CHECKPOINT event with root ' :root_hex ': checkpoint_heads.csv not written'
\endif
\endif

COMMIT;
SQL

written=""
for f in audit_log.csv chain_head.csv checkpoint.txt checkpoint_heads.csv merkle_leaf.csv; do
    [ -e "$f" ] && written="$written $f"
done
echo "export_audit: wrote$written in $(pwd)" >&2

#!/usr/bin/env bash
# Upgrading a live 0.1.0 install to the current version gives exactly a fresh install, and the
# chain recorded before the upgrade still verifies after it.
#
#   1. builds the 0.1.0 release from its tag (or the commit pinned in test/upgrade/releases.txt)
#      and installs it (library, control file, install script);
#   2. in a throwaway cluster: CREATE EXTENSION forgea_audit VERSION '0.1.0', records pushes from
#      test/fixtures/github/push against the platform's "LabSession", takes a checkpoint;
#   3. installs the current build and restarts: the 0.1.0 functions must now refuse with
#      "forgea_audit library X does not serve the SQL objects of version 0.1.0" and write nothing;
#   4. ALTER EXTENSION forgea_audit UPDATE: verify_chain() is ok, also against the 0.1.0 checkpoint;
#      a catalogue description of the extension's objects (test/upgrade/describe_extension.sql) is
#      identical to that of a fresh CREATE EXTENSION in another database (the diff is printed if not);
#   5. records more pushes (and redelivers an 0.1.0 one: duplicate), verifies again.
# Also checked: the released install script is byte-identical to the tagged one, the SQL binds its
# C functions only to the symbols of the version the library serves (src/pg/sql_version.hpp).
#
# It installs into the shared PostgreSQL directories: whoever runs it by hand holds
# /tmp/forgea_install.lock for the whole run (flock /tmp/forgea_install.lock bash <this file>).
# The current build is installed again on exit, whatever happened.  Run from test/run_tests.sh
# after the build; takes about 40 s (most of it building 0.1.0).
set -euo pipefail

if [ "${1:-}" != inner ]; then
    cd "$(dirname "$0")/../.."
    ROOT=$(pwd)
    . test/lib/install_deps.sh   # free_port

    # The release's commit: its tag, else the pinned commit; both must agree when both exist.
    pinned=$(awk '$1 == "0.1.0" { print $2 }' test/upgrade/releases.txt)
    tagged=$(git rev-parse -q --verify 'refs/tags/v0.1.0^{commit}' || true)
    if [ -n "$tagged" ] && [ "$tagged" != "$pinned" ]; then
        echo "FAIL: tag v0.1.0 names $tagged, test/upgrade/releases.txt pins $pinned" >&2; exit 1
    fi
    release=${tagged:-$pinned}
    if [ -z "$release" ] || ! git cat-file -e "$release^{commit}" 2>/dev/null; then
        echo "FAIL: the 0.1.0 release is not in this clone: no tag v0.1.0 and no commit '$pinned'" \
             "(from test/upgrade/releases.txt); fetch it (git fetch --tags, or --unshallow)" >&2
        exit 1
    fi
    echo "0.1.0 release: $release ($([ -n "$tagged" ] && echo tag v0.1.0 || echo pinned in test/upgrade/releases.txt))"

    # Released scripts never change: every release's install script, and every upgrade script
    # that release shipped, is byte for byte the one of its pinned commit.
    while read -r v commit; do
        case $v in ''|'#'*) continue ;; esac
        git cat-file -e "$commit^{commit}" 2>/dev/null || { echo "FAIL: release $v's commit $commit is not in this clone" >&2; exit 1; }
        for script in $(git ls-tree --name-only "$commit" | grep -E "^forgea_audit--([0-9.]+--)?$v\.sql$"); do
            if ! git show "$commit:$script" | cmp -s - "$script"; then
                echo "FAIL: $script differs from the one released as $v ($commit):" >&2
                git show "$commit:$script" | diff - "$script" >&2 || true
                exit 1
            fi
        done
        echo "released $v: its scripts are unchanged since $commit"
    done < test/upgrade/releases.txt

    # The library's SQL version is the control file's default_version.
    lib_version=$(sed -n 's/^#define FA_SQL_VERSION "\(.*\)"$/\1/p' src/pg/sql_version.hpp)
    lib_suffix=$(sed -n 's/^#define FA_SQL_SUFFIX \(_[0-9_]*\)$/\1/p' src/pg/sql_version.hpp)
    control_version=$(sed -n "s/^default_version = '\(.*\)'$/\1/p" forgea_audit.control)
    if [ -z "$lib_version" ] || [ "$lib_version" != "$control_version" ]; then
        echo "FAIL: src/pg/sql_version.hpp serves '$lib_version', forgea_audit.control's default_version is '$control_version'" >&2
        exit 1
    fi

    work=$(mktemp -d)
    chmod 755 "$work"
    reinstall_current() {
        make -s -C "$ROOT" install >/dev/null || echo "WARNING: reinstalling the current build failed" >&2
        rm -rf "$work"
    }
    trap reinstall_current EXIT

    mkdir "$work/v0.1.0"
    git archive "$release" | tar -x -C "$work/v0.1.0"
    make -s -C "$work/v0.1.0" -j2 >/dev/null 2>&1 || { echo "FAIL: building 0.1.0 failed" >&2; exit 1; }
    make -s -C "$work/v0.1.0" install >/dev/null
    # The current build is installed in the middle of the run (step 3); build it now if needed.
    make -s -C "$ROOT" -j2 >/dev/null

    export FA_ROOT="$ROOT" FA_WORK="$work" FA_LIB_VERSION="$lib_version" FA_LIB_SUFFIX="$lib_suffix"
    port=${FA_UPGRADE_PORT:-$(free_port)}   # FA_UPGRADE_PORT: a port of your own on a shared machine
    pg_virtualenv -t -v 15 -c "--port=$port" bash "$ROOT/test/upgrade/upgrade_from_0.1.0.sh" inner
    exit $?
fi

# ---- inside the throwaway cluster ---------------------------------------------------------------
cd "$FA_ROOT"
fail() { echo "FAIL: $*" >&2; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# A database with the platform's table, one active session per fixture repository, the fixtures.
prepare_db() {
    createdb -E UTF8 -T template0 "$1"
    {
        echo '\i test/fixtures/app-schema/lab_session.sql'
        echo "INSERT INTO \"LabSession\" (id, \"userId\", \"labId\", \"userForkUrl\", status, \"updatedAt\") VALUES
                ('sess-gh', 'user-1', 'lab-1', 'https://github.com/Codertocat/Hello-World', 'IN_PROGRESS', now()),
                ('sess-ghes', 'user-2', 'lab-1', 'git@octocoders.github.io:Codertocat/Hello-World.git', 'IN_PROGRESS', now());"
        echo 'CREATE TABLE public.fixture_push (name text PRIMARY KEY, payload jsonb NOT NULL, guid uuid NOT NULL DEFAULT gen_random_uuid());'
        for f in test/fixtures/github/push/*.json; do
            echo "\\set body \`cat $f\`"
            echo "INSERT INTO public.fixture_push (name, payload) VALUES ('$(basename "$f" .json)', :'body');"
        done
    } | q -d "$1" >/dev/null
}

# Sends the fixtures whose name matches $2 (a regex) through record_push; prints "status count".
record() {
    q -d "$1" -c "SELECT r.status, count(*) FROM public.fixture_push f,
                         forgea_audit.record_push(f.payload, f.guid::text, '{\"X-GitHub-Event\": \"push\"}') r
                  WHERE f.name ~ '$2' GROUP BY 1 ORDER BY 1"
}

# A checkpoint is kept in the shell base64-encoded: $(...) would strip the note's final newline.
verify() {  # database, [checkpoint (base64)]: prints ok|rows|detail
    echo "SELECT ok, rows_checked, detail
          FROM forgea_audit.verify_chain(convert_from(decode(nullif(:'cp', ''), 'base64'), 'UTF8'))" |
        q -d "$1" -F '|' -v cp="${2:-}"   # (psql -c would not substitute :'cp')
}

# 2. 0.1.0, with data.
prepare_db upg
q -d upg -c "CREATE EXTENSION forgea_audit VERSION '0.1.0'; SELECT forgea_audit.bind_lab_session_table();" >/dev/null
[ "$(q -d upg -c "SELECT extversion FROM pg_extension WHERE extname = 'forgea_audit'")" = 0.1.0 ] || fail "not at 0.1.0"
echo "0.1.0 records: $(record upg '^(api|ae)' | tr '\n' ' ')"
n_before=$(q -d upg -c "SELECT count(*) FROM forgea_audit.lab_attempt")
[ "$n_before" -ge 5 ] || fail "0.1.0 recorded only $n_before attempts"
q -d upg -c "SELECT forgea_audit.append('LAB_NOTE', actor_type => 'user', actor_id => 'u1', target_type => 'lab_session', target_id => 'sess-gh')" >/dev/null
checkpoint=$(q -d upg -c "SELECT encode(convert_to(forgea_audit.checkpoint(), 'UTF8'), 'base64')")
[ -n "$checkpoint" ] || fail "no checkpoint from 0.1.0"
v=$(verify upg "$checkpoint"); [ "${v%%|*}" = t ] || fail "0.1.0 chain does not verify: $v"
echo "0.1.0 verify_chain(checkpoint): $v"
rows_before=$(q -d upg -c "SELECT count(*) FROM forgea_audit.audit_log")
# Issue 14: 0.1.0's repo_key() reads "https://evil.com#@github.com/alice/lab" as github.com/alice/lab,
# and bind_lab_session_table()'s index stores that key; the update must rebuild the index.
q -d upg -c "INSERT INTO \"LabSession\" (id, \"userId\", \"labId\", \"userForkUrl\", status, \"startedAt\", \"updatedAt\") VALUES
               ('s-alice', 'u-alice', 'lab', 'https://github.com/alice/lab', 'IN_PROGRESS', now() - interval '1 hour', now()),
               ('s-mallory', 'u-mallory', 'lab', 'https://evil.com#@github.com/alice/lab', 'IN_PROGRESS', now(), now())" >/dev/null
alice_sessions="SET enable_seqscan = off; SELECT string_agg(id, ',' ORDER BY id) FROM \"LabSession\"
                WHERE forgea_audit.repo_key(\"userForkUrl\") = 'github.com/alice/lab' AND status IN ('IN_PROGRESS', 'STUCK')"
[ "$(q -d upg -c "$alice_sessions")" = "s-alice,s-mallory" ] || fail "0.1.0 did not misread the crafted fork URL as expected"
index_node=$(q -d upg -c "SELECT pg_relation_filenode('\"LabSession_forgea_repo_key_idx\"')")

# 3. The current library, the 0.1.0 SQL: refused, clearly, nothing written.
make -s install >/dev/null
# Restart, as the README says (the library is not preloaded, so new backends would load the new file
# anyway).  pg_ctlcluster restart was once seen answering "Cluster is already running." without
# stopping it: check that the postmaster really restarted, and try again if not.
started=$(q -d upg -c "SELECT pg_postmaster_start_time()")
for attempt in 1 2 3; do
    pg_ctlcluster "$PGVERSION" regress restart || { sleep 1; pg_ctlcluster "$PGVERSION" regress start || true; }
    now=$(q -d upg -c "SELECT pg_postmaster_start_time()" 2>/dev/null || true)
    [ -n "$now" ] && [ "$now" != "$started" ] && break
    [ "$attempt" = 3 ] && fail "the cluster did not restart (postmaster started at $started, now '$now')"
    sleep 1
done
refusal=$(q -d upg -c "
DO \$\$
DECLARE st text; msg text; hint text;
BEGIN
    PERFORM * FROM forgea_audit.record_push((SELECT payload FROM public.fixture_push WHERE name = 'ghes35-payload'),
                                            gen_random_uuid()::text);
    RAISE EXCEPTION 'record_push of the 0.1.0 SQL ran on the new library';
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RAISE NOTICE '%|%|%', st, msg, hint;
END
\$\$;" 2>&1) || fail "0.1.0 record_push on the new library: $refusal"
echo "refusal: $refusal"
expected_msg="forgea_audit library $FA_LIB_VERSION does not serve the SQL objects of version 0.1.0"
case "$refusal" in
    *"55000|$expected_msg|"*"ALTER EXTENSION forgea_audit UPDATE"*) ;;
    *) fail "0.1.0 record_push on the new library: expected '$expected_msg' with an ALTER EXTENSION hint, got: $refusal" ;;
esac
q -d upg -c "SELECT forgea_audit.verify_chain()" >/dev/null 2>&1 && fail "0.1.0 verify_chain ran on the new library"
[ "$(q -d upg -c "SELECT count(*) FROM forgea_audit.lab_attempt")" = "$n_before" ] || fail "the refused call wrote an attempt"

# 4. The update.
q -d upg -c "ALTER EXTENSION forgea_audit UPDATE" >/dev/null
got=$(q -d upg -c "SELECT extversion FROM pg_extension WHERE extname = 'forgea_audit'")
[ "$got" = "$FA_LIB_VERSION" ] || fail "ALTER EXTENSION UPDATE left version $got, not $FA_LIB_VERSION"
v=$(verify upg); [ "${v%%|*}" = t ] || fail "after the update the chain does not verify: $v"
v=$(verify upg "$checkpoint"); [ "${v%%|*}" = t ] || fail "after the update the 0.1.0 checkpoint does not verify: $v"
echo "updated verify_chain(0.1.0 checkpoint): $v"
[ "$(q -d upg -c "SELECT pg_relation_filenode('\"LabSession_forgea_repo_key_idx\"')")" != "$index_node" ] ||
    fail "the update did not rebuild LabSession_forgea_repo_key_idx (it holds 0.1.0's repo_key() results)"
got=$(q -d upg -c "$alice_sessions")
[ "$got" = "s-alice" ] || fail "after the update the index still finds '$got' under github.com/alice/lab, not only s-alice"
echo "updated: LabSession_forgea_repo_key_idx rebuilt; the crafted fork URL no longer matches github.com/alice/lab"

prepare_db fresh
q -d fresh -c "CREATE EXTENSION forgea_audit; SELECT forgea_audit.bind_lab_session_table();" >/dev/null
q -d upg -f test/upgrade/describe_extension.sql > "$FA_WORK/updated.txt"
q -d fresh -f test/upgrade/describe_extension.sql > "$FA_WORK/fresh.txt"
lines=$(grep -c '' "$FA_WORK/fresh.txt")
[ "$lines" -gt 500 ] || fail "the catalogue description has only $lines lines"
if ! diff -u --label "fresh CREATE EXTENSION ($FA_LIB_VERSION)" --label "0.1.0 + ALTER EXTENSION UPDATE" \
        "$FA_WORK/fresh.txt" "$FA_WORK/updated.txt"; then
    fail "the updated extension's objects differ from a fresh install's (diff above: fix forgea_audit--0.1.0--$FA_LIB_VERSION.sql to match the full script)"
fi
echo "catalogue: $lines lines, identical after update and fresh install"

# Every C function binds to a symbol of the version the library serves.
stale=$(q -d fresh -c "SELECT string_agg(p.oid::regprocedure::text || ' -> ' || p.prosrc, ', ')
                       FROM pg_proc p WHERE p.pronamespace = 'forgea_audit'::regnamespace AND p.prolang = (SELECT l.oid FROM pg_language l WHERE l.lanname = 'c')
                         AND p.prosrc !~ '${FA_LIB_SUFFIX}\$'")
[ -z "$stale" ] || fail "C functions not bound to the ${FA_LIB_SUFFIX} symbols (FA_SQL_SYMBOL in src/pg/sql_version.hpp): $stale"

# 5. Life goes on: more pushes, a redelivery of an 0.1.0 one, a new checkpoint.
echo "after the update: $(record upg '^ghes' | tr '\n' ' ')"
[ "$(q -d upg -c "SELECT count(*) FROM forgea_audit.lab_attempt")" -gt "$n_before" ] || fail "nothing recorded after the update"
dup=$(q -d upg -c "SELECT r.status FROM public.fixture_push f, forgea_audit.record_push(f.payload, f.guid::text) r
                   WHERE f.name = 'api-with-new-branch.payload'")
[ "$dup" = duplicate ] || fail "redelivering an 0.1.0 delivery after the update gave '$dup', not duplicate"
checkpoint2=$(q -d upg -c "SELECT encode(convert_to(forgea_audit.checkpoint(), 'UTF8'), 'base64')")
for cp in "$checkpoint" "$checkpoint2"; do
    v=$(verify upg "$cp"); [ "${v%%|*}" = t ] || fail "after more pushes the chain does not verify: $v"
done
rows_after=$(q -d upg -c "SELECT count(*) FROM forgea_audit.audit_log")
[ "$rows_after" -gt "$rows_before" ] || fail "no audit rows after the update"
echo "final verify_chain (both checkpoints): $v; audit rows $rows_before -> $rows_after"
echo "upgrade from 0.1.0: ok"

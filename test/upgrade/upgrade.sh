#!/usr/bin/env bash
# Upgrading a live install of every earlier release to the current version gives exactly a fresh
# install, and the chain recorded before the upgrade still verifies after it.
#
#   1. builds each release of test/upgrade/releases.txt (0.1.0, 0.2.0) once, from its tag or its
#      pinned commit;
#   2. in a throwaway cluster, with the 0.1.0 release installed: database upg1, CREATE EXTENSION
#      forgea_audit VERSION '0.1.0', pushes from test/fixtures/github/push recorded against the
#      platform's "LabSession", an append, a checkpoint;
#   3. with the 0.2.0 release installed (server restarted): database upg2, CREATE EXTENSION
#      VERSION '0.2.0', pushes, an append, a checkpoint, a receipt, all made by 0.2.0's library;
#   4. installs the current build and restarts: the 0.1.0 functions of upg1 and the 0.2.0 functions
#      of upg2 must now refuse with "forgea_audit library X does not serve the SQL objects of
#      version V" (55000, hint ALTER EXTENSION forgea_audit UPDATE) and write nothing;
#   5. ALTER EXTENSION forgea_audit UPDATE in each: upg1 goes 0.1.0 -> 0.2.0 -> current through both
#      upgrade scripts with the current library loaded, upg2 0.2.0 -> current; verify_chain() is
#      ok, also against each old checkpoint; a catalogue description of the extension's objects
#      (test/upgrade/describe_extension.sql) is identical to that of a fresh CREATE EXTENSION in
#      another database (the diff is printed if not);
#   6. records more pushes in each (and redelivers an old one: duplicate), verifies again.
# Also checked: every released script is byte-identical to its release's, the SQL binds its C
# functions only to the symbols of the version the library serves (src/pg/sql_version.hpp).
#
# It installs into the shared PostgreSQL directories: whoever runs it by hand holds
# /tmp/forgea_install.lock for the whole run (flock /tmp/forgea_install.lock bash <this file>).
# The current build is installed again on exit, whatever happened.  Run from test/run_tests.sh
# after the build; takes about 75 s (most of it building the two releases).
set -euo pipefail

if [ "${1:-}" != inner ]; then
    cd "$(dirname "$0")/../.."
    ROOT=$(pwd)
    . test/lib/install_deps.sh   # free_port

    # Released scripts never change: every release's install script, and every upgrade script
    # that release shipped, is byte for byte the one of its pinned commit.  Each release's commit
    # is its tag v<version>, else the pinned commit; both must agree when both exist.
    releases=()
    while read -r v commit; do
        case $v in ''|'#'*) continue ;; esac
        tagged=$(git rev-parse -q --verify "refs/tags/v$v^{commit}" || true)
        if [ -n "$tagged" ] && [ "$tagged" != "$commit" ]; then
            echo "FAIL: tag v$v names $tagged, test/upgrade/releases.txt pins $commit" >&2; exit 1
        fi
        if ! git cat-file -e "$commit^{commit}" 2>/dev/null; then
            echo "FAIL: the $v release is not in this clone: no tag v$v and no commit '$commit'" \
                 "(from test/upgrade/releases.txt); fetch it (git fetch --tags, or --unshallow)" >&2
            exit 1
        fi
        for script in $(git ls-tree --name-only "$commit" | grep -E "^forgea_audit--([0-9.]+--)?$v\.sql$"); do
            if ! git show "$commit:$script" | cmp -s - "$script"; then
                echo "FAIL: $script differs from the one released as $v ($commit):" >&2
                git show "$commit:$script" | diff - "$script" >&2 || true
                exit 1
            fi
        done
        echo "released $v ($commit, $([ -n "$tagged" ] && echo "tag v$v" || echo pinned in test/upgrade/releases.txt)): its scripts are unchanged"
        releases+=("$v=$commit")
    done < test/upgrade/releases.txt
    # The test below knows these two releases' SQL surfaces (what each one records with).
    [ "${releases[*]%%=*}" = "0.1.0 0.2.0" ] ||
        { echo "FAIL: test/upgrade/releases.txt lists '${releases[*]%%=*}': teach this test the new release" >&2; exit 1; }

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

    # Each release built once; installed in turn inside the cluster (make -C <tree> install).
    for r in "${releases[@]}"; do
        v=${r%%=*}
        mkdir "$work/v$v"
        git archive "${r#*=}" | tar -x -C "$work/v$v"
        make -s -C "$work/v$v" -j2 >"$work/build-$v.log" 2>&1 ||
            { tail -20 "$work/build-$v.log" >&2; echo "FAIL: building $v failed" >&2; exit 1; }
    done
    # The current build is installed in the middle of the run (step 4); build it now if needed.
    make -s -C "$ROOT" -j2 >/dev/null

    export FA_ROOT="$ROOT" FA_WORK="$work" FA_LIB_VERSION="$lib_version" FA_LIB_SUFFIX="$lib_suffix"
    port=${FA_UPGRADE_PORT:-$(free_port)}   # FA_UPGRADE_PORT: a port of your own on a shared machine
    pg_virtualenv -t -v 15 -c "--port=$port" bash "$ROOT/test/upgrade/upgrade.sh" inner
    exit $?
fi

# ---- inside the throwaway cluster ---------------------------------------------------------------
cd "$FA_ROOT"
fail() { echo "FAIL: $*" >&2; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
extversion() { q -d "$1" -c "SELECT extversion FROM pg_extension WHERE extname = 'forgea_audit'"; }

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
take_checkpoint() { q -d "$1" -c "SELECT encode(convert_to(forgea_audit.checkpoint(), 'UTF8'), 'base64')"; }

# Installs a library and its scripts (a release's tree, or the current one) and restarts, as the
# README says (the library is not preloaded, so new backends would load the new file anyway).
# pg_ctlcluster restart was once seen answering "Cluster is already running." without stopping
# it: check that the postmaster really restarted, and try again if not.
install_and_restart() {
    make -s -C "$1" install >/dev/null
    local started now attempt
    started=$(q -d postgres -c "SELECT pg_postmaster_start_time()")
    for attempt in 1 2 3; do
        pg_ctlcluster "$PGVERSION" regress restart || { sleep 1; pg_ctlcluster "$PGVERSION" regress start || true; }
        now=$(q -d postgres -c "SELECT pg_postmaster_start_time()" 2>/dev/null || true)
        [ -n "$now" ] && [ "$now" != "$started" ] && return 0
        [ "$attempt" = 3 ] && fail "the cluster did not restart (postmaster started at $started, now '$now')"
        sleep 1
    done
}

# An old version's SQL on the current library: record_push and verify_chain refuse clearly (55000,
# the message naming both versions, the ALTER EXTENSION hint), and nothing is written.
check_refusal() {  # database, its SQL version
    local db=$1 old=$2 refusal n expected_msg
    n=$(q -d "$db" -c "SELECT count(*) FROM forgea_audit.lab_attempt")
    refusal=$(q -d "$db" -c "
DO \$\$
DECLARE st text; msg text; hint text;
BEGIN
    PERFORM * FROM forgea_audit.record_push((SELECT payload FROM public.fixture_push WHERE name = 'ghes35-payload'),
                                            gen_random_uuid()::text);
    RAISE EXCEPTION 'record_push of the $old SQL ran on the new library';
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RAISE NOTICE '%|%|%', st, msg, hint;
END
\$\$;" 2>&1) || fail "$old record_push on the new library: $refusal"
    echo "$db ($old) refusal: $refusal"
    expected_msg="forgea_audit library $FA_LIB_VERSION does not serve the SQL objects of version $old"
    case "$refusal" in
        *"55000|$expected_msg|"*"ALTER EXTENSION forgea_audit UPDATE"*) ;;
        *) fail "$old record_push on the new library: expected '$expected_msg' with an ALTER EXTENSION hint, got: $refusal" ;;
    esac
    refusal=$(q -d "$db" -c "SELECT forgea_audit.verify_chain()" 2>&1) && fail "$old verify_chain ran on the new library: $refusal"
    case "$refusal" in
        *"$expected_msg"*) ;;
        *) fail "$old verify_chain on the new library: expected '$expected_msg', got: $refusal" ;;
    esac
    [ "$(q -d "$db" -c "SELECT count(*) FROM forgea_audit.lab_attempt")" = "$n" ] || fail "the refused call wrote an attempt in $db"
}

# The updated database's objects are exactly a fresh install's.
compare_catalogue() {  # database, what it was updated from
    q -d "$1" -f test/upgrade/describe_extension.sql > "$FA_WORK/updated-$1.txt"
    if ! diff -u --label "fresh CREATE EXTENSION ($FA_LIB_VERSION)" --label "$2 + ALTER EXTENSION UPDATE" \
            "$FA_WORK/fresh.txt" "$FA_WORK/updated-$1.txt"; then
        fail "the extension updated from $2 differs from a fresh install (diff above: fix the upgrade script forgea_audit--*--$FA_LIB_VERSION.sql to match the full script)"
    fi
    echo "catalogue of $1 ($2 + UPDATE): $(grep -c '' "$FA_WORK/fresh.txt") lines, identical to a fresh install's"
}

# 2. 0.1.0, with data made by 0.1.0's library.
install_and_restart "$FA_WORK/v0.1.0"
prepare_db upg1
q -d upg1 -c "CREATE EXTENSION forgea_audit VERSION '0.1.0'; SELECT forgea_audit.bind_lab_session_table();" >/dev/null
[ "$(extversion upg1)" = 0.1.0 ] || fail "upg1 is not at 0.1.0"
echo "0.1.0 records: $(record upg1 '^(api|ae)' | tr '\n' ' ')"
n1_before=$(q -d upg1 -c "SELECT count(*) FROM forgea_audit.lab_attempt")
[ "$n1_before" -ge 5 ] || fail "0.1.0 recorded only $n1_before attempts"
q -d upg1 -c "SELECT forgea_audit.append('LAB_NOTE', actor_type => 'user', actor_id => 'u1', target_type => 'lab_session', target_id => 'sess-gh')" >/dev/null
checkpoint1=$(take_checkpoint upg1)
[ -n "$checkpoint1" ] || fail "no checkpoint from 0.1.0"
v=$(verify upg1 "$checkpoint1"); [ "${v%%|*}" = t ] || fail "0.1.0 chain does not verify: $v"
echo "0.1.0 verify_chain(checkpoint): $v"
rows1_before=$(q -d upg1 -c "SELECT count(*) FROM forgea_audit.audit_log")
# Issue 14: 0.1.0's repo_key() reads "https://evil.com#@github.com/alice/lab" as github.com/alice/lab,
# and bind_lab_session_table()'s index stores that key; the update must rebuild the index.
q -d upg1 -c "INSERT INTO \"LabSession\" (id, \"userId\", \"labId\", \"userForkUrl\", status, \"startedAt\", \"updatedAt\") VALUES
               ('s-alice', 'u-alice', 'lab', 'https://github.com/alice/lab', 'IN_PROGRESS', now() - interval '1 hour', now()),
               ('s-mallory', 'u-mallory', 'lab', 'https://evil.com#@github.com/alice/lab', 'IN_PROGRESS', now(), now())" >/dev/null
alice_sessions="SET enable_seqscan = off; SELECT string_agg(id, ',' ORDER BY id) FROM \"LabSession\"
                WHERE forgea_audit.repo_key(\"userForkUrl\") = 'github.com/alice/lab' AND status IN ('IN_PROGRESS', 'STUCK')"
[ "$(q -d upg1 -c "$alice_sessions")" = "s-alice,s-mallory" ] || fail "0.1.0 did not misread the crafted fork URL as expected"
index_node=$(q -d upg1 -c "SELECT pg_relation_filenode('\"LabSession_forgea_repo_key_idx\"')")

# 3. 0.2.0, with data made by 0.2.0's library (built from its pinned commit): pushes, an append,
# the Merkle log integrated by checkpoint(), a receipt.  upg1 stays at 0.1.0 meanwhile.
install_and_restart "$FA_WORK/v0.2.0"
prepare_db upg2
q -d upg2 -c "CREATE EXTENSION forgea_audit VERSION '0.2.0'" >/dev/null
[ "$(extversion upg2)" = 0.2.0 ] || fail "upg2 is not at 0.2.0"
echo "0.2.0 records: $(record upg2 '^(api|ae)' | tr '\n' ' ')"
n2_before=$(q -d upg2 -c "SELECT count(*) FROM forgea_audit.lab_attempt")
[ "$n2_before" -ge 5 ] || fail "0.2.0 recorded only $n2_before attempts"
q -d upg2 -c "SELECT forgea_audit.append('LAB_NOTE', actor_type => 'user', actor_id => 'u1', target_type => 'lab_session', target_id => 'sess-gh')" >/dev/null
checkpoint2=$(take_checkpoint upg2)
[ -n "$checkpoint2" ] || fail "no checkpoint from 0.2.0"
v=$(verify upg2 "$checkpoint2"); [ "${v%%|*}" = t ] || fail "0.2.0 chain does not verify: $v"
echo "0.2.0 verify_chain(checkpoint): $v"
receipt2=$(q -d upg2 -c "SELECT forgea_audit.receipt(min(id))::text FROM forgea_audit.lab_attempt")
[ -n "$receipt2" ] || fail "0.2.0 gave no receipt"
rows2_before=$(q -d upg2 -c "SELECT count(*) FROM forgea_audit.audit_log")

# 4. The current library, the old SQL: refused, clearly, nothing written.
install_and_restart "$FA_ROOT"
check_refusal upg1 0.1.0
check_refusal upg2 0.2.0

# 5. The updates: upg1 through both upgrade scripts (0.1.0 -> 0.2.0 -> current) with the current
# library loaded, upg2 through the last one.
prepare_db fresh
q -d fresh -c "CREATE EXTENSION forgea_audit; SELECT forgea_audit.bind_lab_session_table();" >/dev/null
q -d fresh -f test/upgrade/describe_extension.sql > "$FA_WORK/fresh.txt"
lines=$(grep -c '' "$FA_WORK/fresh.txt")
[ "$lines" -gt 500 ] || fail "the catalogue description has only $lines lines"

for db in upg1 upg2; do
    q -d "$db" -c "ALTER EXTENSION forgea_audit UPDATE" >/dev/null
    got=$(extversion "$db")
    [ "$got" = "$FA_LIB_VERSION" ] || fail "ALTER EXTENSION UPDATE left $db at version $got, not $FA_LIB_VERSION"
    v=$(verify "$db"); [ "${v%%|*}" = t ] || fail "after the update $db's chain does not verify: $v"
done
v=$(verify upg1 "$checkpoint1"); [ "${v%%|*}" = t ] || fail "after the update the 0.1.0 checkpoint does not verify: $v"
echo "upg1 updated, verify_chain(0.1.0 checkpoint): $v"
v=$(verify upg2 "$checkpoint2"); [ "${v%%|*}" = t ] || fail "after the update the 0.2.0 checkpoint does not verify: $v"
echo "upg2 updated, verify_chain(0.2.0 checkpoint): $v"
[ "$(q -d upg1 -c "SELECT pg_relation_filenode('\"LabSession_forgea_repo_key_idx\"')")" != "$index_node" ] ||
    fail "the update did not rebuild LabSession_forgea_repo_key_idx (it holds 0.1.0's repo_key() results)"
got=$(q -d upg1 -c "$alice_sessions")
[ "$got" = "s-alice" ] || fail "after the update the index still finds '$got' under github.com/alice/lab, not only s-alice"
echo "upg1: LabSession_forgea_repo_key_idx rebuilt; the crafted fork URL no longer matches github.com/alice/lab"
# The 0.2.0 receipt is still the one the updated database gives for that attempt.
got=$(q -d upg2 -c "SELECT forgea_audit.receipt(min(id))::text FROM forgea_audit.lab_attempt")
[ "$got" = "$receipt2" ] || fail "the 0.2.0 receipt changed with the update: $receipt2 -> $got"

compare_catalogue upg1 0.1.0
compare_catalogue upg2 0.2.0

# Every C function binds to a symbol of the version the library serves.
stale=$(q -d fresh -c "SELECT string_agg(p.oid::regprocedure::text || ' -> ' || p.prosrc, ', ')
                       FROM pg_proc p WHERE p.pronamespace = 'forgea_audit'::regnamespace AND p.prolang = (SELECT l.oid FROM pg_language l WHERE l.lanname = 'c')
                         AND p.prosrc !~ '${FA_LIB_SUFFIX}\$'")
[ -z "$stale" ] || fail "C functions not bound to the ${FA_LIB_SUFFIX} symbols (FA_SQL_SYMBOL in src/pg/sql_version.hpp): $stale"

# 6. Life goes on: more pushes, a redelivery of an old one, a new checkpoint.
for db in upg1 upg2; do
    case $db in upg1) old=0.1.0 n_before=$n1_before rows_before=$rows1_before cp_old=$checkpoint1 ;;
                upg2) old=0.2.0 n_before=$n2_before rows_before=$rows2_before cp_old=$checkpoint2 ;; esac
    echo "$db after the update: $(record "$db" '^ghes' | tr '\n' ' ')"
    [ "$(q -d "$db" -c "SELECT count(*) FROM forgea_audit.lab_attempt")" -gt "$n_before" ] || fail "nothing recorded in $db after the update"
    dup=$(q -d "$db" -c "SELECT r.status FROM public.fixture_push f, forgea_audit.record_push(f.payload, f.guid::text) r
                         WHERE f.name = 'api-with-new-branch.payload'")
    [ "$dup" = duplicate ] || fail "redelivering an $old delivery after the update gave '$dup', not duplicate"
    cp_new=$(take_checkpoint "$db")
    for cp in "$cp_old" "$cp_new"; do
        v=$(verify "$db" "$cp"); [ "${v%%|*}" = t ] || fail "after more pushes $db's chain does not verify: $v"
    done
    rows_after=$(q -d "$db" -c "SELECT count(*) FROM forgea_audit.audit_log")
    [ "$rows_after" -gt "$rows_before" ] || fail "no audit rows in $db after the update"
    echo "$db final verify_chain (both checkpoints): $v; audit rows $rows_before -> $rows_after"
done
echo "upgrade from 0.1.0 and from 0.2.0: ok"

# Shared by the integration scripts: TAP-style checks and a quiet psql.  Source it; failures counts.
failures=0
check() {  # description, actual, expected
    if [ "$2" == "$3" ]; then
        echo "ok - $1"
    else
        echo "not ok - $1"
        echo "#   got:      $2"
        echo "#   expected: $3"
        failures=$((failures + 1))
    fi
}
q() { local db=$1; shift; psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }

# Runs a server a test starts in the background (`tied nginx ... &`) so that it dies with the test's
# shell even when that shell is killed outright and its cleanup trap never runs: an orphaned nginx or
# witness would keep its port, and any file descriptor it inherited (a caller's flock) open.  The
# process keeps the pid $! names (the function's subshell execs it), so `kill "$pid"` still works.
tied() { exec setpriv --pdeathsig TERM -- "$@"; }

# Polls SQL in $PGDATABASE (default postgres) until it returns t, for up to $3 seconds, each try
# bounded too: a check that turns a hang into a failure, never a wait for the machine to be slow.
eventually() {  # description, SQL that becomes t, seconds
    local deadline=$((SECONDS + $3)) db=${PGDATABASE:-postgres}
    while [ $SECONDS -lt $deadline ]; do
        [ "$(timeout 30 psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$2" 2>/dev/null)" = t ] && { check "$1" t t; return 0; }
        sleep 0.2
    done
    check "$1 (not within $3 s)" "$(timeout 30 psql -X -q -A -t -d "$db" -c "$2" 2>&1)" t
    return 1
}

# Points forgea_audit.signing_key_file and forgea_audit.verify_key_file of the cluster at two files,
# or resets either with "" (ALTER SYSTEM and a reload; forgea_audit.* names are reserved by the
# module, so the session that sets them loads it first).  After setting a signing key it waits, 5 s
# at most, until a new session of $db (default $PGDATABASE) sees it, so that the next checkpoint()
# is signed with it.
set_key_file() {  # private key file or "", public key file or "" (optional)
    local db=${db:-$PGDATABASE}
    local set="ALTER SYSTEM RESET forgea_audit.signing_key_file" set_pub="ALTER SYSTEM RESET forgea_audit.verify_key_file"
    [ -n "$1" ] && set="ALTER SYSTEM SET forgea_audit.signing_key_file = '$1'"
    [ -n "${2:-}" ] && set_pub="ALTER SYSTEM SET forgea_audit.verify_key_file = '$2'"
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "LOAD 'forgea_audit'" -c "$set" -c "$set_pub" -c "SELECT pg_reload_conf()" >/dev/null || return 1
    [ -n "$1" ] || return 0
    for _ in $(seq 50); do
        [ "$(q "$db" "SELECT current_setting('forgea_audit.signing_key_file', true)")" == "$1" ] && return 0
        sleep 0.1
    done
}

# Shared by test/faults/*.sh: clusters of their own, made with initdb/pg_ctl in a temporary
# directory (pg_virtualenv wraps one cluster; these tests need to crash, copy and promote them).
# Each cluster listens on a Unix socket in its own directory and on no TCP port, so the port number
# only names the socket and cannot collide with anyone's cluster.  A trap stops every cluster
# (immediate) and removes the directory, whatever happens.
#
# Source it from the repository root; then: fa_init NAME [postgresql.conf lines...]; fa_start NAME;
# fa_psql NAME DB SQL; fa_env NAME (exports PGHOST/PGPORT/PGUSER for psql and friends).
set -uo pipefail

FA_PGBIN=${FA_PGBIN:-$(pg_config --bindir)}
FA_PORT_BASE=${FA_PORT_BASE:-6200}
FA_TMP=$(mktemp -d /tmp/fa_faults.XXXXXX)
chmod 755 "$FA_TMP"
[ "$(id -u)" -eq 0 ] && chown postgres: "$FA_TMP"
declare -A FA_PORT=()
FA_CLUSTERS=()

# Runs a server binary as postgres (PostgreSQL refuses root).
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

fa_cleanup() {
    local c
    for c in "${FA_CLUSTERS[@]}"; do
        [ -f "$FA_TMP/$c/postmaster.pid" ] && as_pg "$FA_PGBIN/pg_ctl" -D "$FA_TMP/$c" stop -m immediate >/dev/null 2>&1
    done
    rm -rf "$FA_TMP"
}
trap fa_cleanup EXIT

fa_dir() { echo "$FA_TMP/$1"; }
fa_sock() { echo "$FA_TMP/sock-$1"; }
fa_log() { echo "$FA_TMP/$1.log"; }

# Registers a cluster name with its port and socket directory (for fa_init and for a copy).
fa_register() {
    FA_PORT[$1]=$((FA_PORT_BASE + ${#FA_CLUSTERS[@]}))
    FA_CLUSTERS+=("$1")
    mkdir -p "$(fa_sock "$1")"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$(fa_sock "$1")"
    return 0
}

# The settings every cluster here gets, then the caller's.
fa_conf() {  # name, lines...
    local name=$1; shift
    {
        echo "port = ${FA_PORT[$name]}"
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$(fa_sock "$name")'"
        echo "logging_collector = off"
        echo "log_line_prefix = '%m [%p] %b '"
        printf '%s\n' "$@"
    } >> "$(fa_dir "$name")/postgresql.conf"
}

fa_init() {  # name, postgresql.conf lines...
    local name=$1; shift
    fa_register "$name"
    as_pg "$FA_PGBIN/initdb" -D "$(fa_dir "$name")" -A trust -U postgres -E UTF8 --locale=C.utf8 --no-sync >/dev/null \
        || { echo "initdb of $name failed" >&2; return 1; }
    fa_conf "$name" "$@"
}

fa_start() { as_pg "$FA_PGBIN/pg_ctl" -D "$(fa_dir "$1")" -l "$(fa_log "$1")" -w -t 60 start >/dev/null; }
fa_stop_immediate() { as_pg "$FA_PGBIN/pg_ctl" -D "$(fa_dir "$1")" -w -t 60 stop -m immediate >/dev/null; }

# Waits until the cluster accepts connections (after a start or a crash restart).
fa_wait_ready() {  # name, seconds
    local deadline=$((SECONDS + ${2:-60}))
    while [ $SECONDS -lt $deadline ]; do
        psql -X -A -t -q -h "$(fa_sock "$1")" -p "${FA_PORT[$1]}" -U postgres -d postgres -c "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

fa_env() { export PGHOST=$(fa_sock "$1") PGPORT=${FA_PORT[$1]} PGUSER=postgres; }

fa_psql() {  # name, db, sql
    psql -X -A -t -q -v ON_ERROR_STOP=1 -h "$(fa_sock "$1")" -p "${FA_PORT[$1]}" -U postgres -d "$2" -c "$3"
}

# TAP-style checks, counted.
fa_n=0
fa_failed=0
ok() { fa_n=$((fa_n + 1)); echo "ok $fa_n - $1"; }
not_ok() { fa_n=$((fa_n + 1)); fa_failed=$((fa_failed + 1)); echo "not ok $fa_n - $1"; }
check() {  # description, actual, expected
    if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1"; echo "#   got:      $2"; echo "#   expected: $3"; fi
}
fa_done() { echo "1..$fa_n"; [ "$fa_failed" -eq 0 ]; }

# A private PostgreSQL for a benchmark (sourced by bench/publish.sh and bench/everything_on.sh):
# this build installed into a copy of PostgreSQL's bin, lib and share (PostgreSQL finds its lib and
# share directories relative to its binary), so a benchmark neither writes the system's PostgreSQL
# directories nor sees someone else's `make install` halfway through; the cluster listens on a
# Unix socket in its data directory only.  As in bench/retention.sh.
#   private_install DIR          copies PostgreSQL into DIR once, then `make install DESTDIR=DIR`
#   private_initdb PGDATA PORT   initdb (as postgres) and the socket settings; more settings on stdin
#   private_start PGDATA / private_stop PGDATA
# PGBIN is set by private_install.
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

private_install() {
    local dir=$1 bindir sharedir
    bindir=$($PG_CONFIG --bindir)
    sharedir=$($PG_CONFIG --sharedir)
    PGBIN=$dir$bindir
    if [ ! -x "$PGBIN/postgres" ]; then
        mkdir -p "$dir$(dirname "$bindir")" "$dir$(dirname "$sharedir")"
        cp -a "$(dirname "$bindir")" "$dir$(dirname "$(dirname "$bindir")")/"
        cp -a "$sharedir" "$dir$(dirname "$sharedir")/"
    fi
    make -s install DESTDIR="$dir" >/dev/null
    [ "$("$PGBIN/pg_config" --sharedir)" = "$dir$sharedir" ] || { echo "the private copy is not relocatable" >&2; return 1; }
}

private_initdb() {
    local data=$1 port=$2
    mkdir -p "$data"; chown postgres: "$data"; chmod 700 "$data"
    as_pg "$PGBIN/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
    { echo "listen_addresses = ''"; echo "unix_socket_directories = '$data'"; echo "port = $port"; cat; } >> "$data/postgresql.conf"
}

private_start() {
    as_pg "$PGBIN/pg_ctl" -D "$1" status >/dev/null 2>&1 ||
        as_pg "$PGBIN/pg_ctl" -D "$1" -l "$1/server.log" -w -t 120 start >/dev/null
}

private_stop() {
    [ -f "$1/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$1" -w stop -m fast >/dev/null
    return 0
}

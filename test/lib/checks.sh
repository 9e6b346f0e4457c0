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

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


# Debian packages the build and the tests need; installed only when missing.
FA_PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-contrib postgresql-15-pgtap postgresql-15-cron libssl-dev libpq-dev libcurl4-openssl-dev openssl
             libtap-parser-sourcehandler-pgtap-perl libgtest-dev g++ make clang libclang-rt-14-dev jq graphviz curl prometheus prometheus-postgres-exporter
             golang-go golang-golang-x-mod-dev nginx chromium python3-cryptography)

install_deps() {
    local missing=()
    for p in "${FA_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    # The reference webhook receiver's test (test/integration/webhook_receiver.sh) needs Node.js 20+
    # and npm; Debian's own nodejs is older, so only a missing node is installed from Debian.
    command -v node >/dev/null || missing+=(nodejs npm)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# A port no PostgreSQL (or anything else) listens on: `pg_virtualenv -t` would otherwise take 5432
# and collide with any other cluster on this machine.  FA_PORT_FROM (default 5440) is where the search
# starts: test/run_tests.sh's two lanes search from 5440 and from 6000, so that two clusters being
# started at the same moment never pick the same port.
free_port() {
    local p from=${FA_PORT_FROM:-5440}
    for p in $(seq "$from" $((from + 559))); do
        [ -e "/var/run/postgresql/.s.PGSQL.$p" ] && continue
        (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
        echo "$p"
        return 0
    done
    return 1
}

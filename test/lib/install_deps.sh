# Debian packages the build and the tests need; installed only when missing.
FA_PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-contrib postgresql-15-pgtap
             libtap-parser-sourcehandler-pgtap-perl libgtest-dev g++ make)

install_deps() {
    local missing=()
    for p in "${FA_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

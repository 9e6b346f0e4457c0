#!/usr/bin/env bash
# The Debian package, end to end, on a Debian 12 machine, as root:
#   1. installs what building needs (apt-get build-dep on the source, lintian);
#   2. builds postgresql-15-forgea-audit from a clean copy of HEAD (git archive: the work tree is
#      not touched, uncommitted changes are not in it) with dpkg-buildpackage -us -uc -b, build-time
#      test included (dh_pgxs_test: `make installcheck` against debian/<package>/ in a throwaway
#      cluster), and runs lintian on it (any error or warning not overridden fails); checks that the
#      package holds the library, the control file, every install and upgrade script of the tree,
#      and the tools in /usr/bin with their manual pages, and depends on postgresql-15;
#   3. builds the previous release's package: the newest release of test/upgrade/releases.txt
#      other than this version (0.2.0), from its pinned commit with its own debian/ (whose
#      changelog ends at that release), without its build-time tests (DEB_BUILD_OPTIONS=nocheck:
#      the release's tests are not what is tested here);
#   4. apt-get install ./<previous>.deb; in a throwaway cluster: CREATE EXTENSION (the previous
#      version), a real push through record_push (a GitHub fixture, the platform's "LabSession"
#      DDL), verify_chain(), a checkpoint; apt-get install ./<current>.deb (the upgrade); the
#      previous version's functions refuse until ALTER EXTENSION forgea_audit UPDATE; then the
#      chain and the old checkpoint verify, a new push is recorded, and the log exported with
#      /usr/bin/forgea_audit_export verifies with /usr/bin/forgea_audit_verify; in a second
#      database a fresh CREATE EXTENSION of the current version records a push and verifies;
#   5. the package's autopkgtest (debian/tests/installcheck: pg_buildext installcheck, i.e. `make
#      installcheck` against the installed package), unless FA_DEB_AUTOPKGTEST=0;
#   6. apt-get purge: the package is gone, and so is every file dpkg -L listed for it (and for the
#      previous release's package), and every directory it listed that did not exist before the
#      first install.
#
# Usage: bash test/package/deb_package.sh
# Environment:
#   FA_INSTALL_LOCK  a lock file: steps 4-6 (which write the system's PostgreSQL directories, as
#                    `make install` does) run under flock on it; the build does not
#   FA_APT_LOCK      a lock file every apt-get runs under (apt-get also waits 300 s for dpkg's lock)
#   PGPORT           the port of the throwaway clusters (default: a free one)
#   FA_DEB_KEEP=1    keep the work directory (the .deb files, the logs) and print where it is
#   FA_DEB_BUILD_CHECK=0  build this version's package without its build-time installcheck
#                    (DEB_BUILD_OPTIONS=nocheck): test/run_tests.sh does, since step 5's autopkgtest
#                    runs the same `make installcheck` against the installed package, and the suite
#                    has run it against the build already; refused together with FA_DEB_AUTOPKGTEST=0
# Takes about 5 minutes on 2 cores once the build dependencies are installed (CI, 2026-12-07: this
# version's build 157 s with its build-time installcheck, 84 s without; 0.2.0's ~50 s; steps 4-6
# ~80 s, of which the autopkgtest 60-70 s); installing them on a fresh machine adds the time
# apt-get takes.  Run by test/run_tests.sh (with FA_DEB_BUILD_CHECK=0).
# The package is purged at the end whatever happened, which removes the extension's files from the
# system PostgreSQL directories: run `make install` afterwards to use a build of the work tree.
set -euo pipefail

# apt-get, under FA_APT_LOCK when given, waiting for dpkg's own lock too.
apt_get() {
    if [ -n "${FA_APT_LOCK:-}" ]; then
        flock "$FA_APT_LOCK" apt-get -o DPkg::Lock::Timeout=300 "$@"
    else
        apt-get -o DPkg::Lock::Timeout=300 "$@"
    fi
}
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== [$(($(date +%s) - FA_START)) s] $*"; }
export DEBIAN_FRONTEND=noninteractive
pkg=postgresql-15-forgea-audit

case "${1:-build}" in
build)   # ---- steps 1-3, then 4-6 (under FA_INSTALL_LOCK when given) ----------------------------
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
. test/lib/install_deps.sh   # free_port

[ "$(id -u)" = 0 ] || fail "run as root (it installs and removes a Debian package)"
command -v git >/dev/null && git rev-parse -q --verify HEAD >/dev/null || fail "needs the git repository"

work=$(mktemp -d /tmp/fa_deb.XXXXXX)
chmod 755 "$work"   # the throwaway clusters run as postgres and read the sources' fixtures
finish() {
    if [ "${FA_DEB_KEEP:-0}" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap finish EXIT
export FA_START=$(date +%s)
export PGPORT=${PGPORT:-$(free_port)}   # the build-time test's cluster too

# 1-2. The current tree's package.
version=$(sed -n "s/^default_version = '\(.*\)'$/\1/p" forgea_audit.control)
step "building postgresql-15-forgea-audit $version from $(git rev-parse --short HEAD) (git archive)"
mkdir -p "$work/cur/src"
git archive HEAD | tar -x -C "$work/cur/src"
[ -d "$work/cur/src/debian" ] || fail "HEAD has no debian/ (commit it first: the package is built from HEAD)"
cd "$work/cur/src"
command -v dpkg-checkbuilddeps >/dev/null || { apt_get update -qq; apt_get install -y -qq dpkg-dev >/dev/null; }
if ! dpkg-checkbuilddeps 2>/dev/null || ! command -v lintian >/dev/null; then
    step "installing the build dependencies (apt-get build-dep ./) and lintian"
    apt_get update -qq
    apt_get build-dep -y -qq ./ >/dev/null
    apt_get install -y -qq lintian >/dev/null
fi
dpkg-checkbuilddeps || fail "build dependencies still missing after apt-get build-dep ./"
# As Debian builds it, build-time test included: dh_pgxs_test runs `make installcheck` against
# debian/postgresql-15-forgea-audit/ (pg_virtualenv -p: extension_destdir) in a throwaway cluster;
# with FA_DEB_BUILD_CHECK=0 without it (nocheck), step 5 then being the package's installcheck.
if [ "${FA_DEB_BUILD_CHECK:-1}" = 1 ]; then build_options=${DEB_BUILD_OPTIONS:-}; else
    [ "${FA_DEB_AUTOPKGTEST:-1}" = 1 ] || fail "FA_DEB_BUILD_CHECK=0 with FA_DEB_AUTOPKGTEST=0: nothing would run the package's installcheck"
    build_options="nocheck${DEB_BUILD_OPTIONS:+ $DEB_BUILD_OPTIONS}"
fi
DEB_BUILD_OPTIONS=$build_options dpkg-buildpackage -us -uc -b -j2 >"$work/build-cur.log" 2>&1 ||
    { grep -E -A3 '^not ok|^pgTAP|^ *[0-9]+ tests? failed|FAILED|failed|rror' "$work/build-cur.log" | grep -v '^[0-9-]* [0-9:.]* UTC' | tail -40
      fail "dpkg-buildpackage of $version failed (FA_DEB_KEEP=1 keeps build-cur.log)"; }
if [ "${FA_DEB_BUILD_CHECK:-1}" = 1 ]; then
    grep -q '^### End 15 installcheck ###$' "$work/build-cur.log" || fail "the build-time installcheck did not run ($work/build-cur.log)"
    echo "ok - dpkg-buildpackage -us -uc -b, build-time installcheck: $(grep -E '^ *All [0-9]+ tests passed|^pgTAP: ' "$work/build-cur.log" | tr -s ' ' | paste -sd ';' -)"
else
    ! grep -q '^### End 15 installcheck ###$' "$work/build-cur.log" || fail "nocheck, yet the build-time installcheck ran ($work/build-cur.log)"
    echo "ok - dpkg-buildpackage -us -uc -b (DEB_BUILD_OPTIONS=nocheck: the installcheck runs in step 5, against the installed package)"
fi
deb="$work/cur/postgresql-15-forgea-audit_${version}_amd64.deb"
[ -f "$deb" ] || fail "dpkg-buildpackage made no $(basename "$deb"): $(ls "$work/cur")"
cd "$ROOT"

step "lintian"
# A version not released yet is UNRELEASED in debian/changelog (test/package/versions_agree.sh
# checks it), which lintian reports on the .changes as the error unreleased-changes: that one is
# expected then, and only then.
suppress=()
[ "$(sed -n '1s/^forgea-audit ([^)]*) \([^;]*\);.*/\1/p' debian/changelog)" = UNRELEASED ] &&
    suppress=(--suppress-tags unreleased-changes)
lintian -I --fail-on error,warning --tag-display-limit 0 "${suppress[@]}" "$work/cur/forgea-audit_${version}_amd64.changes" \
    >"$work/lintian.log" 2>&1 || { cat "$work/lintian.log"; fail "lintian reports an error or a warning not overridden"; }
sed 's/^/    /' "$work/lintian.log"

# What the package must hold.
dpkg-deb -c "$deb" | awk '{ print $NF }' | sed 's,^\./,/,' | sort >"$work/contents.txt"
expect=(/usr/lib/postgresql/15/lib/forgea_audit.so /usr/share/postgresql/15/extension/forgea_audit.control
        /usr/bin/forgea_audit_verify /usr/bin/forgea_audit_export /usr/bin/forgea_audit_publish
        /usr/bin/forgea_audit_witness
        /usr/share/man/man1/forgea_audit_verify.1.gz /usr/share/man/man1/forgea_audit_export.1.gz
        /usr/share/man/man1/forgea_audit_publish.1.gz /usr/share/man/man1/forgea_audit_witness.1.gz
        /usr/share/doc/postgresql-15-forgea-audit/copyright)
for f in forgea_audit--*.sql; do expect+=("/usr/share/postgresql/15/extension/$f"); done
for f in "${expect[@]}"; do grep -qxF "$f" "$work/contents.txt" || fail "the package lacks $f"; done
# Test code stays out: the canonical-JSON oracle module is built for the tests only.
! grep -n 'test_oracle' "$work/contents.txt" || fail "the package ships the test-only module above"
sql_in_deb=$(grep -c '^/usr/share/postgresql/15/extension/forgea_audit--.*\.sql$' "$work/contents.txt")
[ "$sql_in_deb" = "$(ls forgea_audit--*.sql | wc -l)" ] || fail "the package holds $sql_in_deb SQL scripts, the tree $(ls forgea_audit--*.sql | wc -l)"
dpkg-deb -f "$deb" Depends | grep -q 'postgresql-15' || fail "the package does not depend on postgresql-15: $(dpkg-deb -f "$deb" Depends)"
echo "ok - $(basename "$deb"): $(wc -l <"$work/contents.txt") paths, every expected one, $sql_in_deb SQL scripts; Depends: $(dpkg-deb -f "$deb" Depends)"

# 3. The previous release's package: the newest release that is not this version, with its own debian/.
old_version=$(awk -v cur="$version" '!/^#/ && NF && $1 != cur { v = $1 } END { print v }' test/upgrade/releases.txt)
release=$(awk -v v="$old_version" '$1 == v { print $2 }' test/upgrade/releases.txt)
[ -n "$old_version" ] || fail "test/upgrade/releases.txt names no release other than $version"
git cat-file -e "$release^{commit}" 2>/dev/null || fail "release $old_version ($release, test/upgrade/releases.txt) is not in this clone"
step "building the $old_version package from $release (its own tree and debian/)"
mkdir -p "$work/old/src"
git archive "$release" | tar -x -C "$work/old/src"
[ -d "$work/old/src/debian" ] || fail "release $old_version has no debian/ (a release before 0.2.0 is not a package)"
[ "$(sed -n '1s/^forgea-audit (\([^)]*\)).*/\1/p' "$work/old/src/debian/changelog")" = "$old_version" ] ||
    fail "release $old_version's debian/changelog does not start with $old_version"
(cd "$work/old/src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b -j2 >"$work/build-old.log" 2>&1) ||
    { tail -40 "$work/build-old.log"; fail "dpkg-buildpackage of $old_version failed ($work/build-old.log)"; }
old_deb="$work/old/postgresql-15-forgea-audit_${old_version}_amd64.deb"
[ -f "$old_deb" ] || fail "no $(basename "$old_deb")"
echo "ok - $(basename "$old_deb") built"

# 4-6 write the system's PostgreSQL directories: under FA_INSTALL_LOCK when given.
export FA_ROOT="$ROOT" FA_WORK="$work" FA_DEB="$deb" FA_OLD_DEB="$old_deb" FA_VERSION="$version" \
       FA_OLD_VERSION="$old_version"
if [ -n "${FA_INSTALL_LOCK:-}" ]; then
    step "waiting for $FA_INSTALL_LOCK"
    if flock "$FA_INSTALL_LOCK" bash "$ROOT/test/package/deb_package.sh" installed; then rc=0; else rc=$?; fi
else
    if bash "$ROOT/test/package/deb_package.sh" installed; then rc=0; else rc=$?; fi
fi
step "done (exit $rc)"
exit $rc
;;

installed)   # ---- steps 4-6: install, use, upgrade, purge ------------------------------------
cd "$FA_ROOT"

# Which directories the packages' paths name exist before the first install (they stay after).
{ dpkg-deb -c "$FA_DEB"; dpkg-deb -c "$FA_OLD_DEB"; } | awk '{ print $NF }' | sed 's,^\./,/,; s,/$,,' |
    grep -v '^$' | sort -u >"$FA_WORK/paths.txt"
while read -r p; do [ -d "$p" ] && echo "$p"; done <"$FA_WORK/paths.txt" >"$FA_WORK/dirs_before.txt" || true

purged=0
purge() {   # removes the package; every path it listed must be gone
    [ "$purged" = 1 ] && return 0
    purged=1
    local listed="$FA_WORK/dpkg-L.txt" left=0 p
    { dpkg -L "$pkg" 2>/dev/null || true; cat "$FA_WORK/dpkg-L-old.txt" 2>/dev/null || true; } | sort -u >"$listed"
    apt_get purge -y -qq "$pkg" >/dev/null
    local status
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        ""|not-installed) ;;
        *) echo "FAIL: after apt-get purge, dpkg says $pkg is $status" >&2; left=1 ;;
    esac
    while read -r p; do
        [ -z "$p" ] || [ "$p" = /. ] && continue
        if [ -d "$p" ] && [ ! -L "$p" ]; then
            grep -qxF "$p" "$FA_WORK/dirs_before.txt" && continue   # e.g. /usr/bin, /usr/lib/postgresql/15/lib
            echo "FAIL: directory $p, created by the package, is left after purge" >&2; left=1
        elif [ -e "$p" ] || [ -L "$p" ]; then
            echo "FAIL: $p is left after purge" >&2; left=1
        fi
    done <"$listed"
    [ "$left" = 0 ] && echo "ok - apt-get purge $pkg: none of its $(grep -c '' "$listed") listed paths left (directories that predate it excepted)"
    return $left
}
on_exit() {
    local rc=$?
    purge || rc=1
    exit $rc
}
trap on_exit EXIT

step "apt-get install ./$(basename "$FA_OLD_DEB")"
apt_get install -y -qq "$FA_OLD_DEB" >/dev/null
[ "$(dpkg-query -W -f='${Version}' "$pkg")" = "$FA_OLD_VERSION" ] || fail "$pkg $FA_OLD_VERSION is not installed"
dpkg -L "$pkg" >"$FA_WORK/dpkg-L-old.txt"

step "$FA_OLD_VERSION -> $FA_VERSION in a throwaway cluster (port $PGPORT)"
pg_virtualenv -t -v 15 bash "$FA_ROOT/test/package/deb_package.sh" cluster

if [ "${FA_DEB_AUTOPKGTEST:-1}" = 1 ]; then
    step "autopkgtest: debian/tests/installcheck (pg_buildext installcheck) against the installed package"
    # As autopkgtest runs it: from the unpacked source, the package installed.
    (cd "$FA_WORK/cur/src" && debian/tests/installcheck) >"$FA_WORK/autopkgtest.log" 2>&1 ||
        { tail -60 "$FA_WORK/autopkgtest.log"; fail "debian/tests/installcheck failed ($FA_WORK/autopkgtest.log)"; }
    grep -E '^(# All|All|pgTAP:|=+$|.*tests passed)' "$FA_WORK/autopkgtest.log" | tail -5 | sed 's/^/    /'
    echo "ok - debian/tests/installcheck"
fi

step "apt-get purge $pkg"
trap - EXIT
purge
;;

cluster)   # ---- inside pg_virtualenv: the previous release, the upgrade, a fresh install -------
cd "$FA_ROOT"
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fixture=test/fixtures/github/push/api-with-new-branch.payload.json
second=test/fixtures/github/push/api-payload.json
prepare() {   # a database with the platform's "LabSession" (its Prisma DDL), one session on the fixtures' fork
    createdb -E UTF8 -T template0 "$1"
    q -d "$1" -f test/fixtures/app-schema/lab_session.sql >/dev/null
    q -d "$1" -c "INSERT INTO \"LabSession\" (id, \"userId\", \"labId\", \"userForkUrl\", status, \"updatedAt\")
                  VALUES ('sess-1', 'student-42', 'lab-git-basics', 'https://github.com/Codertocat/Hello-World.git',
                          'IN_PROGRESS', now())" >/dev/null
}
push() {   # database, payload file, delivery GUID: prints record_push's status
    q -d "$1" -v payload="$(cat "$2")" -v guid="$3" <<'SQL'
SELECT status FROM forgea_audit.record_push(:'payload', :'guid', '{"X-GitHub-Event": "push"}')
SQL
}
verify() {   # database, [checkpoint (base64)]: prints ok|rows|detail
    q -d "$1" -F '|' -v cp="${2:-}" <<'SQL'
SELECT ok, rows_checked, detail FROM forgea_audit.verify_chain(convert_from(decode(nullif(:'cp', ''), 'base64'), 'UTF8'))
SQL
}
extversion() { q -d "$1" -c "SELECT extversion FROM pg_extension WHERE extname = 'forgea_audit'"; }

# The previous release, from its package.
prepare app
q -d app -c "CREATE EXTENSION forgea_audit" >/dev/null
got=$(extversion app)
[ "$got" = "$FA_OLD_VERSION" ] || fail "CREATE EXTENSION from the $FA_OLD_VERSION package made version $got"
st=$(push app "$fixture" 72d3162e-cc78-11e3-81ab-4c9367dc0958)
[ "$st" = recorded ] || fail "$FA_OLD_VERSION record_push: $st"
[ "$(q -d app -c "SELECT count(*) FROM forgea_audit.lab_attempt WHERE session_id = 'sess-1'")" = 1 ] ||
    fail "$FA_OLD_VERSION record_push recorded no attempt of sess-1"
v=$(verify app); [ "${v%%|*}" = t ] || fail "$FA_OLD_VERSION verify_chain: $v"
echo "ok - $FA_OLD_VERSION package: CREATE EXTENSION, record_push recorded, verify_chain: $v"
cp=$(q -d app -c "SELECT encode(convert_to(forgea_audit.checkpoint(), 'UTF8'), 'base64')")

# The upgrade: the package first, then each database.
step "apt-get install ./$(basename "$FA_DEB") (the upgrade)"
apt_get install -y -qq "$FA_DEB" >/dev/null
[ "$(dpkg-query -W -f='${Version}' "$pkg")" = "$FA_VERSION" ] || fail "the package was not upgraded to $FA_VERSION"
# A new connection is a new backend, which loads the new library: the old SQL must refuse.
refusal=$(push app "$second" 9a3f0c2e-0001-4000-8000-000000000001 2>&1) &&
    fail "the $FA_OLD_VERSION SQL ran on the $FA_VERSION library: $refusal"
case "$refusal" in
    *"does not serve the SQL objects of version $FA_OLD_VERSION"*) echo "ok - before the update: $(head -1 <<<"$refusal")" ;;
    *) fail "the $FA_OLD_VERSION SQL on the new library: expected a refusal, got: $refusal" ;;
esac
q -d app -c "ALTER EXTENSION forgea_audit UPDATE" >/dev/null
got=$(extversion app)
[ "$got" = "$FA_VERSION" ] || fail "ALTER EXTENSION forgea_audit UPDATE left version $got"
v=$(verify app "$cp"); [ "${v%%|*}" = t ] || fail "after the update, verify_chain($FA_OLD_VERSION checkpoint): $v"
echo "ok - ALTER EXTENSION forgea_audit UPDATE to $got; verify_chain(the $FA_OLD_VERSION checkpoint): $v"
st=$(push app "$second" 9a3f0c2e-0001-4000-8000-000000000001)
[ "$st" = recorded ] || fail "$FA_VERSION record_push after the update: $st"
st=$(push app "$fixture" 72d3162e-cc78-11e3-81ab-4c9367dc0958)
[ "$st" = duplicate ] || fail "the $FA_OLD_VERSION delivery, redelivered after the update: $st, not duplicate"
v=$(verify app); [ "${v%%|*}" = t ] || fail "after a push on $FA_VERSION, verify_chain: $v"
echo "ok - $FA_VERSION record_push recorded, the $FA_OLD_VERSION delivery redelivered is a duplicate, verify_chain: $v"

# The tools, from /usr/bin: the log exported with a checkpoint and verified offline.
out="$FA_WORK/offline"; mkdir -p "$out"
q -d app -c "SELECT forgea_audit.checkpoint()" >"$out/checkpoint.txt"
/usr/bin/forgea_audit_export app "$out/export" "$out/checkpoint.txt" >/dev/null
verdict=$(/usr/bin/forgea_audit_verify --dir "$out/export" --checkpoint "$out/checkpoint.txt" --allow-unsigned) ||
    fail "/usr/bin/forgea_audit_verify: $verdict"
echo "ok - /usr/bin/forgea_audit_export, then /usr/bin/forgea_audit_verify: $verdict"
# ... which is no rubber stamp: a changed row of the export fails it.
cp "$out/export/audit_log.csv" "$out/audit_log.orig"
# The first attempt's audit row, credited to another student:
sed -i '0,/,student-42,webhook,/s//,student-43,webhook,/' "$out/export/audit_log.csv"
cmp -s "$out/audit_log.orig" "$out/export/audit_log.csv" && fail "no exported row has user_id student-42"
verdict=$(/usr/bin/forgea_audit_verify --dir "$out/export" --checkpoint "$out/checkpoint.txt" --allow-unsigned) &&
    fail "the verifier accepted an export with a changed row: $verdict"
echo "ok - the same export with one row changed: $verdict"
rm -rf "$out"

# A fresh install of the current version from its package.
prepare fresh
q -d fresh -c "CREATE EXTENSION forgea_audit" >/dev/null
got=$(extversion fresh)
[ "$got" = "$FA_VERSION" ] || fail "CREATE EXTENSION from the $FA_VERSION package made version $got"
st=$(push fresh "$fixture" 72d3162e-cc78-11e3-81ab-4c9367dc0958)
[ "$st" = recorded ] || fail "$FA_VERSION record_push in a fresh database: $st"
v=$(verify fresh); [ "${v%%|*}" = t ] || fail "$FA_VERSION verify_chain in a fresh database: $v"
echo "ok - a fresh CREATE EXTENSION ($got) from the package: record_push recorded, verify_chain: $v"
;;
*) fail "usage: $0" ;;
esac

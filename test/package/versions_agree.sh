#!/usr/bin/env bash
# The version is written in four places, which must agree: forgea_audit.control's default_version
# (what CREATE EXTENSION installs), META.json's version and provides.forgea_audit.version (PGXN),
# and debian/changelog's newest entry (the Debian package's version; 3.0 (native), so no Debian
# revision).  Also checked, because they go stale the same way:
#   - debian/changelog has an entry for every released version (test/upgrade/releases.txt);
#   - a version not released yet (not in test/upgrade/releases.txt) is UNRELEASED in
#     debian/changelog, "(unreleased)" in CHANGELOG.md and not "stable" in META.json; a released
#     one is none of these (releasing means editing all three and pinning the commit);
#   - META.json has the PGXN meta-spec 1.0.0 keys, with the values the spec allows, and names an
#     install script that exists (forgea_audit--<version>.sql);
#   - debian/control is what `pg_buildext updatecontrol` makes of debian/control.in.
# No cluster, no build: run by test/run_tests.sh; `bash test/package/versions_agree.sh` by hand.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/lib/checks.sh   # check, failures

control=$(sed -n "s/^default_version = '\(.*\)'$/\1/p" forgea_audit.control)
changelog_versions=$(sed -n 's/^forgea-audit (\([^)]*\)) .*/\1/p' debian/changelog)
newest=$(head -1 <<<"$changelog_versions")
meta_ok=1
jq -e . META.json >/dev/null || { echo "not ok - META.json is not JSON"; failures=$((failures + 1)); meta_ok=0; }

check "forgea_audit.control has a default_version" "$([ -n "$control" ] && echo yes)" yes
check "debian/changelog's newest entry ($newest) is the control file's default_version" "$newest" "$control"
if [ "$meta_ok" = 1 ]; then
    check "META.json version is the control file's default_version" "$(jq -r .version META.json)" "$control"
    check "META.json provides.forgea_audit.version is the control file's default_version" \
          "$(jq -r .provides.forgea_audit.version META.json)" "$control"
    file=$(jq -r .provides.forgea_audit.file META.json)
    check "META.json provides.forgea_audit.file is the default version's install script" "$file" "forgea_audit--$control.sql"
    check "that install script exists" "$([ -f "$file" ] && echo yes)" yes
    # PGXN meta-spec 1.0.0 (https://pgxn.org/spec/): the required keys and the forms of their values.
    check "META.json has every key meta-spec 1.0.0 requires" \
          "$(jq -r '[ "name", "abstract", "maintainer", "license", "provides", "version", "meta-spec" ]
                    - keys | join(",")' META.json)" ""
    check "META.json meta-spec.version" "$(jq -r '."meta-spec".version' META.json)" 1.0.0
    check "META.json name is the extension's" "$(jq -r .name META.json)" forgea_audit
    check "META.json license is the PostgreSQL License (LICENSE)" "$(jq -r .license META.json)|$(head -1 LICENSE)" \
          "postgresql|PostgreSQL License"
    check "META.json version is a semantic version" \
          "$(jq -r .version META.json | grep -Ec '^[0-9]+\.[0-9]+\.[0-9]+$')" 1
    check "META.json maintainer is a non-empty string or list" \
          "$(jq -r '.maintainer | if type == "array" then (length > 0 and all(type == "string")) else type == "string" end' META.json)" true
    check "every META.json provides entry has a file and a version" \
          "$(jq -r '[.provides[] | select((.file | type) != "string" or (.version | type) != "string")] | length' META.json)" 0
    check "META.json release_status is one the spec allows" \
          "$(jq -r '.release_status // "stable" | IN("stable", "testing", "unstable")' META.json)" true
    check "META.json requires the PostgreSQL version debian/pgversions builds for" \
          "$(jq -r .prereqs.runtime.requires.PostgreSQL META.json)" ">= $(cat debian/pgversions).0.0, < $(($(cat debian/pgversions) + 1)).0.0"
fi

missing=""
for v in $(awk '!/^#/ && NF { print $1 }' test/upgrade/releases.txt) "$control"; do
    grep -qxF "$v" <<<"$changelog_versions" || missing="$missing $v"
done
check "debian/changelog has an entry for every release (test/upgrade/releases.txt) and for $control" "$missing" ""

# Released or not: the four places say the same.
released=$(awk -v v="$control" '!/^#/ && $1 == v { print "yes" }' test/upgrade/releases.txt)
distribution=$(sed -n '1s/^forgea-audit ([^)]*) \([^;]*\);.*/\1/p' debian/changelog)
heading=$(grep -m1 -E "^## $(sed 's/\./\\./g' <<<"$control")( |\$)" CHANGELOG.md || true)
if [ -n "$released" ]; then
    check "$control is released: debian/changelog's entry names a distribution, not UNRELEASED" \
          "$([ "$distribution" != UNRELEASED ] && [ -n "$distribution" ] && echo yes)" yes
    check "$control is released: CHANGELOG.md has its section, not marked unreleased" \
          "$([ -n "$heading" ] && ! grep -q unreleased <<<"$heading" && echo yes)" yes
    [ "$meta_ok" = 1 ] && check "$control is released: META.json release_status is stable" \
          "$(jq -r '.release_status // "stable"' META.json)" stable
else
    check "$control is not released (test/upgrade/releases.txt): debian/changelog's entry is UNRELEASED" "$distribution" UNRELEASED
    check "$control is not released: CHANGELOG.md's section says \"(unreleased)\"" "$heading" "## $control (unreleased)"
    [ "$meta_ok" = 1 ] && check "$control is not released: META.json release_status is not stable" \
          "$(jq -r '.release_status // "stable" | . != "stable"' META.json)" true
fi

# debian/control is generated: `pg_buildext checkcontrol` (run by every package build) fails when it
# is stale.  It writes temporary files next to debian/control, so it runs on a copy.
if command -v pg_buildext >/dev/null; then
    tmp=$(mktemp -d)
    cp -r debian "$tmp/"
    out=$(cd "$tmp" && PG_UPDATECONTROL=no pg_buildext checkcontrol 2>&1)
    check "debian/control is up to date with debian/control.in (pg_buildext updatecontrol)" "$?|${out:0:300}" "0|"
    rm -rf "$tmp"
else
    echo "not ok - pg_buildext (postgresql-common) is not installed"; failures=$((failures + 1))
fi

[ "$failures" -eq 0 ]

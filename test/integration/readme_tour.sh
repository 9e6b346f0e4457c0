#!/usr/bin/env bash
# The README as a newcomer meets it: its quick tour (the block marked "<!-- run: tour -->") runs in
# this test's database and answers what its comments say (recorded, duplicate, the session moved
# STUCK -> IN_PROGRESS, verify_chain ok, a checkpoint note, a receipt that the offline verifier
# accepts); the README stays within 200 lines; every docs/ page it links exists; docs/flow.svg is
# what Graphviz makes of docs/flow.dot today.
set -uo pipefail
. test/lib/checks.sh
. test/lib/doc_blocks.sh
db=$PGDATABASE
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check "README.md is at most 200 lines" "$([ "$(wc -l <README.md)" -le 200 ] && echo yes || wc -l <README.md)" yes
missing=$(grep -o '](docs/[^)]*)' README.md | sed 's/^](//; s/)$//' | while read -r f; do [ -e "$f" ] || echo "$f"; done)
check "every docs/ page the README links exists" "$missing" ""
unlinked=$(for f in docs/*.md; do grep -q "](${f})" README.md || echo "$f"; done)
check "every docs/*.md page is in the README's table" "$unlinked" ""
check "the README's picture is docs/flow.svg" "$(grep -c '](docs/flow.svg)' README.md)" 1
if command -v dot >/dev/null; then
    dot -Tsvg docs/flow.dot -o "$work/flow.svg"
    check "docs/flow.svg is current (dot -Tsvg docs/flow.dot -o docs/flow.svg)" \
        "$(cmp -s "$work/flow.svg" docs/flow.svg && echo current || echo stale)" current
else
    check "graphviz (dot) is installed for the picture's check" missing installed
fi

blocks=$(doc_blocks README.md tour)
check "README.md has one tour block" "$(grep -c '^-- end of block' <<<"$blocks")" 1
out=$(psql -X -A -F ' | ' -v ON_ERROR_STOP=1 -d "$db" <<<"$blocks" 2>&1)
rc=$?
check "the tour runs without error" "$rc" 0
[ $rc -ne 0 ] && echo "$out" | tail -20 | sed 's/^/#   /'
check "... the first delivery is recorded" "$(grep -c '^recorded | 1 | sess-1 | ' <<<"$out")" 1
check "... its redelivery is a duplicate of attempt 1" "$(grep -c '^duplicate | 1 | sess-1 | ' <<<"$out")" 1
check "... the session moved to IN_PROGRESS" "$(grep -cx 'IN_PROGRESS' <<<"$out")" 1
check "... verify_chain says ok" "$(grep -cE '^t \| [0-9]+ \|  \| verified ' <<<"$out")" 1
check "... checkpoint() returns a note of this log" "$(grep -c '^forgea_audit' <<<"$out")" 1

# The receipt the tour printed, checked by the offline verifier as a student would.
make -s verifier >/dev/null
psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -c "SELECT forgea_audit.receipt(1)" >"$work/receipt.json"
# (Unsigned here: this cluster has no signing key; the demo signs its checkpoint.)
vout=$(tools/forgea_audit_verify --receipt "$work/receipt.json" --allow-unsigned 2>&1)
check "... and its receipt verifies offline" "$(grep -c '^ok: audit row [0-9]* (LAB_VERIFY_ATTEMPT)' <<<"$vout")" 1
[ "$failures" -eq 0 ] || echo "$vout" | sed 's/^/#   /'

[ "$failures" -eq 0 ]

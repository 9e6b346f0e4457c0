#!/usr/bin/env bash
# examples/prisma: the Prisma 7 models mapped onto forgea_audit's tables, their raw SQL migration,
# and a typed query through @prisma/adapter-pg, run for real:
#   npm ci (from the committed lockfile); prisma validate and prisma generate; tsc --noEmit over
#   query.ts and the generated client; the migration applied with psql to a new database that has
#   the platform's "LabSession"; a push recorded and redelivered; query.ts run as a login role in
#   forgea_audit_admin, its JSON checked (ids as strings, the delivery's two audit rows).
# Not run: `prisma migrate deploy/dev` and `prisma db pull`, which need Prisma's schema engine, a
# binary downloaded from binaries.prisma.sh (not from the npm registry; unreachable here).
# PRISMA_SCHEMA_ENGINE_BINARY points at /bin/false so that validate and generate (which use the
# WebAssembly build that comes from npm) do not try to download it.  examples/prisma/README.md.
set -uo pipefail
. test/lib/checks.sh
export PRISMA_SCHEMA_ENGINE_BINARY=/bin/false
work=$(mktemp -d)
db="${PGDATABASE}_prisma"
trap 'rm -rf "$work"; dropdb --if-exists "$db" >/dev/null 2>&1; psql -X -q -c "DROP ROLE IF EXISTS prisma_admin" >/dev/null 2>&1' EXIT
cd examples/prisma

npm ci --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1
rc=$?; [ $rc -ne 0 ] && cat "$work/npm.log"
check "npm ci from the lockfile" "$rc" 0
npx prisma validate >"$work/validate.log" 2>&1
check "prisma validate: the models map onto the extension's schema (@@schema, @@map)" "$(grep -c 'is valid' "$work/validate.log")" 1
npx prisma generate >"$work/generate.log" 2>&1
check "prisma generate (offline: the query compiler is WebAssembly from npm)" "$(grep -c 'Generated Prisma Client' "$work/generate.log")" 1
npx tsc --noEmit >"$work/tsc.log" 2>&1
rc=$?; [ $rc -ne 0 ] && cat "$work/tsc.log"
check "tsc --noEmit: query.ts type-checks against the generated client" "$rc" 0

createdb -E UTF8 -T template0 "$db"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f ../../test/fixtures/app-schema/lab_session.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f prisma/migrations/20261129000000_forgea_audit/migration.sql >"$work/migrate.log" 2>&1
check "the raw SQL migration creates the extension and binds the platform's table" "$?" 0
check "... the index on \"LabSession\" is there" \
    "$(q "$db" "SELECT count(*) FROM pg_indexes WHERE indexname = 'LabSession_forgea_repo_key_idx'")" 1

body=$(cat ../../test/fixtures/github/push/api-with-new-branch.payload.json)
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v body="$body" >/dev/null <<'SQL'
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('sess-1', 'user-1', 'lab-1', 'https://github.com/Codertocat/Hello-World', 'IN_PROGRESS', now());
SELECT forgea_audit.record_push_json(:'body', 'f6b04a2c-cc78-11e3-81ab-4c9367dc0958', '{"X-GitHub-Event": "push"}');
SELECT forgea_audit.record_push_json(:'body', 'f6b04a2c-cc78-11e3-81ab-4c9367dc0958', '{"X-GitHub-Event": "push"}');
SQL
password=$(openssl rand -hex 12)
q "$db" "CREATE ROLE prisma_admin LOGIN PASSWORD '$password' IN ROLE forgea_audit_admin; GRANT SELECT ON \"LabSession\" TO prisma_admin" >/dev/null

DATABASE_URL="postgresql://prisma_admin:$password@${PGHOST:-localhost}:${PGPORT:-5432}/$db" SESSION_ID=sess-1 \
    npx tsx query.ts >"$work/out.json" 2>"$work/query.err"
rc=$?; [ $rc -ne 0 ] && cat "$work/query.err"
check "query.ts runs through @prisma/adapter-pg as a forgea_audit_admin role" "$rc" 0
echo "#   $(head -c 400 "$work/out.json")"
summary=$(node -e '
    const rows = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const a = rows[0];
    console.log([rows.length, typeof a.id, a.id === String(BigInt(a.id)), a.deliveryId, a.audit.map((e) => e.action).join(","),
                 typeof a.audit[0].seq].join(" "));' "$work/out.json")
check "one typed attempt, BigInt ids serialised as strings, its delivery's audit rows in order" "$summary" \
    "1 string true f6b04a2c-cc78-11e3-81ab-4c9367dc0958 LAB_VERIFY_ATTEMPT,LAB_VERIFY_ATTEMPT_DUPLICATE string"

[ "$failures" -eq 0 ]

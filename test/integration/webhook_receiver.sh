#!/usr/bin/env bash
# The reference webhook receiver (examples/webhook-node) end to end: installs its dependencies from
# its lockfile (npm ci), starts `node examples/webhook-node/server.mjs` against this test database as
# a login role that is only in forgea_audit_writer, starts a second one whose database does not
# answer, type-checks the Next.js route (tsc; Next.js itself is not run), and runs test/integration/webhook_receiver.mjs (node:test, TAP) against them.
# Runs with PGDATABASE etc. pointing at a fresh database from test/lib/in_cluster.sh; cwd = repo root.
set -euo pipefail

PORT=${FA_RECEIVER_PORT:-6221}
DOWN_PORT=$((PORT + 1))
SECRET="it's a secret to everybody $RANDOM"
PASSWORD=$(openssl rand -hex 16)
work=$(mktemp -d)
pids=()
chmod 711 "$work"   # the server (OS user postgres) reads the signing key from here
keys_set=0
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ "$keys_set" -eq 1 ] && psql -X -q -c "LOAD 'forgea_audit'" -c "ALTER SYSTEM RESET forgea_audit.signing_key_file" \
        -c "ALTER SYSTEM RESET forgea_audit.verify_key_file" -c "SELECT pg_reload_conf()" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

command -v node >/dev/null || { echo "webhook_receiver: node is not installed (test/lib/install_deps.sh installs it)" >&2; exit 1; }
( cd examples/webhook-node && npm ci --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1 ) \
    || { cat "$work/npm.log" >&2; exit 1; }

# The Next.js route file is not run (no Next.js here), but it is type-checked with the handler.
( cd examples/webhook-node && npx tsc --noEmit ) || { echo "not ok - app/api/webhooks/github/route.ts type-checks" >&2; exit 1; }
echo "ok - app/api/webhooks/github/route.ts type-checks (tsc --noEmit)"

# The receiver's role: a member of forgea_audit_writer and nothing else.  One active session per
# repository the fixtures push to.
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
DO \$\$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'webhook_receiver') THEN
        CREATE ROLE webhook_receiver LOGIN IN ROLE forgea_audit_writer;
    END IF;
END \$\$;
ALTER ROLE webhook_receiver PASSWORD '$PASSWORD';
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt") VALUES
    ('sess-github', 'user-1', 'lab-1', 'https://github.com/Codertocat/Hello-World.git', 'IN_PROGRESS', now()),
    ('sess-ghes',   'user-2', 'lab-1', 'https://octocoders.github.io/Codertocat/Hello-World', 'IN_PROGRESS', now());
SQL

# Receipt links (docs/receipt_link.md): the answers carry receipt_link() for the attempt, read as a
# role that is only in forgea_audit_reader; the log's key signs checkpoints (its vkey is in the link).
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
DO \$\$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'receipt_reader') THEN
        CREATE ROLE receipt_reader LOGIN IN ROLE forgea_audit_reader;
    END IF;
END \$\$;
ALTER ROLE receipt_reader PASSWORD '$PASSWORD';
SQL
openssl genpkey -algorithm ed25519 -out "$work/key.pem" 2>/dev/null
openssl pkey -in "$work/key.pem" -pubout -out "$work/pub.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$work/w.pem" 2>/dev/null
chmod 600 "$work/key.pem"; chmod 644 "$work/pub.pem"; chown postgres: "$work/key.pem" "$work/pub.pem" 2>/dev/null || true
keys_set=1
psql -X -q -v ON_ERROR_STOP=1 -c "LOAD 'forgea_audit'" -c "ALTER SYSTEM SET forgea_audit.signing_key_file = '$work/key.pem'" \
     -c "ALTER SYSTEM SET forgea_audit.verify_key_file = '$work/pub.pem'" -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 50); do
    [ "$(psql -X -A -t -c "SELECT current_setting('forgea_audit.verify_key_file', true)")" == "$work/pub.pem" ] && break
    sleep 0.1
done
make -s tools >/dev/null 2>&1 || true
export RECEIPT_PAGE_URL="https://labs.example.edu/receipt/index.html" RECEIPT_LOG_URL="https://labs.example.edu/audit"
RECEIPT_WITNESSES=$(tools/forgea_audit_witness --name witness.example.edu/w --key "$work/w.pem" --print-vkey)
export RECEIPT_WITNESSES
receipt_url="postgresql://receipt_reader:$PASSWORD@${PGHOST:-localhost}:${PGPORT:-5432}/$PGDATABASE"

url="postgresql://webhook_receiver:$PASSWORD@${PGHOST:-localhost}:${PGPORT:-5432}/$PGDATABASE"
down_url="postgresql://webhook_receiver:$PASSWORD@127.0.0.1:1/$PGDATABASE"   # nothing listens on port 1

DATABASE_URL=$url RECEIPT_DATABASE_URL=$receipt_url GITHUB_WEBHOOK_SECRET=$SECRET PORT=$PORT \
    setpriv --pdeathsig TERM -- node examples/webhook-node/server.mjs >"$work/server.log" 2>&1 &
pids+=($!)
DATABASE_URL=$down_url GITHUB_WEBHOOK_SECRET=$SECRET PORT=$DOWN_PORT \
    setpriv --pdeathsig TERM -- node examples/webhook-node/server.mjs >"$work/down.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 100); do
    grep -q listening "$work/server.log" && grep -q listening "$work/down.log" && break
    sleep 0.1
done
grep -q listening "$work/server.log" || { echo "receiver did not start:" >&2; cat "$work/server.log" >&2; exit 1; }

rc=0
RECEIVER_URL="http://127.0.0.1:$PORT/api/webhooks/github" DOWN_URL="http://127.0.0.1:$DOWN_PORT/api/webhooks/github" \
WEBHOOK_SECRET=$SECRET \
    node --test --test-reporter=tap test/integration/webhook_receiver.mjs || rc=$?
if [ $rc -ne 0 ]; then
    echo "# receiver log:"; sed 's/^/#   /' "$work/server.log"
fi
exit $rc

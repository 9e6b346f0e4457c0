#!/usr/bin/env bash
# The publisher's numbers (docs/benchmarks.md, "Publishing"), in a throwaway cluster:
#   1. a log of TOTAL leaves (default 10 M), grown as bench/merkle.sh grows it: synthetic audit rows
#      inserted directly with the guards off (the integrator and the publisher read only seq and
#      row_hash; the rows do not verify: this database is for measuring, nothing else), integrated
#      1 M rows per call, then one checkpoint();
#   2. tools/forgea_audit_publish from scratch into an empty directory (target: 10 M leaves in 60 s);
#   3. a run with nothing new;
#   4. 10,000 real rows (append()), checkpoint(), an incremental run (target: 1 s);
#   5. Go's sumdb/tlog and sumdb/note check the result (test/lib/tlog_check), untimed for the targets.
# Not in CI.  Run as root from the repository root, after make install and make tools, under the
# bench lock:  flock /tmp/forgea_bench.lock bash bench/publish.sh
# (bench/merkle.sh's DISABLE TRIGGER is refused the same way now.)
# Settings: BENCH_PUBLISH_TOTAL (10000000), PORT (6246), BENCH_PUBLISH_DIR (a temporary directory
# on the same file system as /tmp unless set).
set -euo pipefail
TOTAL=${BENCH_PUBLISH_TOTAL:-10000000}
PORT=${PORT:-6246}
if [ "${1:-}" != inner ]; then
    export TOTAL
    exec pg_virtualenv -t -v 15 -c "--port=$PORT" -o shared_buffers=512MB -o max_wal_size=8GB \
        -o checkpoint_timeout=30min bash "$0" inner
fi
tool=$PWD/tools/forgea_audit_publish
[ -x "$tool" ] || { echo "run make tools first" >&2; exit 2; }
out=${BENCH_PUBLISH_DIR:-$(mktemp -d)}/log
echo "# machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
createdb -E UTF8 -T template0 bench
psql -X -q -d bench -c "CREATE EXTENSION forgea_audit" >/dev/null
q() { psql -X -q -A -t -d bench -c "$1"; }
ms() { date +%s%3N; }

echo "# 1. $TOTAL leaves (synthetic rows, 1 M per integrate call)"
# The DDL guard (an event trigger) refuses DISABLE TRIGGER on audit_log since the restore checks:
# switched off here, in this throwaway database only (ALTER EVENT TRIGGER fires no event trigger).
q "DO \$\$ DECLARE e name; BEGIN FOR e IN SELECT evtname FROM pg_event_trigger LOOP
       EXECUTE format('ALTER EVENT TRIGGER %I DISABLE', e); END LOOP; END \$\$" >/dev/null
q "ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER USER" >/dev/null
have=0
while [ "$have" -lt "$TOTAL" ]; do
    step=$(( TOTAL - have < 1000000 ? TOTAL - have : 1000000 ))
    q "INSERT INTO forgea_audit.audit_log (seq, chain_id, chain_pos, prev_hash, row_hash, created_at, actor_type, action, outcome, severity)
       SELECT s, 'synth:' || (s % 1000), s / 1000 + 1, '\\x$(printf '0%.0s' {1..64})'::bytea, sha256(int8send(s)), now(),
              'system', 'BENCH_SYNTH', 'success', 'INFO'
       FROM generate_series($have + 1, $have + $step) s" >/dev/null
    q "SELECT setval('forgea_audit.audit_log_seq', $have + $step)" >/dev/null
    q "SELECT forgea_audit.merkle_integrate()" >/dev/null
    have=$((have + step))
done
q "DO \$\$ DECLARE t name; BEGIN FOR t IN SELECT tgname FROM pg_trigger WHERE tgrelid = 'forgea_audit.audit_log'::regclass AND NOT tgisinternal LOOP
       EXECUTE format('ALTER TABLE forgea_audit.audit_log ENABLE ALWAYS TRIGGER %I', t); END LOOP; END \$\$" >/dev/null
q "DO \$\$ DECLARE e name; BEGIN FOR e IN SELECT evtname FROM pg_event_trigger LOOP
       EXECUTE format('ALTER EVENT TRIGGER %I ENABLE', e); END LOOP; END \$\$" >/dev/null
q "VACUUM ANALYZE forgea_audit.audit_log" >/dev/null; q "VACUUM ANALYZE forgea_audit.merkle_leaf" >/dev/null
q "VACUUM ANALYZE forgea_audit.merkle_tile" >/dev/null
# The checkpoints signed, so that Go's note.Open can check them (step 5).
keys=$(mktemp -d); chmod 711 "$keys"
openssl genpkey -algorithm ed25519 -out "$keys/key.pem" 2>/dev/null
chmod 600 "$keys/key.pem"; chown postgres: "$keys/key.pem" 2>/dev/null || true
psql -X -q -d bench -c "LOAD 'forgea_audit'" -c "ALTER SYSTEM SET forgea_audit.signing_key_file = '$keys/key.pem'" \
     -c "ALTER SYSTEM SET forgea_audit.log_origin = 'bench.example.org/audit'" -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 50); do [ "$(q "SELECT current_setting('forgea_audit.log_origin', true)")" == bench.example.org/audit ] && break; sleep 0.1; done
q "SELECT forgea_audit.checkpoint()" >/dev/null
q "CHECKPOINT" >/dev/null
size=$(q "SELECT tree_size FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1")

echo "# 2. from scratch: $size leaves"
sync
t0=$(ms); "$tool" --out "$out" dbname=bench; t1=$(ms)
echo "scratch_leaves=$size scratch_ms=$((t1 - t0)) files=$(find "$out" -type f | wc -l) bytes=$(du -sb "$out" | cut -f1)"

echo "# 3. nothing new"
t0=$(ms); "$tool" --out "$out" dbname=bench; t1=$(ms)
echo "idle_ms=$((t1 - t0))"

echo "# 4. after 10,000 new rows"
q "SELECT count(*) FROM (SELECT forgea_audit.append('BENCH_ROW', metadata => jsonb_build_object('n', n), chain => 'bench:' || (n % 100))
                         FROM generate_series(1, 10000) n) x" >/dev/null
q "SELECT forgea_audit.checkpoint()" >/dev/null
t0=$(ms); "$tool" --out "$out" dbname=bench; t1=$(ms)
echo "incremental_leaves=$(sed -n 2p "$out/checkpoint") incremental_ms=$((t1 - t0))"

echo "# 5. Go's sumdb/tlog reads the result (test/lib/tlog_check; tile indexes past 999 use x-prefixed paths)"
(cd test/lib/tlog_check && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE="$keys/gocache" go build -o "$keys/tlog_check" .)
pub=$(openssl pkey -in "$keys/key.pem" -pubout -outform DER | tail -c 32 | base64 -w0)
origin=bench.example.org/audit
hash=$({ printf '%s\n\x01' "$origin"; echo "$pub" | base64 -d; } | sha256sum | cut -c1-8)
vkey="$origin+$hash+$({ printf '\x01'; echo "$pub" | base64 -d; } | base64 -w0)"
n=$(sed -n 2p "$out/checkpoint")
t0=$(ms); "$keys/tlog_check" verify "$out" "$vkey" 0 255999 256000 $((n / 2)) $((n - 1)); t1=$(ms)
echo "go_check_ms=$((t1 - t0))"
rm -rf "$out" "$keys"

#!/usr/bin/env bash
# tools/forgea_audit_publish (docs/publishing.md) writes a C2SP tlog-tiles log, checked here by an
# independent implementation, Go's golang.org/x/mod/sumdb/tlog and sumdb/note
# (test/lib/tlog_check, built offline from Debian's golang-golang-x-mod-dev):
#   - forgea_audit.log_origin is the checkpoint's origin line and the signature's key name; a
#     checkpoint signed before it was set still passes verify_chain(checkpoint); a schema'd origin
#     is refused; the newest note is not handed out again under an origin no longer in force;
#   - DIR/checkpoint is byte for byte the newest merkle_checkpoint note; note.Open accepts it with
#     the log's C2SP verifier key; the root computed from the tiles is the checkpoint's; every
#     entry bundle record hashes to its leaf; inclusion proofs from the tiles check, and are the
#     database's inclusion_proof() hash for hash; after growth, Go's consistency proof from the
#     tiles (tlog.ProveTree/CheckTree) shows the first published checkpoint a prefix of the new one;
#   - a second run with nothing new writes no file (every path, inode, mtime and size the same);
#   - after more rows, a run adds tiles and a new checkpoint; the full tiles of the first run are
#     unchanged (same inode, mtime and bytes); the old partial tiles stay (grace period) until a
#     run with --grace 0 removes them, never the ones the checkpoint needs;
#   - a published checkpoint the database's tree does not extend is refused, nothing written;
#   - a reader reading the checkpoint and every tile it implies, in a loop while the publisher
#     publishes 12 growing checkpoints, never misses one (each published size is waited for
#     until the reader has seen it);
#   - nginx (examples/publish/nginx.conf's server block) serves the directory: the checkpoint and
#     a bundle byte for byte, Cache-Control short for the checkpoint, immutable for full tiles and
#     bundles, brief for partial tiles, CORS open.
set -uo pipefail

db=$PGDATABASE
work=$(mktemp -d)
chmod 711 "$work"   # the server (OS user postgres) reads the signing key from here
out="$work/log"
origin="labs.example.edu/audit-$$"
reader_pid=""
loop_pid=""
nginx_pid=""
settings_set=0
reset_settings() {
    psql -X -q -d "$db" -c "LOAD 'forgea_audit'" -c "ALTER SYSTEM RESET forgea_audit.signing_key_file" \
         -c "ALTER SYSTEM RESET forgea_audit.verify_key_file" -c "ALTER SYSTEM RESET forgea_audit.log_origin" \
         -c "SELECT pg_reload_conf()" >/dev/null
}
cleanup() {
    [ -n "$reader_pid" ] && kill "$reader_pid" 2>/dev/null
    [ -n "$loop_pid" ] && kill "$loop_pid" 2>/dev/null
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null
    [ "$settings_set" -eq 1 ] && reset_settings 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
. test/lib/checks.sh

make -s tools >"$work/make.log" 2>&1 || { cat "$work/make.log"; echo "publish_tiles: FAIL: make tools" >&2; exit 1; }
tool=tools/forgea_audit_publish
# Go, offline: GOPATH mode over Debian's /usr/share/gocode (where golang-golang-x-mod-dev puts
# golang.org/x/mod), no module download.
(cd test/lib/tlog_check && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE="$work/gocache" \
    go build -o "$work/tlog_check" .) >"$work/go.log" 2>&1 || { cat "$work/go.log"; echo "publish_tiles: FAIL: go build" >&2; exit 1; }
tc="$work/tlog_check"

wait_setting() {  # name value
    for _ in $(seq 100); do
        [ "$(q "$db" "SELECT current_setting('$1', true)")" == "$2" ] && return 0
        sleep 0.1
    done
    echo "# $1 did not become '$2'"
}
# Unsigned: the newest note is handed out again only if it has the origin in force (a signed
# note's key name changes with the origin, so re-signing tells it apart; an unsigned one must not
# be reused under the old origin).
settings_set=1
q "$db" "SELECT forgea_audit.append('PUB_ROW', chain => 'pub:u')" >/dev/null
q "$db" "SELECT forgea_audit.checkpoint()" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "LOAD 'forgea_audit'" -c "ALTER SYSTEM SET forgea_audit.log_origin = '$origin-unsigned'" \
     -c "SELECT pg_reload_conf()" >/dev/null
wait_setting forgea_audit.log_origin "$origin-unsigned"
check "origin: unsigned, set, checkpoint() makes a note of the new origin though nothing was appended" \
      "$(q "$db" "SELECT forgea_audit.checkpoint()" | head -1)" "$origin-unsigned"
reset_settings
wait_setting forgea_audit.log_origin ""

openssl genpkey -algorithm ed25519 -out "$work/key.pem" 2>/dev/null
openssl pkey -in "$work/key.pem" -pubout -out "$work/pub.pem" 2>/dev/null
chmod 600 "$work/key.pem"; chmod 644 "$work/pub.pem"
chown postgres: "$work/key.pem" "$work/pub.pem" 2>/dev/null || true
settings_set=1
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "LOAD 'forgea_audit'" \
     -c "ALTER SYSTEM SET forgea_audit.signing_key_file = '$work/key.pem'" \
     -c "ALTER SYSTEM SET forgea_audit.verify_key_file = '$work/pub.pem'" -c "SELECT pg_reload_conf()" >/dev/null
wait_setting forgea_audit.verify_key_file "$work/pub.pem"

# ---- log_origin ----------------------------------------------------------------------------------
q "$db" "SELECT forgea_audit.append('PUB_ROW', chain => 'pub:0')" >/dev/null
old_note=$(q "$db" "SELECT forgea_audit.checkpoint()")
check "origin: unset, today's origin" "$(head -1 <<<"$old_note" | cut -d/ -f1,3)" "forgea_audit/$db"
check "origin: unset, the key name is signing_key_name" "$(tail -1 <<<"$old_note" | cut -d' ' -f2)" "forgea_audit"
err=$(psql -X -q -d "$db" -c "LOAD 'forgea_audit'" -c "ALTER SYSTEM SET forgea_audit.log_origin = 'https://labs.example.edu/audit'" 2>&1)
check "origin: a URL with a scheme is refused" "$(grep -c 'invalid value for parameter "forgea_audit.log_origin"' <<<"$err")" "1"
err=$(psql -X -q -d "$db" -c "LOAD 'forgea_audit'" -c "ALTER SYSTEM SET forgea_audit.log_origin = 'a+b'" 2>&1)
check "origin: a '+' is refused" "$(grep -c 'invalid value' <<<"$err")" "1"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "LOAD 'forgea_audit'" -c "ALTER SYSTEM SET forgea_audit.log_origin = '$origin'" \
     -c "SELECT pg_reload_conf()" >/dev/null
wait_setting forgea_audit.log_origin "$origin"
check "origin: listed by settings()" "$(q "$db" "SELECT setting FROM forgea_audit.settings() WHERE name = 'forgea_audit.log_origin'")" "$origin"
new_note=$(q "$db" "SELECT forgea_audit.checkpoint()")
check "origin: set, a new checkpoint though nothing was appended (the origin changed)" \
      "$(head -1 <<<"$new_note")|$(tail -1 <<<"$new_note" | cut -d' ' -f2)" "$origin|$origin"
check "origin: the checkpoint signed before still verifies" \
      "$(psql -X -A -t -d "$db" -v n="$old_note" <<<"SELECT ok FROM forgea_audit.verify_chain(checkpoint => :'n')")" "t"

# ---- a log of a few thousand rows, published ------------------------------------------------------
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL'
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-pub', 'u-pub', 'lab', 'https://github.com/pat/publish-lab', 'IN_PROGRESS', now());
SELECT forgea_audit.record_push(
         jsonb_set(jsonb_set((SELECT payload FROM public.fixture_push WHERE name = 'api-with-new-branch.payload'),
                             '{repository,html_url}', '"https://github.com/pat/publish-lab"'),
                   '{repository,full_name}', '"pat/publish-lab"'), '00000000-0000-4000-8000-0000000000d1');
SELECT forgea_audit.append('PUB_ROW', metadata => jsonb_build_object('i', i), chain => 'pub:' || (i % 7))
FROM generate_series(1, 3000) i;
SQL
q "$db" "SELECT forgea_audit.checkpoint()" >/dev/null
size=$(q "$db" "SELECT tree_size FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1")
pub=$(openssl pkey -pubin -in "$work/pub.pem" -outform DER | tail -c 32 | base64 -w0)
keyhash=$({ printf '%s\n\x01' "$origin"; openssl pkey -pubin -in "$work/pub.pem" -outform DER | tail -c 32; } | sha256sum | cut -c1-8)
vkey="$origin+$keyhash+$({ printf '\x01'; openssl pkey -pubin -in "$work/pub.pem" -outform DER | tail -c 32; } | base64 -w0)"

msg=$("$tool" --out "$out" 2>&1); rc=$?
check "publish: first run" "$rc" "0"
check "publish: the checkpoint is the newest note byte for byte" "$(sha256sum <"$out/checkpoint" | cut -c1-64)" \
      "$(q "$db" "SELECT encode(sha256(convert_to(note, 'UTF8')), 'hex') FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1")"
check "publish: ... and what checkpoint() returns" "$(q "$db" "SELECT forgea_audit.checkpoint()")" "$(cat "$out/checkpoint")"
last=$((size - 1)); mid=$((size / 2))
res=$("$tc" verify "$out" "$vkey" 0 1 255 256 257 $mid $last 2>&1); rc=$?
check "publish: Go's tlog/note read it (signature, root from tiles, entries, 7 inclusion proofs)" "$rc ${res%%,*}" "0 ok: $origin"
echo "# $res"
cp "$out/checkpoint" "$work/checkpoint.first"
# The inclusion proofs Go makes from the tiles are the database's, hash for hash.
for l in 0 255 256 $mid $last; do
    check "publish: the inclusion proof of leaf $l from the tiles is inclusion_proof()'s" "$("$tc" proof "$out" "$vkey" $l 2>&1)" \
          "$(q "$db" "SELECT string_agg(encode(u.p, 'base64'), E'\n' ORDER BY u.o) FROM forgea_audit.merkle_leaf m,
                      LATERAL forgea_audit.inclusion_proof(m.seq, $size) ip, LATERAL unnest(ip.proof) WITH ORDINALITY AS u(p, o)
                      WHERE m.leaf_index = $l")"
done
ls "$out/tile" | sort >"$work/levels"
check "publish: levels 0 and 1 and the entry bundles (size $size)" "$(tr '\n' ' ' <"$work/levels")" "0 1 entries "
check "publish: no row content in the bundles (34 bytes per leaf)" \
      "$(cat "$out"/tile/entries/[0-9]* "$out"/tile/entries/*.p/* | wc -c)" "$((size * 34))"
check "publish: no temporary file left" "$(find "$out" -name '*.tmp.*' | wc -l)" "0"

# ---- nothing new: no file written ------------------------------------------------------------------
listing() { find "$out" -printf '%p %i %T@ %s\n' | sort; }
listing >"$work/before"
msg=$("$tool" --out "$out" 2>&1); rc=$?
listing >"$work/after"
check "idle: second run succeeds and says so" "$rc ${msg%%:*}" "0 nothing new"
check "idle: no file written, moved or removed (paths, inodes, mtimes, sizes)" "$(diff "$work/before" "$work/after" | wc -l)" "0"

# ---- more rows: new tiles and checkpoint, full tiles untouched ---------------------------------------
find "$out/tile" -type f ! -path '*.p/*' -exec sha256sum {} + | sort >"$work/full_before"
find "$out/tile" -type f ! -path '*.p/*' -printf '%p %i %T@\n' | sort >"$work/full_stat_before"
old_partials=$(find "$out/tile" -path '*.p/*' -type f | sort)
# A rolled-back batch first: 2,000 seqs drawn and never committed, so the leaves of the chunk the
# grow run reads span more than twice as many seqs as they number (the publisher then reads their
# rows by their seqs, not by a seq range).
psql -X -q -d "$db" -c "BEGIN" -c "SELECT count(forgea_audit.append('PUB_GONE', chain => 'pub:gone')) FROM generate_series(1, 2000)" \
     -c "ROLLBACK" >/dev/null
q "$db" "SELECT forgea_audit.append('PUB_ROW', metadata => jsonb_build_object('j', j), chain => 'pub:x') FROM generate_series(1, 700) j" >/dev/null
q "$db" "SELECT forgea_audit.checkpoint()" >/dev/null
check "grow: the new leaves' chunk spans more than twice its leaves in seqs (the rolled-back gap)" \
      "$(q "$db" "SELECT max(seq) - min(seq) > 2 * count(*) FROM forgea_audit.merkle_leaf WHERE leaf_index >= $size / 256 * 256")" "t"
size2=$(q "$db" "SELECT tree_size FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1")
msg=$("$tool" --out "$out" 2>&1); rc=$?
check "grow: the run publishes the new checkpoint" "$rc $(sed -n 2p "$out/checkpoint")" "0 $size2"
res=$("$tc" verify "$out" "$vkey" 0 $size $((size2 - 1)) 2>&1); rc=$?
check "grow: Go reads the grown log" "$rc ${res%%,*}" "0 ok: $origin"
res=$("$tc" consistency "$out" "$vkey" "$work/checkpoint.first" 2>&1); rc=$?
check "grow: Go's consistency proof from the tiles shows the first published checkpoint a prefix of the new one" \
      "$rc ${res%% (*}" "0 ok: $origin, the tree of $size leaves is a prefix of the published $size2"
check "grow: every full tile of the first run unchanged, byte for byte" \
      "$(find "$out/tile" -type f ! -path '*.p/*' -exec sha256sum {} + | sort | comm -23 "$work/full_before" - | wc -l)" "0"
check "grow: ... and not rewritten (same inode and mtime)" \
      "$(find "$out/tile" -type f ! -path '*.p/*' -printf '%p %i %T@\n' | sort | comm -23 "$work/full_stat_before" - | wc -l)" "0"
check "grow: new full tiles were added" "$(( $(find "$out/tile" -type f ! -path '*.p/*' | wc -l) > $(wc -l <"$work/full_before") ))" "1"
missing=0; for f in $old_partials; do [ -f "$f" ] || missing=$((missing + 1)); done
check "grow: the older checkpoint's partial tiles stay for the grace period" "$missing" "0"
msg=$("$tool" --out "$out" --grace 0 2>&1); rc=$?
still=0; for f in $old_partials; do [ -f "$f" ] && still=$((still + 1)); done
check "grace 0: the superseded partial tiles are removed" "$rc $still ${msg##*, }" "0 0 $(wc -w <<<"$old_partials") superseded partial tiles removed"
res=$("$tc" verify "$out" "$vkey" $((size2 - 1)) 2>&1); rc=$?
check "grace 0: the tiles the checkpoint needs are all still there" "$rc ${res%%,*}" "0 ok: $origin"

# ---- a published log the database does not extend ------------------------------------------------
cp -a "$out" "$work/fork"
root_line=$(sed -n 3p "$work/fork/checkpoint")
fake=$(printf '%s' "$root_line" | base64 -d | LC_ALL=C tr '\000-\377' '\001-\377\000' | base64 -w0)
sed -i "3s|.*|$fake|" "$work/fork/checkpoint"
find "$work/fork" -printf '%p %i %T@ %s\n' | sort >"$work/fork_before"
q "$db" "SELECT forgea_audit.append('PUB_ROW', chain => 'pub:f')" >/dev/null
q "$db" "SELECT forgea_audit.checkpoint()" >/dev/null
msg=$("$tool" --out "$work/fork" 2>&1); rc=$?
check "fork: refused (exit 1), saying the database does not extend it" "$rc $(grep -c 'does not extend the published log' <<<"$msg")" "1 1"
check "fork: nothing written" "$(find "$work/fork" -printf '%p %i %T@ %s\n' | sort | diff "$work/fork_before" - | wc -l)" "0"

# ---- a reader while the publisher runs --------------------------------------------------------------
"$tool" --out "$out" >/dev/null 2>&1
"$tc" readloop "$out" "$work/stop" "$work/seen" >"$work/reader.out" 2>&1 &
reader_pid=$!
published=0
for k in $(seq 1 12); do
    q "$db" "SELECT forgea_audit.append('PUB_ROW', metadata => jsonb_build_object('k', $k), chain => 'pub:r') FROM generate_series(1, $((k * 37)))" >/dev/null
    q "$db" "SELECT forgea_audit.checkpoint()" >/dev/null
    "$tool" --out "$out" >/dev/null 2>&1 && published=$((published + 1))
    n=$(sed -n 2p "$out/checkpoint")
    echo "$n" >>"$work/published"
    # Wait until the reader has read this checkpoint (and every tile of it): so its reads and the
    # next run's writes interleave.  The deadline only turns a hang into a failure.
    for _ in $(seq 300); do
        grep -qx "$n" "$work/seen" 2>/dev/null && break
        kill -0 "$reader_pid" 2>/dev/null || break
        sleep 0.1
    done
done
touch "$work/stop"
wait "$reader_pid"; rc=$?; reader_pid=""
check "reader: 12 checkpoints published while it read" "$published" "12"
check "reader: never saw a checkpoint with a tile missing" "$rc $(cut -d, -f1 <"$work/reader.out" | cut -c1-3)" "0 ok:"
check "reader: it read each of the 12 published sizes" \
      "$(sort -u "$work/published" | comm -23 - <(sort -u "$work/seen") | wc -l) $(sort -u "$work/published" | wc -l)" "0 12"
cat "$work/reader.out" | sed 's/^/# /'
res=$("$tc" verify "$out" "$vkey" 0 $(( $(sed -n 2p "$out/checkpoint") - 1 )) 2>&1); rc=$?
check "reader: the final log reads in Go" "$rc ${res%%,*}" "0 ok: $origin"

# ---- --interval: one process publishing every second ----------------------------------------------
tied "$tool" --out "$out" --interval 1 >"$work/interval.out" 2>&1 &
loop_pid=$!
q "$db" "SELECT forgea_audit.append('PUB_ROW', metadata => jsonb_build_object('l', l), chain => 'pub:l') FROM generate_series(1, 300) l" >/dev/null
q "$db" "SELECT forgea_audit.checkpoint()" >/dev/null
size3=$(q "$db" "SELECT tree_size FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1")
# Polls for the published size; the deadline only turns a hang into a failure.
for _ in $(seq 300); do [ "$(sed -n 2p "$out/checkpoint")" = "$size3" ] && break; kill -0 "$loop_pid" 2>/dev/null || break; sleep 0.1; done
check "interval: the running publisher published the new checkpoint" "$(sed -n 2p "$out/checkpoint")" "$size3"
kill -0 "$loop_pid" 2>/dev/null; check "interval: ... and is still running" "$?" "0"
kill -TERM "$loop_pid"; wait "$loop_pid"; rc=$?; loop_pid=""
check "interval: SIGTERM ends it, exit 0" "$rc" "0"
check "interval: one line, for the one publication (none for the runs with nothing new)" \
      "$(wc -l <"$work/interval.out") $(grep -c "^published the checkpoint of $size3 leaves" "$work/interval.out")" "1 1"
check "interval: no temporary file left" "$(find "$out" -name '*.tmp.*' | wc -l)" "0"
res=$("$tc" verify "$out" "$vkey" 0 $((size3 - 1)) 2>&1); rc=$?
check "interval: Go reads the log it published" "$rc ${res%%,*}" "0 ok: $origin"

# ---- served by nginx with examples/publish/nginx.conf's headers -------------------------------------
# The example's server block as it is, but for the address and the root; nginx in the foreground
# (its own pid, stopped by that pid at exit), on a port of this helper's range unless FA_NGINX_PORT.
nginx_port=${FA_NGINX_PORT:-6905}
mkdir -p "$work/srv" "$work/nginx"
ln -s "$out" "$work/srv/audit"
{
    echo "daemon off; worker_processes 1; pid $work/nginx/nginx.pid; error_log $work/nginx/error.log;"
    echo "events {}"
    echo "http { include /etc/nginx/mime.types; access_log off;"
    for t in client_body proxy fastcgi uwsgi scgi; do echo "${t}_temp_path $work/nginx/$t;"; done
    sed -e "s|listen 80;|listen 127.0.0.1:$nginx_port;|" -e "s|root /srv/forgea-audit;|root $work/srv;|" examples/publish/nginx.conf
    echo "}"
} >"$work/nginx/nginx.conf"
nginx -t -q -c "$work/nginx/nginx.conf" -p "$work/nginx" 2>"$work/nginx/t.log" || cat "$work/nginx/t.log"
tied nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" 2>>"$work/nginx/error.log" &
nginx_pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$nginx_port/" && break; sleep 0.1; done
base="http://127.0.0.1:$nginx_port/audit"
header() { curl -s -D - -o /dev/null "$1" | tr -d '\r' | grep -i "^$2:" | cut -d' ' -f2-; }
n=$(sed -n 2p "$out/checkpoint")
full=$(cd "$out" && find tile/0 -type f ! -path '*.p/*' | head -1)
partial=$(cd "$out" && find tile -type f -path '*.p/*' | head -1)
bundle=$(cd "$out" && find tile/entries -type f ! -path '*.p/*' | head -1)
check "nginx: the checkpoint, byte for byte" "$(curl -s "$base/checkpoint" | sha256sum)" "$(sha256sum <"$out/checkpoint")"
check "nginx: the checkpoint is short-lived" "$(header "$base/checkpoint" Cache-Control)" "no-cache, max-age=5"
check "nginx: a full tile ($full) is immutable" "$(header "$base/$full" Cache-Control)" "public, max-age=31536000, immutable"
check "nginx: a full entry bundle ($bundle) is immutable" "$(header "$base/$bundle" Cache-Control)" "public, max-age=31536000, immutable"
check "nginx: the partial tile ($partial) is cached briefly" "$(header "$base/$partial" Cache-Control)" "public, max-age=60"
check "nginx: a bundle, byte for byte" "$(curl -s "$base/$bundle" | sha256sum)" "$(sha256sum <"$out/$bundle")"
check "nginx: readable from any origin (CORS)" "$(header "$base/$full" Access-Control-Allow-Origin)" "*"
check "nginx: a tile beyond the log is 404" "$(curl -s -o /dev/null -w '%{http_code}' "$base/tile/0/x999/999")" "404"
kill "$nginx_pid" 2>/dev/null; wait "$nginx_pid" 2>/dev/null; nginx_pid=""

[ "$failures" -eq 0 ] || { echo "publish_tiles: $failures failure(s)" >&2; exit 1; }
echo "publish_tiles: ok"

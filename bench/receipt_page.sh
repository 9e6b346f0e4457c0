#!/usr/bin/env bash
# The receipt page's verdict time (docs/benchmarks.md, "The receipt page"): web/receipt/index.html
# in Debian's headless Chromium (test/receipt_page/page.mjs), served by nginx with the log beside
# it, for a log of 10 M leaves and, side by side in the same run, one of 70,000 (BENCH_RECEIPT_SIZES).
# The logs are synthetic (test/receipt_page/cli.mjs synth): every entry is the same row hash, so
# every full tile of a level is the same file, hard-linked under each tile's name (a 10 M log is
# 39,000 links, made in seconds) — the page fetches and hashes exactly what it would from a real
# log of that size, its checkpoint signed with a key of the run.  The receipt is of the middle of
# the log.  Each size is opened ROUNDS times (default 7), interleaved; medians of the time from
# navigation to the verdict, and the requests beyond the page's own files.
# Not in CI.  Run as root from the repository root under the bench lock:
#   flock /tmp/forgea_bench.lock bash bench/receipt_page.sh
# Settings: BENCH_RECEIPT_SIZES ("10000000 70000"), ROUNDS (7), PORT (6930; PORT+1 serves the logs).
set -euo pipefail
sizes=${BENCH_RECEIPT_SIZES:-10000000 70000}
rounds=${ROUNDS:-7}
port=${PORT:-6930}; lport=$((port + 1))
work=$(mktemp -d)
chmod 755 "$work"   # nginx's workers (www-data) read the logs from here
nginx_pid=""
trap '[ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null; rm -rf "$work"' EXIT
( cd test/receipt_page && npm ci --no-audit --no-fund --loglevel=error >/dev/null )
echo "# machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(chromium --version 2>/dev/null | head -1)"
for n in $sizes; do
    mkdir -p "$work/srv/log-$n"
    t0=$(date +%s%3N)
    SYNTH_DIR="$work/srv/log-$n" SYNTH_OUT="$work/$n.json" node test/receipt_page/cli.mjs synth "$n" $((n / 2)) >"$work/$n.node"
    echo "# log of $n leaves: $(find "$work/srv/log-$n" -type f | wc -l) tile files, made in $(( $(date +%s%3N) - t0 )) ms; in Node: $(cut -d' ' -f1,4,5 "$work/$n.node")"
done
mkdir -p "$work/nginx"
{
    echo "daemon off; worker_processes 1; pid $work/nginx/nginx.pid; error_log $work/nginx/error.log;"
    echo "events {} http { include /etc/nginx/mime.types; access_log off;"
    for t in client_body proxy fastcgi uwsgi scgi; do echo "${t}_temp_path $work/nginx/$t;"; done
    echo "server { listen 127.0.0.1:$port; root $PWD/web; }"
    echo "server { listen 127.0.0.1:$lport; root $work/srv; location / { add_header Access-Control-Allow-Origin \"*\" always; } } }"
} >"$work/nginx/nginx.conf"
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/receipt/index.html" && break; sleep 0.1; done
uri() { jq -rn --arg v "$1" '$v | @uri'; }
for r in $(seq "$rounds"); do
    for n in $sizes; do
        printf '%s\thttp://127.0.0.1:%s/receipt/index.html?log=%s&vkey=%s#receipt=%s\n' "$n" "$port" \
            "$(uri "http://127.0.0.1:$lport/log-$n")" "$(uri "$(jq -r .vkey "$work/$n.json")")" "$(jq -r .receipt "$work/$n.json")"
    done
done >"$work/cases.tsv"
node test/receipt_page/page.mjs "$work/cases.tsv" "127.0.0.1:$port,127.0.0.1:$lport" >"$work/out.tsv"
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
cut -f1,2,8 "$work/out.tsv" | sort -u -t"	" -k1,2 | sed "s/^/# /"
base=""
for n in $sizes; do
    st=$(awk -F'\t' -v n="$n" '$1 == n { print $2 }' "$work/out.tsv" | sort | uniq -c | tr -s ' ' | tr '\n' ';')
    med=$(awk -F'\t' -v n="$n" '$1 == n { print $7 }' "$work/out.tsv" | median)
    req=$(awk -F'\t' -v n="$n" '$1 == n { print $4 }' "$work/out.tsv" | median)
    [ -z "$base" ] && base=$med
    echo "$n leaves: verdict median $med ms over $rounds loads (${st% ;}), $req requests beyond the page's files, ratio to the first size $(awk -v a="$med" -v b="$base" 'BEGIN { printf "%.2f", a / b }')"
done

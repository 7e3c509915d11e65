#!/bin/bash
# (d) serving pool and index files on loopback, measured with wrk.
#
#   bench/serve.sh urls                build the URL lists from the fixture's current generation
#   bench/serve.sh nginx               nginx serving FIXTURE statically (port NGINX_PORT, default 8090)
#   bench/serve.sh aptsnap             aptsnap serve (LABEL's data dir, port APTSNAP_PORT) on the
#                                      same files under /<archive>/<serial>/...
#   bench/serve.sh all                 urls, nginx, aptsnap (if the binary exists)
#
# Two scenarios, each `wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION`:
#   pool   ~1000 pool files sampled (fixed seed) from the fixture's Packages indices
#   index  InRelease and Packages.xz of bookworm, bookworm-updates, bookworm-security
# One row per target x scenario goes to bench/results/serve-$LABEL.tsv, with the
# server's RSS after the run (nginx: master + workers).  A run with non-2xx
# answers is reported as invalid, not as a throughput.
# Note: wrk and the server share the machine's 2 cores.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

LABEL=${LABEL:-main}
FIXTURE=${FIXTURE:-$BENCH_DATA/upstream}
NGINX_PORT=${NGINX_PORT:-8090}
APTSNAP_PORT=${APTSNAP_PORT:-8080}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-64}
WRK_DURATION=${WRK_DURATION:-15s}
POOL_SAMPLE=${POOL_SAMPLE:-1000}
UDIR=$BENCH_DATA/serve-urls-$LABEL
OUT=$RESULTS/serve-$LABEL.tsv

# Relative URL lists: "<archive> <path below the archive root>" per line.
urls() {
    mkdir -p "$UDIR"
    python3 - "$FIXTURE" "$POOL_SAMPLE" "$UDIR" <<'PY'
import os, random, sys
fx, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
suites = [("debian", "bookworm"), ("debian", "bookworm-updates"), ("debian-security", "bookworm-security")]
pool, index = [], []
for a, s in suites:
    for line in open(os.path.join(fx, a, "dists", s, "main/binary-amd64/Packages"), encoding="utf-8"):
        if line.startswith("Filename: "):
            pool.append((a, line[10:].strip()))
    index += [(a, "dists/%s/InRelease" % s), (a, "dists/%s/main/binary-amd64/Packages.xz" % s)]
pool.sort()
sample = random.Random(1).sample(pool, min(n, len(pool)))
for name, rows in (("pool", sample), ("index", index)):
    with open(os.path.join(out, name + ".rel"), "w") as f:
        for a, p in rows:
            f.write("%s %s\n" % (a, p))
print("urls: %d pool files (of %d), %d index files" % (len(sample), len(pool), len(index)))
PY
    local gen; gen=$(cat "$FIXTURE/.fixture-state" 2>/dev/null || echo '?')
    echo "$gen" >"$UDIR/fixture-state"
}

# absolutize SCENARIO PREFIX_debian PREFIX_debian-security > list of absolute paths
absolutize() {
    awk -v pd="$2" -v ps="$3" '{ print ($1 == "debian" ? pd : ps) "/" $2 }' "$UDIR/$1.rel"
}

# bench TARGET SCENARIO BASE_URL PATHS_FILE RSS_CMD...
bench() {
    local target=$1 scen=$2 base=$3 paths=$4; shift 4
    local first bad out line
    # every URL must answer 200 before it counts: a fast 404 is not a served file
    bad=$(python3 - "$base" "$paths" <<'PY'
import http.client, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
bad = []
for p in open(sys.argv[2]).read().split():
    c.request("GET", p)
    r = c.getresponse(); r.read()
    if r.status != 200:
        bad.append("%d %s" % (r.status, p))
print(" ".join(bad[:3]))
PY
)
    [ -z "$bad" ] || { log "$target $scen: not all URLs answer 200, e.g.: $bad"; return 1; }
    out=$(WRK_URLS=$paths wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION" --latency \
          -s "$BENCH_DIR/wrk-urls.lua" "$base/" 2>&1)
    echo "$out" >"$BENCH_DATA/run/wrk-$target-$scen.txt"
    line=$(echo "$out" | awk '$1=="WRK"')
    [ -n "$line" ] || { log "wrk gave no result: $out"; return 1; }
    [ -s "$OUT" ] || printf 'target\tscenario\turls\trequests\trps\tMBps\tlat_mean_ms\tlat_p99_ms\tnon2xx\terrors\trss_kb\tloadavg\tthreads\tconns\tduration\n' >"$OUT"
    echo "$line" | awk -v t="$target" -v s="$scen" -v n="$(wc -l <"$paths")" -v rss="$("$@")" \
        -v load="$(cut -d' ' -f1 /proc/loadavg)" -v th="$WRK_THREADS" -v c="$WRK_CONNS" -v d="$WRK_DURATION" \
        'BEGIN{OFS="\t"} { secs=$4/1e6; print t, s, n, $2, sprintf("%.0f", $2/secs), sprintf("%.1f", $3/secs/1e6),
          sprintf("%.2f", $10/1e3), sprintf("%.2f", $12/1e3), $9, $5+$6+$7+$9, rss, load, th, c, d }' >>"$OUT"
    log "$target $scen: $(tail -1 "$OUT" | cut -f5,6,11 | awk '{print $1" req/s, "$2" MB/s, rss "$3" kB"}')"
}

nginx_rss() {
    local pid; pid=$(cat "$BENCH_DATA/run/nginx-serve-$NGINX_PORT/nginx.pid")
    { echo "$pid"; pgrep -P "$pid"; } | while read -r p; do awk '/^VmRSS/{print $2}' "/proc/$p/status"; done \
        | awk '{s+=$1} END {print s}'
}

run_nginx() {
    [ -f "$UDIR/pool.rel" ] || urls
    nginx_start "serve-$NGINX_PORT" "$FIXTURE" "$NGINX_PORT"
    local s
    for s in pool index; do
        absolutize "$s" /debian /debian-security >"$UDIR/nginx-$s.txt"
        bench nginx "$s" "http://127.0.0.1:$NGINX_PORT" "$UDIR/nginx-$s.txt" nginx_rss
    done
    nginx_stop "serve-$NGINX_PORT"
}

# ---- aptsnap hook ----------------------------------------------------------
# Same relative lists, under /<archive>/<serial>/ where serial is the latest
# snapshot of each archive (from the trace file aptsnap serves).  The latest
# snapshot must be of the fixture generation the lists were built from
# (bench/run.sh pulses the generation it then serves).
aptsnap_rss() { LABEL=$LABEL "$BENCH_DIR/aptsnap.sh" serve-rss | awk '{print $2}'; }

run_aptsnap() {
    [ -f "$UDIR/pool.rel" ] || urls
    LABEL=$LABEL "$BENCH_DIR/aptsnap.sh" serve-start
    local base=http://127.0.0.1:$APTSNAP_PORT sd ss s
    sd=$(curl -fsS "$base/debian/project/trace/debian" | awk '/^Archive serial:/{print $3}')
    ss=$(curl -fsS "$base/debian-security/project/trace/debian-security" | awk '/^Archive serial:/{print $3}')
    sd=${APTSNAP_SERIAL_DEBIAN:-$sd}; ss=${APTSNAP_SERIAL_SECURITY:-$ss}
    [ -n "$sd" ] && [ -n "$ss" ] || { LABEL=$LABEL "$BENCH_DIR/aptsnap.sh" serve-stop; die "no serials from aptsnap's trace files"; }
    log "aptsnap serials: debian $sd, debian-security $ss"
    for s in pool index; do
        absolutize "$s" "/debian/$sd" "/debian-security/$ss" >"$UDIR/aptsnap-$s.txt"
        bench aptsnap "$s" "$base" "$UDIR/aptsnap-$s.txt" aptsnap_rss || true
    done
    log "aptsnap serve RSS after both scenarios: $(LABEL=$LABEL "$BENCH_DIR/aptsnap.sh" serve-rss)"
    LABEL=$LABEL "$BENCH_DIR/aptsnap.sh" serve-stop
}

ratios() {
    [ -f "$OUT" ] || return 0
    awk -F'\t' 'NR>1 { r[$1,$2]=$5; m[$1,$2]=$6; s[$2]=1 }
        END { for (k in s) if ((("nginx",k) in r) && (("aptsnap",k) in r))
              printf "serve %-5s aptsnap/nginx: %.2fx req/s, %.2fx MB/s (target >= 0.8x)\n",
                     k, r["aptsnap",k]/r["nginx",k], m["aptsnap",k]/m["nginx",k] }' "$OUT"
}

case "${1:-all}" in
urls) urls ;;
nginx) run_nginx ;;
aptsnap) run_aptsnap ;;
ratios) ratios ;;
all) urls; run_nginx
     if [ -x "${APTSNAP:-$BENCH_DATA/aptsnap}" ]; then run_aptsnap; else log "no aptsnap binary: nginx only"; fi
     ratios ;;
*) sed -n 2,19p "$0"; exit 2 ;;
esac

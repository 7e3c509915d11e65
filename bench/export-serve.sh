#!/bin/bash
# Serving one snapshot from nginx over `aptsnap export` vs `aptsnap serve`, with wrk.
#
#   bench/export-serve.sh [all]     fixture, pulse, export, then both targets (default)
#   bench/export-serve.sh stop      stop what a run left running
#
# The same snapshot (generation 0 of the stand-in upstream: debian bookworm,
# bookworm-updates and debian-security bookworm-security, LIMIT packages per suite,
# 0 = all) is served two ways on loopback:
#   export   nginx with the configuration `aptsnap webserver-config nginx --no-tls`
#            prints, over the tree `aptsnap export` wrote (NGINX_PORT, default 8102)
#   aptsnap  aptsnap serve --no-schedule on the same data (APTSNAP_PORT, default 8101)
# (the fixture is pulsed from UPSTREAM_PORT, default 8103)
# and measured with the same URL lists, as bench/serve.sh does:
#   pool   ~1000 pool files sampled (fixed seed) from the snapshot's Packages indices
#   index  InRelease and Packages.xz of the three suites
# each `wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION`. One row per target x scenario
# goes to bench/results/export-serve-$LABEL.tsv with the server's RSS; the export's
# own time and size go to bench/results/export-serve-$LABEL-export.txt.
# Note: wrk and the servers share the machine's cores.
set -euo pipefail
# Ports of their own, apart from the other benchmarks' (which may run meanwhile).
UPSTREAM_PORT=${UPSTREAM_PORT:-8103}
. "$(dirname "$0")/lib.sh"

LABEL=${LABEL:-main}
FIXTURE=${FIXTURE:-$BENCH_DATA/upstream}
LIMIT=${LIMIT:-0}
BUILD=${APTSNAP:+no}
APTSNAP_PORT=${APTSNAP_PORT:-8101}
NGINX_PORT=${NGINX_PORT:-8102}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-64}
WRK_DURATION=${WRK_DURATION:-15s}
POOL_SAMPLE=${POOL_SAMPLE:-1000}
STATE=$BENCH_DATA/export-serve-$LABEL
APTSNAP=${APTSNAP:-$STATE/aptsnap}   # default: built from this tree at each run
DATA=$STATE/data
CONF=$STATE/config.toml
EXPORT=$STATE/export
NGX=$STATE/nginx
OUT=$RESULTS/export-serve-$LABEL.tsv
EXPORT_OUT=$RESULTS/export-serve-$LABEL-export.txt

serve_stop() {
    if [ -s "$STATE/serve.pid" ]; then
        local pid; pid=$(cat "$STATE/serve.pid")
        kill "$pid" 2>/dev/null && { local i; for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; }
        rm -f "$STATE/serve.pid"
    fi
}

nginx_export_stop() {
    [ -s "$NGX/nginx.pid" ] || return 0
    local pid; pid=$(cat "$NGX/nginx.pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill -QUIT "$pid"
        local i; for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$NGX/nginx.pid"
}

stop_all() {
    serve_stop
    nginx_export_stop
    nginx_stop "upstream-$UPSTREAM_PORT"
}

write_config() {
    cat >"$CONF" <<CONF
data_dir = "$DATA"
listen = "127.0.0.1:$APTSNAP_PORT"
public_url = "http://127.0.0.1:$APTSNAP_PORT"

[[archive]]
name = "debian"
url = "http://127.0.0.1:$UPSTREAM_PORT/debian"
keyring = "$FIXTURE/keyring.gpg"
suites = ["bookworm", "bookworm-updates"]
components = ["main"]
architectures = ["amd64"]

[[archive]]
name = "debian-security"
url = "http://127.0.0.1:$UPSTREAM_PORT/debian-security"
keyring = "$FIXTURE/keyring.gpg"
suites = ["bookworm-security"]
components = ["main"]
architectures = ["amd64"]
CONF
}

prepare() {
    mkdir -p "$STATE" "$DATA"
    [ "$BUILD" = no ] || { (cd "$REPO_DIR" && go build -o "$APTSNAP" ./cmd/aptsnap) || die "go build failed"; }
    build_fixture "$FIXTURE" 0 "$LIMIT"
    write_config
    if ! "$APTSNAP" snapshot list --config "$CONF" 2>/dev/null | grep -qE '^debian-security +[0-9]{10}'; then
        nginx_start "upstream-$UPSTREAM_PORT" "$FIXTURE" "$UPSTREAM_PORT"
        log "pulse (generation 0, limit $LIMIT)"
        "$APTSNAP" pulse --config "$CONF" --all >"$STATE/pulse.log" 2>&1 || die "pulse failed (see $STATE/pulse.log)"
        nginx_stop "upstream-$UPSTREAM_PORT"
    fi
    # The export, timed: first from nothing, then again with nothing to do.
    rm -rf "$EXPORT"
    {
        machine_info
        echo "aptsnap: $("$APTSNAP" --version)"
        echo "fixture: $FIXTURE limit=$LIMIT"
        "$APTSNAP" snapshot list --config "$CONF"
        for run in first again; do
            /usr/bin/time -f "export ($run): %e s wall, %U s user, %S s sys, %M kB max RSS" \
                "$APTSNAP" export --config "$CONF" --dir "$EXPORT" 2>&1
        done
        echo "export files (paths): $(find "$EXPORT" -type f -not -path '*/.aptsnap/*' | wc -l)"
        echo "export content files: $(find "$EXPORT/.aptsnap/by-sha256" -type f | wc -l)"
        echo "export directories: $(find "$EXPORT" -type d | wc -l)"
        echo "export disk use beyond the store (du counts each inode once): $(du -sh "$DATA/blobs" "$EXPORT" | awk 'NR==2{print $1}')"
    } | portable_paths >"$EXPORT_OUT"
    cat "$EXPORT_OUT" >&2
}

start_targets() {
    mkdir -p "$NGX/tmp"
    "$APTSNAP" webserver-config nginx --export "$EXPORT" --name localhost --aptsnap "http://127.0.0.1:$APTSNAP_PORT" \
        --no-tls --http-listen "127.0.0.1:$NGINX_PORT" >"$NGX/site.conf"
    cat >"$NGX/nginx.conf" <<CONF
worker_processes ${NGINX_WORKERS:-auto};
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 1024; }
http {
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 100000;
    access_log off;
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    include $NGX/site.conf;
}
CONF
    nginx_export_stop
    nginx -t -c "$NGX/nginx.conf" 2>"$NGX/t.log" || die "nginx -t failed: $(cat "$NGX/t.log")"
    nginx -c "$NGX/nginx.conf" || die "nginx failed to start (see $NGX/error.log)"
    serve_stop
    nohup "$APTSNAP" serve --config "$CONF" --no-schedule >"$STATE/serve.log" 2>&1 &
    echo $! >"$STATE/serve.pid"
    local i
    for i in $(seq 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$APTSNAP_PORT/debian/project/trace/debian" || true)" = 200 ] &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NGINX_PORT/debian/project/trace/debian" || true)" = 200 ] && break
        sleep 0.1
    done
    log "nginx (export) on $NGINX_PORT, aptsnap serve (pid $(cat "$STATE/serve.pid")) on $APTSNAP_PORT"
}

# URL lists, the same for both targets: absolute paths under /<archive>/<serial>/.
urls() {
    local sd ss
    sd=$(curl -fsS "http://127.0.0.1:$APTSNAP_PORT/debian/project/trace/debian" | awk '/^Archive serial:/{print $3}')
    ss=$(curl -fsS "http://127.0.0.1:$APTSNAP_PORT/debian-security/project/trace/debian-security" | awk '/^Archive serial:/{print $3}')
    [ -n "$sd" ] && [ -n "$ss" ] || die "no serials from the trace files"
    log "serials: debian $sd, debian-security $ss"
    python3 - "$EXPORT" "$sd" "$ss" "$POOL_SAMPLE" "$STATE" <<'PY'
import os, random, sys
ex, sd, ss, n, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
suites = [("debian", sd, "bookworm"), ("debian", sd, "bookworm-updates"), ("debian-security", ss, "bookworm-security")]
pool, index = [], []
for a, serial, s in suites:
    root = "/%s/%s" % (a, serial)
    for line in open(os.path.join(ex, a, serial, "dists", s, "main/binary-amd64/Packages"), encoding="utf-8"):
        if line.startswith("Filename: "):
            pool.append(root + "/" + line[10:].strip())
    index += [root + "/dists/%s/InRelease" % s, root + "/dists/%s/main/binary-amd64/Packages.xz" % s]
pool = sorted(set(pool))
sample = random.Random(1).sample(pool, min(n, len(pool)))
for name, rows in (("pool", sample), ("index", index)):
    with open(os.path.join(out, name + ".txt"), "w") as f:
        f.write("\n".join(rows) + "\n")
print("urls: %d pool files (of %d), %d index files" % (len(sample), len(pool), len(index)), file=sys.stderr)
PY
}

rss_nginx() {
    local pid; pid=$(cat "$NGX/nginx.pid")
    { echo "$pid"; pgrep -P "$pid"; } | while read -r p; do awk '/^VmRSS/{print $2}' "/proc/$p/status"; done | awk '{s+=$1} END {print s}'
}
rss_aptsnap() { awk '/^VmRSS/{print $2}' "/proc/$(cat "$STATE/serve.pid")/status"; }

# bench TARGET SCENARIO BASE RSS_FUNC
bench() {
    local target=$1 scen=$2 base=$3 rss=$4 paths=$STATE/$2.txt bad out line
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
    [ -z "$bad" ] || die "$target $scen: not all URLs answer 200, e.g.: $bad"
    out=$(WRK_URLS=$paths wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION" --latency \
          -s "$BENCH_DIR/wrk-urls.lua" "$base/" 2>&1)
    echo "$out" >"$STATE/wrk-$target-$scen.txt"
    line=$(echo "$out" | awk '$1=="WRK"')
    [ -n "$line" ] || die "wrk gave no result: $out"
    [ -s "$OUT" ] || printf 'target\tscenario\turls\trequests\trps\tMBps\tlat_mean_ms\tlat_p99_ms\tnon2xx\terrors\trss_kb\tloadavg\tthreads\tconns\tduration\n' >"$OUT"
    echo "$line" | awk -v t="$target" -v s="$scen" -v n="$(wc -l <"$paths")" -v rss="$($rss)" \
        -v load="$(cut -d' ' -f1 /proc/loadavg)" -v th="$WRK_THREADS" -v c="$WRK_CONNS" -v d="$WRK_DURATION" \
        'BEGIN{OFS="\t"} { secs=$4/1e6; print t, s, n, $2, sprintf("%.0f", $2/secs), sprintf("%.1f", $3/secs/1e6),
          sprintf("%.2f", $10/1e3), sprintf("%.2f", $12/1e3), $9, $5+$6+$7+$9, rss, load, th, c, d }' >>"$OUT"
    log "$target $scen: $(tail -1 "$OUT" | cut -f5,6,8,11 | awk '{print $1" req/s, "$2" MB/s, p99 "$3" ms, rss "$4" kB"}')"
}

ratios() {
    awk -F'\t' 'NR>1 { r[$1,$2]=$5; m[$1,$2]=$6; s[$2]=1 }
        END { for (k in s) if ((("export",k) in r) && (("aptsnap",k) in r))
              printf "serve %-5s aptsnap/nginx-export: %.2fx req/s, %.2fx MB/s\n", k, r["aptsnap",k]/r["export",k], m["aptsnap",k]/m["export",k] }' "$OUT"
}

run_all() {
    trap stop_all EXIT
    prepare
    start_targets
    urls
    rm -f "$OUT"
    local s
    for s in pool index; do
        bench export "$s" "http://127.0.0.1:$NGINX_PORT" rss_nginx
        bench aptsnap "$s" "http://127.0.0.1:$APTSNAP_PORT" rss_aptsnap
    done
    column -t -s $'\t' "$OUT" >&2
    ratios
}

case "${1:-all}" in
all) run_all ;;
stop) stop_all ;;
*) sed -n 2,20p "$0"; exit 2 ;;
esac

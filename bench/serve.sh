#!/bin/bash
# (d) serving pool and index files on loopback, measured with wrk.
#
#   bench/serve.sh urls                build the URL lists from the fixture's current generation
#   bench/serve.sh nginx               nginx serving FIXTURE statically (port NGINX_PORT, default 8090)
#   bench/serve.sh aptsnap             aptsnap serve (LABEL's data dir, port APTSNAP_PORT) on the
#                                      same files under /<archive>/<serial>/...
#   bench/serve.sh all                 urls, then REPS (default 3) rounds alternating the
#                                      targets: nginx, aptsnap[, aptsnap ALT], nginx, aptsnap...;
#                                      ratios
#   bench/serve.sh ratios              ratios of what OUT holds
#   bench/serve.sh pooled SCENARIO TSV...
#                                      every round's aptsnap/nginx ratio of SCENARIO in
#                                      the TSVs (paired by run and round; target aptsnap
#                                      only), pooled: median, quartiles, geometric mean,
#                                      and their bootstrap 95 % intervals
#
# Scenarios (SCENARIOS, default "pool index xz"), each
# `wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION`, and with CLIENT="wrk aptload"
# (or CLIENT=aptload) also bench/aptload (-c$WRK_CONNS -d$WRK_DURATION), which
# reads answers as APT's http method does, through a 64 kB buffer (wrk reads
# 8 kB at a time); its rows are recorded as scenario "<name>-apt":
#   pool   ~1000 pool files sampled (fixed seed) from the fixture's Packages indices
#   index  InRelease and Packages.xz of bookworm, bookworm-updates, bookworm-security
#   xz     bookworm's Packages.xz alone
# nginx is tuned as a site serving an archive would be (a worker per core,
# sendfile, tcp_nopush, open_file_cache: see nginx_start in lib.sh);
# NGINX_TUNED=0 runs it with its default file handling (no open_file_cache).
# In a round each target is started, measured on every scenario, stopped;
# the first pass over every URL (each must answer 200) warms it.
# APTSNAP_ALT=BINARY adds a second aptsnap build to each round (target
# aptsnap-alt, same data dir), to compare two builds side by side.
# One row per round x target x scenario goes to bench/results/serve-$LABEL.tsv,
# with the server's RSS after the run and its peak (nginx: master + workers),
# the CPU time the server used during the run (and per request: steadier than
# req/s on a busy machine), the client's own CPU time and the two together
# per request, the load, the nginx configuration and the aptsnap binary.  A run
# with non-2xx answers is reported as invalid, not as a throughput.  Note:
# the client and the servers share the machine's cores, and on loopback the
# receiving side's TCP work is charged to whichever of them is on the CPU
# when it runs: for large files compare the CPU with the client's, not the
# server's alone.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

LABEL=${LABEL:-main}
FIXTURE=${FIXTURE:-$BENCH_DATA/upstream}
NGINX_PORT=${NGINX_PORT:-8090}
APTSNAP_PORT=${APTSNAP_PORT:-8080}
APTSNAP=${APTSNAP:-$BENCH_DATA/aptsnap}
APTSNAP_ALT=${APTSNAP_ALT:-}
NGINX_TUNED=${NGINX_TUNED:-1}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-64}
WRK_DURATION=${WRK_DURATION:-15s}
POOL_SAMPLE=${POOL_SAMPLE:-1000}
REPS=${REPS:-3}
SCENARIOS=${SCENARIOS:-pool index xz}
CLIENT=${CLIENT:-wrk}
APTLOAD=${APTLOAD:-$BENCH_DATA/aptload}
UDIR=$BENCH_DATA/serve-urls-$LABEL
OUT=$RESULTS/serve-$LABEL.tsv
COLS='target\tscenario\turls\trequests\trps\tMBps\tlat_mean_ms\tlat_p99_ms\tnon2xx\terrors\trss_kb\tloadavg\tthreads\tconns\tduration\tround\trun\tnginx\tbuild\tpeak_rss_kb\tdate\tcpu_s\tcpu_us_per_req\tclient_cpu_s\ttotal_cpu_us_per_req'
ROUND=${ROUND:-1}
RUN=${RUN:-$(date -u +%Y%m%dT%H%M%S)}
if [ "$NGINX_TUNED" = 1 ]; then NGINX_CONF=tuned; else NGINX_CONF=default; fi
mkdir -p "$BENCH_DATA/run"

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
xz = [("debian", "dists/bookworm/main/binary-amd64/Packages.xz")]
for name, rows in (("pool", sample), ("index", index), ("xz", xz)):
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

# out_header: OUT starts with this script's columns (a file from before the
# last columns existed gets the new header; its rows leave them empty).
out_header() {
    local want; want=$(printf "$COLS")
    if [ ! -s "$OUT" ]; then echo "$want" >"$OUT"
    elif [ "$(head -1 "$OUT")" != "$want" ]; then sed -i "1c\\$COLS" "$OUT"; fi
}

# cpu_ticks PID...: user + system time of the processes, in clock ticks
cpu_ticks() {
    local p; for p in "$@"; do sed 's/.*) //' "/proc/$p/stat"; done | awk '{s+=$12+$13} END {print s+0}'
}

# status_kb FIELD PID...: sum of a /proc/PID/status field (VmRSS, VmHWM)
status_kb() {
    local f=$1 p; shift
    for p in "$@"; do awk -v f="$f:" '$1==f {print $2}' "/proc/$p/status"; done | awk '{s+=$1} END {print s+0}'
}

# bench TARGET SCENARIO BASE_URL PATHS_FILE BUILD PIDS_CMD
# PIDS_CMD prints the server's processes: their RSS after the run (and its
# peak) and the CPU time they used during it are recorded.
bench() {
    local target=$1 scen=$2 base=$3 paths=$4 build=$5 pids_cmd=$6 client=${7:-wrk}
    local bad out line rss peak pids t0 t1 hz client_cmd client_cpu
    if [ "$client" = aptload ]; then
        scen=$scen-apt
        client_cmd=("$APTLOAD" -c "$WRK_CONNS" -d "$WRK_DURATION" -urls "$paths" "$base/")
    else
        client_cmd=(wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION" --latency -s "$BENCH_DIR/wrk-urls.lua" "$base/")
    fi
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
    pids=$($pids_cmd); hz=$(getconf CLK_TCK)
    # shellcheck disable=SC2086
    t0=$(cpu_ticks $pids)
    # the client's own CPU time too: on loopback the receiving side's TCP
    # work runs in whichever process is on the CPU when it is due, so a
    # server's CPU a request alone shifts with timing; server + client does not
    out=$(WRK_URLS=$paths /usr/bin/time -f 'WRKTIME %U %S' "${client_cmd[@]}" 2>&1)
    client_cpu=$(echo "$out" | awk '$1=="WRKTIME" {print $2+$3}')
    echo "$out" >"$BENCH_DATA/run/wrk-$LABEL-$target-$scen.txt"
    line=$(echo "$out" | awk '$1=="WRK"')
    [ -n "$line" ] || { log "$client gave no result: $out"; return 1; }
    out_header
    # shellcheck disable=SC2086
    t1=$(cpu_ticks $pids); rss=$(status_kb VmRSS $pids); peak=$(status_kb VmHWM $pids)
    echo "$line" | awk -v t="$target" -v s="$scen" -v n="$(wc -l <"$paths")" -v rss="$rss" -v peak="$peak" \
        -v load="$(cut -d' ' -f1 /proc/loadavg)" -v th="$WRK_THREADS" -v c="$WRK_CONNS" -v d="$WRK_DURATION" \
        -v round="$ROUND" -v run="$RUN" -v ng="$NGINX_CONF" -v b="$build" -v date="$(date -u +%FT%TZ)" -v cpu="$(( t1 - t0 ))" -v hz="$hz" -v client="${client_cpu:-0}" \
        'BEGIN{OFS="\t"} { secs=$4/1e6; print t, s, n, $2, sprintf("%.0f", $2/secs), sprintf("%.1f", $3/secs/1e6),
          sprintf("%.2f", $10/1e3), sprintf("%.2f", $12/1e3), $9, $5+$6+$7+$9, rss, load, th, c, d,
          round, run, ng, b, peak, date, sprintf("%.2f", cpu/hz), sprintf("%.1f", cpu/hz*1e6/$2),
          sprintf("%.2f", client), sprintf("%.1f", (cpu/hz+client)*1e6/$2) }' >>"$OUT"
    log "$target $scen (round $ROUND): $(tail -1 "$OUT" | cut -f5,6,11,22,23,25 | awk '{print $1" req/s, "$2" MB/s, rss "$3" kB, cpu "$4" s, "$5" us/req, with the client "$6" us/req"}')"
}

nginx_pids() {  # master and workers
    local pid; pid=$(cat "$BENCH_DATA/run/nginx-serve-$NGINX_PORT/nginx.pid")
    echo "$pid" $(pgrep -P "$pid")
}

run_nginx() {
    [ -f "$UDIR/xz.rel" ] || urls
    local tuned= s cl
    [ "$NGINX_CONF" = tuned ] && tuned=tuned
    nginx_start "serve-$NGINX_PORT" "$FIXTURE" "$NGINX_PORT" $tuned
    for s in $SCENARIOS; do
        absolutize "$s" /debian /debian-security >"$UDIR/nginx-$s.txt"
        for cl in $CLIENT; do
            bench nginx "$s" "http://127.0.0.1:$NGINX_PORT" "$UDIR/nginx-$s.txt" \
                "nginx-$(nginx -v 2>&1 | sed 's/.*nginx\///')" nginx_pids "$cl" || true
        done
    done
    nginx_stop "serve-$NGINX_PORT"
}

# ---- aptsnap hook ----------------------------------------------------------
# Same relative lists, under /<archive>/<serial>/ where serial is the latest
# snapshot of each archive (from the trace file aptsnap serves).  The latest
# snapshot must be of the fixture generation the lists were built from
# (bench/run.sh pulses the generation it then serves).
aptsnap_pids() { cat "$BENCH_DATA/aptsnap-$LABEL/serve.pid"; }

# run_aptsnap [TARGET BINARY]
run_aptsnap() {
    local target=${1:-aptsnap} bin=${2:-$APTSNAP}
    [ -f "$UDIR/xz.rel" ] || urls
    LABEL=$LABEL APTSNAP=$bin "$BENCH_DIR/aptsnap.sh" serve-start
    local base=http://127.0.0.1:$APTSNAP_PORT sd ss s cl
    sd=$(curl -fsS "$base/debian/project/trace/debian" | awk '/^Archive serial:/{print $3}')
    ss=$(curl -fsS "$base/debian-security/project/trace/debian-security" | awk '/^Archive serial:/{print $3}')
    sd=${APTSNAP_SERIAL_DEBIAN:-$sd}; ss=${APTSNAP_SERIAL_SECURITY:-$ss}
    [ -n "$sd" ] && [ -n "$ss" ] || { LABEL=$LABEL "$BENCH_DIR/aptsnap.sh" serve-stop; die "no serials from aptsnap's trace files"; }
    log "$target serials: debian $sd, debian-security $ss"
    for s in $SCENARIOS; do
        absolutize "$s" "/debian/$sd" "/debian-security/$ss" >"$UDIR/aptsnap-$s.txt"
        for cl in $CLIENT; do
            bench "$target" "$s" "$base" "$UDIR/aptsnap-$s.txt" "$(basename "$bin")" aptsnap_pids "$cl" || true
        done
    done
    log "$target serve RSS after the scenarios: $(LABEL=$LABEL "$BENCH_DIR/aptsnap.sh" serve-rss)"
    LABEL=$LABEL "$BENCH_DIR/aptsnap.sh" serve-stop
}

# ratios: per nginx configuration, scenario and aptsnap build, each round's
# req/s over nginx's in the same round, then their range and median.
ratios() {
    [ -f "$OUT" ] || return 0
    awk -F'\t' 'NR==1 { for (i=1; i<=NF; i++) c[$i]=i; next }
        { ng = ("nginx" in c && $c["nginx"] != "") ? $c["nginx"] : "default"
          rd = ("run" in c && $c["run"] != "") ? $c["run"] "/" $c["round"] : NR
          k = ng SUBSEP $2 SUBSEP rd
          tg = ("build" in c && $c["build"] != "") ? $1 "=" $c["build"] : $1
          cpu = ("cpu_us_per_req" in c) ? $c["cpu_us_per_req"] : ""
          tot = ("total_cpu_us_per_req" in c) ? $c["total_cpu_us_per_req"] : ""
          if ($1 == "nginx") { n[k]=$5; nc[k]=cpu; nt[k]=tot } else { a[tg SUBSEP k]=$5; ac[tg SUBSEP k]=cpu; at[tg SUBSEP k]=tot; t[tg]=1 }
          s[ng SUBSEP $2]=1 }
        END { for (sk in s) { split(sk, p, SUBSEP)
                for (tg in t) { m=0; line=""; cl=""; tl=""
                  for (ak in a) { split(ak, q, SUBSEP); nk = p[1] SUBSEP p[2] SUBSEP q[4]
                    if (q[1]==tg && q[2]==p[1] && q[3]==p[2] && (nk in n)) {
                      r[++m]=a[ak]/n[nk]; line=line sprintf(" %.2f", r[m])
                      if (ac[ak] != "" && nc[nk] > 0) cl=cl sprintf(" %.2f", ac[ak]/nc[nk])
                      if (at[ak] != "" && nt[nk] > 0) tl=tl sprintf(" %.2f", at[ak]/nt[nk]) } }
                  if (m==0) continue
                  for (i=1;i<=m;i++) for (j=i+1;j<=m;j++) if (r[j]<r[i]) { x=r[i]; r[i]=r[j]; r[j]=x }
                  med = (m%2) ? r[(m+1)/2] : (r[m/2]+r[m/2+1])/2
                  printf "serve %-5s %s/nginx(%s): %.2f-%.2fx req/s, median %.2fx over %d round(s):%s (target >= 1.0x)%s%s\n",
                         p[2], tg, p[1], r[1], r[m], med, m, line, (cl == "" ? "" : "; CPU a request:" cl),
                         (tl == "" ? "" : "; with the client'"'"'s:" tl) } } }' "$OUT" | sort
}

# pooled SCENARIO TSV...: see the header.
pooled() {
    local scen=${1:?pooled needs a scenario}; shift
    python3 - "$scen" "$@" <<'PY'
import csv, math, random, statistics, sys
scen, ratios = sys.argv[1], []
for path in sys.argv[2:]:
    ng, ap = {}, {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["scenario"] != scen:
                continue
            key = (row.get("run") or path, row["round"])
            if row["target"] == "nginx":
                ng[key] = float(row["rps"])
            elif row["target"] == "aptsnap":
                ap[key] = float(row["rps"])
    ratios += [ap[k] / ng[k] for k in ap if k in ng and ng[k] > 0]
if not ratios:
    sys.exit("pooled: no paired rounds of %s in %s" % (scen, " ".join(sys.argv[2:])))
geo = lambda v: math.exp(statistics.fmean(math.log(x) for x in v))
rng = random.Random(1)
boot = lambda f: sorted(f(rng.choices(ratios, k=len(ratios))) for _ in range(10000))
m, g = boot(statistics.median), boot(geo)
q = statistics.quantiles(ratios, n=4)
print("pooled %s: %d rounds, median %.2fx (95%% %.2f-%.2f), quartiles %.2f %.2f, geometric mean %.2fx (95%% %.2f-%.2f), range %.2f-%.2f"
      % (scen, len(ratios), statistics.median(ratios), m[250], m[9749], q[0], q[2], geo(ratios), g[250], g[9749], min(ratios), max(ratios)))
PY
}

# aptload_build: the APT-like client, from this checkout, when it is used.
aptload_build() {
    case " $CLIENT " in *" aptload "*) ;; *) return 0 ;; esac
    (cd "$REPO_DIR" && go build -o "$APTLOAD" ./bench/aptload) || die "go build bench/aptload failed"
}

case "${1:-all}" in
urls) urls ;;
nginx) aptload_build; run_nginx ;;
aptsnap) aptload_build; run_aptsnap ;;
ratios) ratios ;;
pooled) shift; pooled "$@" ;;
all) urls; aptload_build
     [ -x "$APTSNAP" ] || log "no aptsnap binary at $APTSNAP: nginx only"
     log "serve $LABEL: $REPS round(s) of $SCENARIOS, nginx $NGINX_CONF, load $(cut -d' ' -f1-3 /proc/loadavg)"
     for ROUND in $(seq "$REPS"); do
         run_nginx
         if [ -x "$APTSNAP" ]; then run_aptsnap aptsnap "$APTSNAP"; fi
         if [ -n "$APTSNAP_ALT" ]; then run_aptsnap aptsnap-alt "$APTSNAP_ALT"; fi
     done
     ratios ;;
*) sed -n 2,42p "$0"; exit 2 ;;
esac

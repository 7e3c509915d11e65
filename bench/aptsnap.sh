#!/bin/bash
# aptsnap side of the benchmarks, same shape as bench/aptly.sh.
#
#   bench/aptsnap.sh build                 go build -o $APTSNAP ./cmd/aptsnap (in the repo)
#   bench/aptsnap.sh run [FIRST [LAST]]    rebuild fixture to each generation and step
#                                          (default 0 3; resumable per LABEL)
#   bench/aptsnap.sh init                  data dir + config.toml
#   bench/aptsnap.sh step GEN              pulse debian, pulse debian-security; sizes
#   bench/aptsnap.sh snapbench             (b) snapshot+sign of an already-downloaded state,
#                                          at LIMITS package counts (default "1000 10000 0")
#   bench/aptsnap.sh serve-start|serve-stop|serve-rss
#   bench/aptsnap.sh status|summary
#
# Environment: LABEL (default main): state in $BENCH_DATA/aptsnap-$LABEL, results in
# bench/results/aptsnap-$LABEL{,-sizes}.tsv.  FIXTURE, UPSTREAM_PORT, LIMIT as in aptly.sh.
# APTSNAP (default $BENCH_DATA/aptsnap) is the binary; APTSNAP_PORT (default 8080);
# APTSNAP_SERVE_FLAGS (default --no-schedule: no pulse while serving is measured).
# APTSNAP_TOGETHER=1: step pulses both archives in one process (item "all"), with
# APTSNAP_PULSE_FLAGS (e.g. "--parallel 2").
set -euo pipefail
. "$(dirname "$0")/lib.sh"

LABEL=${LABEL:-main}
FIXTURE=${FIXTURE:-$BENCH_DATA/upstream}
LIMIT=${LIMIT:-0}
APTSNAP=${APTSNAP:-$BENCH_DATA/aptsnap}
APTSNAP_PORT=${APTSNAP_PORT:-8080}
STATE=$BENCH_DATA/aptsnap-$LABEL
DATA=$STATE/data
CONF=$STATE/config.toml
TSV=$RESULTS/aptsnap-$LABEL.tsv
SIZES=$RESULTS/aptsnap-$LABEL-sizes.tsv
export STEP_LOG=$STATE/steps.log
URL=http://127.0.0.1:$UPSTREAM_PORT
ARCHIVES="debian debian-security"

need_binary() {
    [ -x "$APTSNAP" ] || die "no aptsnap binary at $APTSNAP: run bench/aptsnap.sh build"
}

build() {
    (cd "$REPO_DIR" && go build -o "$APTSNAP" ./cmd/aptsnap) || die "go build failed"
    log "built $APTSNAP ($(cd "$REPO_DIR" && git rev-parse --short HEAD 2>/dev/null || echo no-commit))"
}

# write_config FILE DATA_DIR UPSTREAM_URL KEYRING
write_config() {
    cat >"$1" <<CONF
data_dir = "$2"
listen = "127.0.0.1:$APTSNAP_PORT"
public_url = "http://127.0.0.1:$APTSNAP_PORT"

[[archive]]
name = "debian"
url = "$3/debian"
keyring = "$4"
suites = ["bookworm", "bookworm-updates"]
components = ["main"]
architectures = ["amd64"]

[[archive]]
name = "debian-security"
url = "$3/debian-security"
keyring = "$4"
suites = ["bookworm-security"]
components = ["main"]
architectures = ["amd64"]
CONF
}

init() {
    mkdir -p "$STATE" "$DATA"
    write_config "$CONF" "$DATA" "$URL" "$FIXTURE/keyring.gpg"
}

last_done() { cat "$STATE/last-gen" 2>/dev/null || echo -1; }

catalog_bytes() {  # catalog.db plus its -wal/-shm, as SQLite leaves them
    local d=$1 s=0 f
    for f in "$d"/catalog.db "$d"/catalog.db-wal "$d"/catalog.db-shm; do
        [ -e "$f" ] && s=$((s + $(stat -c %s "$f")))
    done
    echo "$s"
}

step() {
    local gen=$1 a
    need_binary
    [ "$(last_done)" -lt "$gen" ] || { log "aptsnap $LABEL: generation $gen already done"; return 0; }
    if [ -f "$TSV" ]; then
        awk -F'\t' -v g="$gen" 'NR==1 || $2!=g' "$TSV" >"$TSV.tmp" && mv "$TSV.tmp" "$TSV"
    fi
    log "aptsnap $LABEL: generation $gen (load $(cut -d' ' -f1-3 /proc/loadavg))"
    if [ "${APTSNAP_TOGETHER:-0}" = 1 ]; then # one process, as `pulse --all` from cron
        # shellcheck disable=SC2086
        timed "$TSV" aptsnap "$gen" pulse all -- "$APTSNAP" pulse --config "$CONF" ${APTSNAP_PULSE_FLAGS:-} $ARCHIVES \
            || die "pulse $ARCHIVES failed (see $STEP_LOG)"
    else
        for a in $ARCHIVES; do
            timed "$TSV" aptsnap "$gen" pulse "$a" -- "$APTSNAP" pulse --config "$CONF" "$a" \
                || die "pulse $a failed (see $STEP_LOG)"
        done
    fi
    [ -s "$SIZES" ] || printf 'gen\tcatalog_bytes\tblobs_bytes\tblobs_files\tsnapshots\n' >"$SIZES"
    awk -F'\t' -v g="$gen" 'NR==1 || $1!=g' "$SIZES" >"$SIZES.tmp" && mv "$SIZES.tmp" "$SIZES"
    printf '%s\t%s\t%s\t%s\t%s\n' "$gen" "$(catalog_bytes "$DATA")" \
        "$(du -sb "$DATA/blobs" 2>/dev/null | cut -f1)" "$(find "$DATA/blobs" -type f 2>/dev/null | wc -l)" \
        "$("$APTSNAP" snapshot list --config "$CONF" 2>/dev/null | grep -cE '[0-9]{10}' || true)" >>"$SIZES"
    echo "$gen" >"$STATE/last-gen"
    log "aptsnap $LABEL: generation $gen done: $(summary | awk -F'\t' -v g="$gen" '$1==g')"
}

# gen  pulse_s (all archives)  peak_rss_kb  catalog_bytes
summary() {
    [ -f "$TSV" ] || return 0
    awk -F'\t' 'FNR==1 {next}
        FILENAME==ARGV[1] { g[$2]=1; w[$2]+=$5; if ($8>r[$2]) r[$2]=$8; next }
        { c[$1]=$2 }
        END { for (k in g) printf "%s\t%.3f\t%d\t%s\n", k, w[k], r[k], c[k] }' \
        "$TSV" "$SIZES" | sort -n | sed '1i gen\tpulse_s\tpeak_rss_kb\tcatalog_bytes'
}

run() {
    local first=${1:-0} last=${2:-3} gen started=
    need_binary
    mkdir -p "$STATE"
    [ -f "$STATE/meta.txt" ] || { machine_info; echo "aptsnap: $APTSNAP"; echo "fixture: $FIXTURE limit=$LIMIT"; } >"$STATE/meta.txt"
    for gen in $(seq "$first" "$last"); do
        [ "$(last_done)" -lt "$gen" ] || continue
        build_fixture "$FIXTURE" "$gen" "$LIMIT"
        # (re)start the upstream nginx on this FIXTURE: the port may serve another one
        [ -n "$started" ] || { nginx_start "upstream-$UPSTREAM_PORT" "$FIXTURE" "$UPSTREAM_PORT"; started=1; }
        init
        step "$gen"
    done
    summary
}

# (b) snapshot + sign of an already-downloaded state, as the package count grows.
# Each LIMIT gets its own fixture (generation 0, --limit LIMIT), served on
# SNAP_PORT, and its own data dir; one pulse downloads everything, then
# hyperfine times pulses of the unchanged upstream: fetch InRelease (loopback),
# verify, find nothing new, snapshot, sign.  When aptsnap grows a command that
# snapshots without fetching, set APTSNAP_SNAPSHOT_CMD to it ({conf} and
# {archive} are substituted) to time exactly snapshot + sign.
# Each run creates one snapshot: serials are YYYYMMDDNN, so keep
# warmup + runs + 1 under 99 a day per data dir.
snapbench() {
    need_binary
    local port=${SNAP_PORT:-8092} runs=${SNAP_RUNS:-10} lim fx st conf cmd
    local out=$RESULTS/aptsnap-$LABEL-snapbench.tsv
    [ -s "$out" ] || printf 'limit\tpackages\tmean_s\tstddev_s\tmedian_s\tmin_s\tmax_s\truns\n' >"$out"
    for lim in ${LIMITS:-1000 10000 0}; do
        fx=$BENCH_DATA/upstream-l$lim; st=$STATE/snap-l$lim; conf=$st/config.toml
        build_fixture "$fx" 0 "$lim"
        nginx_start "upstream-$port" "$fx" "$port"
        rm -rf "$st"; mkdir -p "$st/data"
        write_config "$conf" "$st/data" "http://127.0.0.1:$port" "$fx/keyring.gpg"
        "$APTSNAP" pulse --config "$conf" debian >>"$STEP_LOG" 2>&1 || die "first pulse at limit $lim failed"
        cmd=${APTSNAP_SNAPSHOT_CMD:-"$APTSNAP pulse --config {conf} {archive}"}
        cmd=${cmd//\{conf\}/$conf}; cmd=${cmd//\{archive\}/debian}
        hyperfine -N --warmup 1 --runs "$runs" --export-json "$st/hyperfine.json" "$cmd" >>"$STEP_LOG" 2>&1 \
            || die "hyperfine at limit $lim failed (see $STEP_LOG)"
        python3 - "$st/hyperfine.json" "$lim" "$fx" >>"$out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
n = sum(1 for l in open(sys.argv[3] + "/debian/dists/bookworm/main/binary-amd64/Packages") if l.startswith("Package: "))
n += sum(1 for l in open(sys.argv[3] + "/debian/dists/bookworm-updates/main/binary-amd64/Packages") if l.startswith("Package: "))
print("%s\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%d" % (sys.argv[2], n, r["mean"], r["stddev"] or 0,
      r["median"], r["min"], r["max"], len(r["times"])))
PY
        log "snapbench limit=$lim: $(tail -1 "$out")"
        nginx_stop "upstream-$port"
    done
    cat "$out"
}

serve_start() {
    need_binary
    serve_stop
    nohup "$APTSNAP" serve --config "$CONF" ${APTSNAP_SERVE_FLAGS:---no-schedule} >"$STATE/serve.log" 2>&1 &
    echo $! >"$STATE/serve.pid"
    local i; for i in $(seq 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$APTSNAP_PORT/debian/project/trace/debian" || true)" = 200 ] && break
        kill -0 "$(cat "$STATE/serve.pid")" 2>/dev/null || die "aptsnap serve exited (see $STATE/serve.log)"
        sleep 0.1
    done
    log "aptsnap serve: pid $(cat "$STATE/serve.pid") on 127.0.0.1:$APTSNAP_PORT"
}

serve_stop() {
    [ -s "$STATE/serve.pid" ] || return 0
    local pid; pid=$(cat "$STATE/serve.pid")
    kill "$pid" 2>/dev/null && { local i; for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; }
    rm -f "$STATE/serve.pid"
}

serve_rss() {  # VmRSS and VmHWM (peak) of the server, kB
    local pid; pid=$(cat "$STATE/serve.pid")
    awk '/^VmRSS|^VmHWM/{printf "%s %s ", $1, $2} END {print ""}' "/proc/$pid/status"
}

case "${1:-run}" in
build) build ;;
init) init ;;
step) step "$2" ;;
run) shift || true; run "$@" ;;
snapbench) snapbench ;;
serve-start) serve_start ;;
serve-stop) serve_stop ;;
serve-rss) serve_rss ;;
summary) summary ;;
status) echo "label $LABEL: last generation done: $(last_done)"; summary ;;
*) sed -n 2,17p "$0"; exit 2 ;;
esac

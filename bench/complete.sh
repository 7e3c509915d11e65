#!/bin/bash
# Complete snapshots (issue 12): a pulse with every index on (the default:
# Translation-*, Contents-*, dep11, debian-installer) against the same pulse
# with only Packages (languages = [], contents = false, installer = false,
# dep11 = false), on the same upstream, in one run.
#
#   bench/complete.sh run [FIRST [LAST]]   per generation (default 0 2): build the
#                                          fixture, complete it, pulse it REPS times
#                                          each way; resumable
#   bench/complete.sh fixture GEN          build generation GEN and complete it only
#   bench/complete.sh check                serve the newest "on" snapshot and fetch
#                                          every file its Release lists, checked
#   bench/complete.sh summary              ratios on/off per generation
#   bench/complete.sh stop                 stop the upstream nginx
#
# The fixture is make-upstream's (--limit LIMIT, default 10000) plus what
# bench/complete adds to each suite: Translation-en, Contents-amd64/-all/-udeb,
# dep11 Components and icons, debian-installer Packages and udebs, sized per
# package as Debian bookworm's, re-signed with the fixture's key. It is served
# by a private nginx on 127.0.0.1:PORT (default 8094) that logs every request,
# so each pulse's downloads are counted.
#
# Per generation and repetition r (REPS, default 2), the two data dirs
# on-r and off-r each pulse debian then debian-security ("pulse": the
# generation's change), then both again on the unchanged upstream ("again":
# should download nothing but the InRelease files). Odd repetitions run off
# first, even ones on first. Each row of bench/results/complete-$LABEL.tsv:
# wall and CPU time of both pulses, peak RSS, requests and bytes nginx sent,
# growth of the file store (data/blobs) and of the catalog (catalog.db +
# -wal + -shm), load average.
#
# Environment: LABEL (default complete), LIMIT, REPS, PORT; APTSNAP (default:
# built from commit REV, default HEAD, into the state dir at the first run;
# BUILD=1 rebuilds);
# state in $BENCH_DATA/complete-$LABEL, fixture in $BENCH_DATA/upstream-complete-l$LIMIT.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

LABEL=${LABEL:-complete}
LIMIT=${LIMIT:-10000}
REPS=${REPS:-2}
PORT=${PORT:-8094}
STATE=$BENCH_DATA/complete-$LABEL
FIXTURE=${FIXTURE:-$BENCH_DATA/upstream-complete-l$LIMIT}
APTSNAP=${APTSNAP:-$STATE/aptsnap}
COMPLETE=$STATE/complete
TSV=$RESULTS/complete-$LABEL.tsv
NGX=$BENCH_DATA/run/nginx-complete-$PORT
export STEP_LOG=$STATE/steps.log

# aptsnap is built from a commit (REV, default HEAD), exported with git
# archive, so that work in progress in the tree does not end up in the
# measurement; bench/complete is built from the tree.
build() {
    mkdir -p "$STATE"
    if [ ! -x "$APTSNAP" ] || [ "${BUILD:-0}" = 1 ]; then
        local rev src=$STATE/src
        rev=$(cd "$REPO_DIR" && git rev-parse --short "${REV:-HEAD}") || die "no commit ${REV:-HEAD}"
        rm -rf "$src"; mkdir -p "$src"
        (cd "$REPO_DIR" && git archive "$rev") | tar -x -C "$src" || die "git archive $rev failed"
        (cd "$src" && go build -o "$APTSNAP" ./cmd/aptsnap) || die "go build aptsnap failed"
        echo "aptsnap built $(date -u +%FT%TZ) from commit $rev" >>"$STATE/meta.txt"
    fi
    (cd "$REPO_DIR" && go build -o "$COMPLETE" ./bench/complete) || die "go build bench/complete failed"
}

fixture() {
    local gen=$1
    build_fixture "$FIXTURE" "$gen" "$LIMIT"
    "$COMPLETE" -fixture "$FIXTURE" >"$STATE/fixture-gen$gen.txt" || die "bench/complete failed"
    log "fixture gen $gen complete: $(grep -c 'served\|listed' "$STATE/fixture-gen$gen.txt") files added (see $STATE/fixture-gen$gen.txt)"
}

# The upstream: nginx as lib.sh's, but with an access log (status, bytes, URI).
upstream_start() {
    upstream_stop
    mkdir -p "$NGX/tmp"
    cat >"$NGX/nginx.conf" <<CONF
worker_processes 1;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65;
    log_format counted '\$status \$body_bytes_sent \$request_uri';
    access_log $NGX/access.log counted;
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    server { listen 127.0.0.1:$PORT; root $FIXTURE; }
}
CONF
    touch "$NGX/access.log"
    nginx -c "$NGX/nginx.conf" || die "nginx failed (see $NGX/error.log)"
    local i; for i in $(seq 50); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/" || true)" != 000 ] && break; sleep 0.1
    done
    log "upstream: nginx pid $(cat "$NGX/nginx.pid") serving $FIXTURE on 127.0.0.1:$PORT"
}

upstream_stop() {
    [ -s "$NGX/nginx.pid" ] || return 0
    local pid; pid=$(cat "$NGX/nginx.pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill -QUIT "$pid"
        local i; for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$NGX/nginx.pid"
}

# config MODE DIR: both archives, every index on (MODE on) or Packages only (off).
config() {
    local narrow=""
    [ "$1" = off ] && narrow=$'languages = []\ncontents = false\ninstaller = false\ndep11 = false'
    mkdir -p "$2/data"
    local a
    {
        printf 'data_dir = "%s"\nlisten = "127.0.0.1:8081"\npublic_url = "http://127.0.0.1:8081"\n' "$2/data"
        for a in "debian bookworm\", \"bookworm-updates" "debian-security bookworm-security"; do
            printf '\n[[archive]]\nname = "%s"\nurl = "http://127.0.0.1:%s/%s"\nkeyring = "%s"\nsuites = ["%s"]\n' \
                "${a%% *}" "$PORT" "${a%% *}" "$FIXTURE/keyring.gpg" "${a#* }"
            printf 'components = ["main"]\narchitectures = ["amd64"]\n%s\n' "$narrow"
        done
    } >"$2/config.toml"
}

catalog_bytes() {
    local s=0 f
    for f in "$1"/catalog.db "$1"/catalog.db-wal "$1"/catalog.db-shm; do
        [ -e "$f" ] && s=$((s + $(stat -c %s "$f")))
    done
    echo "$s"
}

# pulses GEN MODE REP PHASE: pulse both archives of MODE-REP, append one row.
pulses() {
    local gen=$1 mode=$2 rep=$3 phase=$4 dir=$STATE/$2-$3 a tf
    local cat0 blob0 files0 log0 load wall=0 user=0 sys=0 rss=0 line w u s m
    config "$mode" "$dir"
    mkdir -p "$dir/data/blobs"
    cat0=$(catalog_bytes "$dir/data"); blob0=$(du -sb "$dir/data/blobs" | cut -f1)
    files0=$(find "$dir/data/blobs" -type f | wc -l)
    log0=$(wc -l <"$NGX/access.log"); load=$(cut -d' ' -f1 /proc/loadavg)
    tf=$(mktemp)
    for a in debian debian-security; do
        /usr/bin/time -f '%e %U %S %M' -o "$tf" "$APTSNAP" pulse --config "$dir/config.toml" "$a" >>"$STEP_LOG" 2>&1 \
            || die "gen $gen $mode-$rep $phase: pulse $a failed (see $STEP_LOG)"
        read -r w u s m <"$tf"
        wall=$(awk -v x="$wall" -v y="$w" 'BEGIN{print x+y}'); user=$(awk -v x="$user" -v y="$u" 'BEGIN{print x+y}')
        sys=$(awk -v x="$sys" -v y="$s" 'BEGIN{print x+y}'); [ "$m" -gt "$rss" ] && rss=$m
    done
    rm -f "$tf"
    sleep 0.2  # nginx writes its log line after the response
    line=$(tail -n +"$((log0 + 1))" "$NGX/access.log" | awk '{n++; b+=$2; if ($1 != 200) o++} END {printf "%d\t%d\t%d", n, b, o}')
    tail -n +"$((log0 + 1))" "$NGX/access.log" | sed "s/^/$gen $mode-$rep $phase /" >>"$STATE/requests.log"
    [ -s "$TSV" ] || printf 'gen\tmode\trep\tphase\twall_s\tuser_s\tsys_s\tmaxrss_kb\trequests\tfetched_bytes\tnon200\tstored_bytes\tstored_files\tcatalog_before\tcatalog_after\tloadavg\n' >"$TSV"
    printf '%s\t%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$gen" "$mode" "$rep" "$phase" "$wall" "$user" "$sys" "$rss" \
        "$line" "$(( $(du -sb "$dir/data/blobs" | cut -f1) - blob0 ))" "$(( $(find "$dir/data/blobs" -type f | wc -l) - files0 ))" \
        "$cat0" "$(catalog_bytes "$dir/data")" "$load" >>"$TSV"
    log "gen $gen $mode-$rep $phase: $(tail -1 "$TSV" | cut -f5-)"
}

run() {
    local first=${1:-0} last=${2:-2} gen rep mode
    build
    [ -f "$STATE/machine.txt" ] || { machine_info; echo "fixture: $FIXTURE limit=$LIMIT reps=$REPS"; } >"$STATE/machine.txt"
    local started=
    for gen in $(seq "$first" "$last"); do
        if [ "$(cat "$STATE/last-gen" 2>/dev/null || echo -1)" -ge "$gen" ]; then
            log "generation $gen already done"; continue
        fi
        fixture "$gen"
        [ -n "$started" ] || { upstream_start; started=1; }
        if [ -f "$TSV" ]; then  # a generation interrupted half-way is redone from its start
            awk -F'\t' -v g="$gen" 'NR==1 || $1!=g' "$TSV" >"$TSV.tmp" && mv "$TSV.tmp" "$TSV"
        fi
        for rep in $(seq "$REPS"); do
            local order="off on"; [ $((rep % 2)) = 0 ] && order="on off"
            for mode in $order; do
                if [ "$(cat "$STATE/$mode-$rep/last-gen" 2>/dev/null || echo -1)" -ge "$gen" ]; then
                    die "$mode-$rep already pulsed generation $gen but the generation is not recorded: remove $STATE to start over"
                fi
                pulses "$gen" "$mode" "$rep" pulse
                pulses "$gen" "$mode" "$rep" again
                echo "$gen" >"$STATE/$mode-$rep/last-gen"
            done
        done
        echo "$gen" >"$STATE/last-gen"
    done
    summary
}

# summary: mean over repetitions per generation, phase and mode; ratio on/off.
summary() {
    [ -f "$TSV" ] || return 0
    python3 - "$TSV" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
def mean(xs): return sum(xs) / len(xs) if xs else 0
keys = sorted({(int(r["gen"]), r["phase"]) for r in rows}, key=lambda k: (k[0], k[1] != "pulse"))
cols = [("wall s", lambda r: float(r["wall_s"])),
        ("CPU s", lambda r: float(r["user_s"]) + float(r["sys_s"])),
        ("peak RSS MB", lambda r: int(r["maxrss_kb"]) / 1024),
        ("requests", lambda r: int(r["requests"])),
        ("fetched MB", lambda r: int(r["fetched_bytes"]) / 1e6),
        ("stored MB", lambda r: int(r["stored_bytes"]) / 1e6),
        ("catalog +kB", lambda r: (int(r["catalog_after"]) - int(r["catalog_before"])) / 1e3)]
print("gen\tphase\tmetric\toff\ton\ton/off\t(per repetition: off | on)")
for g, ph in keys:
    sel = {m: [r for r in rows if int(r["gen"]) == g and r["phase"] == ph and r["mode"] == m] for m in ("off", "on")}
    for name, f in cols:
        off, on = mean([f(r) for r in sel["off"]]), mean([f(r) for r in sel["on"]])
        ratio = "%.2f" % (on / off) if off else "-"
        reps = " ".join("%.2f" % f(r) for r in sel["off"]) + " | " + " ".join("%.2f" % f(r) for r in sel["on"])
        print("%d\t%s\t%s\t%.2f\t%.2f\t%s\t%s" % (g, ph, name, off, on, ratio, reps))
    loads = [float(r["loadavg"]) for r in sel["off"] + sel["on"]]
    print("%d\t%s\tload avg\t%.1f-%.1f" % (g, ph, min(loads), max(loads)))
PY
}

# check: serve the newest "on" snapshot of each archive and fetch every file
# its Release lists (the plain files decompressed on the fly included),
# comparing size and SHA256.
check() {
    local dir=$STATE/on-1 port=${CHECK_PORT:-8095} pid
    sed -e "s#^listen = .*#listen = \"127.0.0.1:$port\"#" -e "s#^public_url = .*#public_url = \"http://127.0.0.1:$port\"#" \
        "$dir/config.toml" >"$STATE/check.toml"
    "$APTSNAP" serve --config "$STATE/check.toml" --no-schedule >"$STATE/check-serve.log" 2>&1 &
    pid=$!
    local i; for i in $(seq 100); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/debian/project/trace/debian" && break; sleep 0.1
    done
    python3 - "http://127.0.0.1:$port" <<'PY' || { kill "$pid"; die "check failed"; }
import hashlib, sys, urllib.request
base, bad, n = sys.argv[1], 0, 0
for archive, suites in (("debian", ["bookworm", "bookworm-updates"]), ("debian-security", ["bookworm-security"])):
    trace = urllib.request.urlopen("%s/%s/project/trace/%s" % (base, archive, archive)).read().decode()
    serial = [l.split()[2] for l in trace.splitlines() if l.startswith("Archive serial:")][0]
    for s in suites:
        root = "%s/%s/%s/dists/%s/" % (base, archive, serial, s)
        rel = urllib.request.urlopen(root + "Release").read().decode()
        sec, files = None, []
        for line in rel.splitlines():
            if not line.startswith(" "):
                sec = line.rstrip(":")
            elif sec == "SHA256":
                sha, size, p = line.split()
                files.append((sha, int(size), p))
        for sha, size, p in files:
            n += 1
            try:
                data = urllib.request.urlopen(root + p).read()
            except Exception as e:
                print("FAIL %s %s/%s: %s" % (archive, s, p, e)); bad += 1; continue
            if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
                print("FAIL %s %s/%s: %d bytes, listed %d" % (archive, s, p, len(data), size)); bad += 1
        print("%s %s serial %s: %d files listed" % (archive, s, serial, len(files)))
print("check: %d files, %d bad" % (n, bad))
sys.exit(1 if bad else 0)
PY
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

case "${1:-}" in
run) shift; run "$@" ;;
fixture) build; fixture "$2" ;;
check) check ;;
summary) summary ;;
stop) upstream_stop ;;
*) sed -n 2,35p "$0"; exit 2 ;;
esac

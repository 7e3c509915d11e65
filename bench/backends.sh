#!/bin/bash
# Issue 15: pulse, snapshot, GC and serving on PostgreSQL + S3 beside the
# embedded default (SQLite + a local directory), on the same fixture, in one
# run, the two setups alternating.
#
#   bench/backends.sh run       everything below, then the ratios (8-10 min at LIMIT=20000)
#   bench/backends.sh start     PostgreSQL (scripts/start-postgres $BENCH_DATA/pg) and
#                               VersityGW (scripts/start-s3 $BENCH_DATA/s3); idempotent
#   bench/backends.sh stop      both, and the fixture's nginx
#   bench/backends.sh ratios    PG+S3 / embedded per step, from the TSVs
#   bench/backends.sh profile   after run: each setup's pulse phases (--log-level debug) at the
#                               fixture's generation and the next, on fresh data dirs; perf on the
#                               servers while wrk fetches index files from PG+S3
#
# One fixture (make-upstream --limit LIMIT, default 20000: 23,110 packages and
# pool files, bookworm 20,000 + -updates 38 + -security 3,072), served by a
# private nginx on 127.0.0.1:PORT (default 8096). REPS (default 2) pairs of
# data dirs, emb-r (SQLite + data_dir/blobs) and pg-r (PostgreSQL database
# bk_LABEL_r, objects under s3_prefix LABEL/r in the bucket); odd
# repetitions run emb first, even ones pg first, at every step:
#
#   pulse0   first pulse of debian and debian-security (initial mirror)
#   pulse1   one pulse each after --generation 1 (one generation of change)
#   snap     hyperfine: `aptsnap pulse debian` on the unchanged upstream, whole
#            process (snapshot + sign, nothing new), SNAP_RUNS runs
#            (+ `go test -bench 'SnapshotBackends|StoreOps|CatalogRoundTrip' ./bench`,
#            in-process, both setups, once)
#   gc       Valid-Until of all but each archive's newest snapshot set in the past
#            (as bench/gc.sh does), then `aptsnap gc`, then `aptsnap verify` (timed too)
#   serve    `aptsnap serve --no-schedule` per setup, SERVE_ROUNDS rounds (ABBA):
#            a cold pass (each of the 1,000 sampled pool files fetched once, in
#            turn), then wrk on pool (1,000 sampled pool files, as bench/serve.sh),
#            pool-all (every pool file: more than the 16 MB file cache holds),
#            index (InRelease + Packages.xz of the 3 suites); on PG+S3 also with
#            [store] redirect = true (wrk does not follow redirects: the rate of
#            answers, 302 for Packages.xz, is what it measures), and wrk on the
#            presigned URLs themselves (the client's second request, to VersityGW)
#
# Every timed command runs under /usr/bin/time (wall, user, sys, peak RSS);
# beside it each row has the CPU the servers (all PostgreSQL processes, and
# VersityGW) used meanwhile, the S3 requests by kind (VersityGW's access log),
# PostgreSQL sessions opened and transactions (pg_stat_database), and the load
# average. Results: bench/results/backends-$LABEL{,-serve,-sizes}.tsv,
# backends-$LABEL-gotest.txt, backends-$LABEL.txt (ratios).
#
# Environment: LABEL (main), LIMIT (20000), REPS (2), PORT (8096), SERVE_PORT
# (8098), S3_PORT (7071), S3_KEEPALIVE (1: VersityGW with --keep-alive, as S3
# keeps connections; 0: scripts/start-s3's default, a connection per request),
# SNAP_RUNS (10), SERVE_ROUNDS (2), WRK_DURATION (10s), WRK_CONNS (64),
# GOTEST (1; 0 skips the go test benchmarks), REV (HEAD: aptsnap is built
# from that commit, exported with git archive, so that work in progress in
# the tree is not measured; bench/backends_test.go is copied beside it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

LABEL=${LABEL:-main}
LIMIT=${LIMIT:-20000}
REPS=${REPS:-2}
PORT=${PORT:-8096}
SERVE_PORT=${SERVE_PORT:-8098}
S3_PORT=${S3_PORT:-7071}
S3_KEEPALIVE=${S3_KEEPALIVE:-1}
SNAP_RUNS=${SNAP_RUNS:-10}
SERVE_ROUNDS=${SERVE_ROUNDS:-2}
WRK_DURATION=${WRK_DURATION:-10s}
WRK_CONNS=${WRK_CONNS:-64}
WRK_THREADS=${WRK_THREADS:-2}
GOTEST=${GOTEST:-1}
STATE=$BENCH_DATA/backends-$LABEL
FIXTURE=${FIXTURE:-$BENCH_DATA/upstream-backends-l$LIMIT}
PGDIR=$BENCH_DATA/pg
S3DIR=$BENCH_DATA/s3
BUCKET=aptsnap
ACCESS_LOG=$S3DIR/access.log
APTSNAP=$STATE/aptsnap
TSV=$RESULTS/backends-$LABEL.tsv
STSV=$RESULTS/backends-$LABEL-serve.tsv
SIZES=$RESULTS/backends-$LABEL-sizes.tsv
REPORT=$RESULTS/backends-$LABEL.txt
export STEP_LOG=$STATE/steps.log
ARCHIVES="debian debian-security"

# ---- servers -----------------------------------------------------------------

pg_dsn_admin() { echo "postgres://postgres@127.0.0.1:$(cat "$PGDIR/port")/postgres?sslmode=disable"; }
pg_dsn() { echo "postgres://postgres@127.0.0.1:$(cat "$PGDIR/port")/$1?sslmode=disable"; }
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 "$(pg_dsn_admin)" "$@"; }

start() {
    mkdir -p "$STATE"
    "$REPO_DIR/scripts/start-postgres" "$PGDIR" >/dev/null
    local pid mode
    mode="keepalive=$S3_KEEPALIVE port=$S3_PORT"
    if [ -s "$S3DIR/versitygw.pid" ] && kill -0 "$(cat "$S3DIR/versitygw.pid")" 2>/dev/null; then
        if [ "$(cat "$S3DIR/bench-mode" 2>/dev/null)" = "$mode" ]; then
            log "VersityGW already running ($mode)"
        else # started by hand or otherwise: restart it the way this run wants it
            pid=$(cat "$S3DIR/versitygw.pid"); kill "$pid"
            local i; for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            rm -f "$S3DIR/versitygw.pid"
        fi
    fi
    if ! { [ -s "$S3DIR/versitygw.pid" ] && kill -0 "$(cat "$S3DIR/versitygw.pid")" 2>/dev/null; }; then
        local ka=false; [ "$S3_KEEPALIVE" = 1 ] && ka=true
        VGW_KEEP_ALIVE=$ka VGW_ACCESS_LOG=$ACCESS_LOG S3_ADDR=127.0.0.1:$S3_PORT S3_BUCKET=$BUCKET \
            "$REPO_DIR/scripts/start-s3" --background "$S3DIR" | grep -v -i 'secret' >&2
        echo "$mode" >"$S3DIR/bench-mode"
    fi
    # aptsnap's [store] credentials_file takes AWS_* names.
    ( . "$S3DIR/credentials"; umask 077
      printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >"$STATE/s3.cred" )
    log "PostgreSQL $(pg_dsn_admin), VersityGW http://127.0.0.1:$S3_PORT ($mode)"
}

stop() {
    nginx_stop "backends-$PORT"
    "$REPO_DIR/scripts/start-postgres" --stop "$PGDIR" >&2 || true
    if [ -s "$S3DIR/versitygw.pid" ]; then
        kill "$(cat "$S3DIR/versitygw.pid")" 2>/dev/null || true
        rm -f "$S3DIR/versitygw.pid" "$S3DIR/bench-mode"
    fi
}

# CPU seconds used so far by the servers: every PostgreSQL process (the
# postmaster's own, its live children's, and those of its children that
# exited, which it reaped), plus VersityGW.
servers_cpu() {
    local pm vg
    pm=$(head -1 "$PGDIR/data/postmaster.pid" 2>/dev/null || echo 0)
    vg=$(cat "$S3DIR/versitygw.pid" 2>/dev/null || echo 0)
    { echo "$pm 1"; pgrep -P "$pm" | sed 's/$/ 0/'; echo "$vg 0"; } | while read -r p self; do
        [ -r "/proc/$p/stat" ] || continue
        # fields after the ")" : 12 utime 13 stime 14 cutime 15 cstime (from 1 = state)
        sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk -v self="$self" '{ t = $12 + $13; if (self) t += $14 + $15; print t }'
    done | awk -v hz="$(getconf CLK_TCK)" '{ s += $1 } END { printf "%.2f", s / hz }'
}

minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }

access_lines() { [ -f "$ACCESS_LOG" ] && wc -l <"$ACCESS_LOG" || echo 0; }

# S3 requests between two line counts of the access log: "HeadObject=N,..."
s3_ops() {
    [ "$2" -gt "$1" ] || { echo "-"; return; }
    sed -n "$(($1 + 1)),$2p" "$ACCESS_LOG" | grep -o ' s3_[A-Za-z0-9]* ' | sed 's/ s3_//; s/ $//' | sort | uniq -c \
        | awk '{ printf "%s%s=%d", (n++ ? "," : ""), $2, $1 } END { if (!n) printf "-" }'
}

# sessions, transactions and tuples written of database $1 (PostgreSQL's
# statistics: flushed when a backend ends, so read after the command's
# sessions have closed).
pg_stats() {
    psql_admin -tAc "SELECT sessions, xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted
                     FROM pg_stat_database WHERE datname = '$1'" | tr '|' ' '
}

# ---- setups ----------------------------------------------------------------

dir_of() { echo "$STATE/$1-r$2"; }           # emb|pg REP
db_of() { echo "bk_${LABEL//[^a-z0-9]/_}_r$1"; }
prefix_of() { echo "$LABEL/r$1"; }

# write_config SETUP REP [redirect]
write_config() {
    local d; d=$(dir_of "$1" "$2")
    cat >"$d/config${3:+-$3}.toml" <<CONF
data_dir = "$d/data"
listen = "127.0.0.1:$SERVE_PORT"
public_url = "http://127.0.0.1:$SERVE_PORT"

[[archive]]
name = "debian"
url = "http://127.0.0.1:$PORT/debian"
keyring = "$FIXTURE/keyring.gpg"
suites = ["bookworm", "bookworm-updates"]
components = ["main"]
architectures = ["amd64"]

[[archive]]
name = "debian-security"
url = "http://127.0.0.1:$PORT/debian-security"
keyring = "$FIXTURE/keyring.gpg"
suites = ["bookworm-security"]
components = ["main"]
architectures = ["amd64"]
CONF
    if [ "$1" = pg ]; then
        cat >>"$d/config${3:+-$3}.toml" <<CONF

[catalog]
postgres = "$(pg_dsn "$(db_of "$2")")"

[store]
s3_endpoint = "http://127.0.0.1:$S3_PORT"
s3_bucket = "$BUCKET"
s3_region = "us-east-1"
s3_prefix = "$(prefix_of "$2")"
credentials_file = "$STATE/s3.cred"
${3:+redirect = true}
CONF
    fi
}

init_setup() {
    local setup=$1 rep=$2 d; d=$(dir_of "$1" "$2")
    rm -rf "$d"; mkdir -p "$d/data"
    if [ "$setup" = pg ]; then
        psql_admin -c "DROP DATABASE IF EXISTS $(db_of "$rep") WITH (FORCE)" -c "CREATE DATABASE $(db_of "$rep")"
        rm -rf "${S3DIR:?}/root/$BUCKET/$(prefix_of "$rep")"
        write_config pg "$rep" redirect
    fi
    write_config "$setup" "$rep"
}

conf_of() { echo "$(dir_of "$1" "$2")/config.toml"; }

order() { if [ $(($1 % 2)) = 1 ]; then echo "emb pg"; else echo "pg emb"; fi; }

# measure SETUP REP STEP ITEM -- CMD...: one row of $TSV:
#   setup rep step item wall_s user_s sys_s maxrss_kb rc servers_cpu_s s3_requests pg_sessions pg_xacts pg_tuples load
measure() {
    local setup=$1 rep=$2 step=$3 item=$4; shift 5
    local tf rc load c0 c1 a0 a1 p0 p1 pgd="- - -"
    tf=$(mktemp)
    [ -s "$TSV" ] || printf 'setup\trep\tstep\titem\twall_s\tuser_s\tsys_s\tmaxrss_kb\trc\tservers_cpu_s\ts3_requests\tpg_sessions\tpg_xacts\tpg_tuples\tload\n' >"$TSV"
    load=$(cut -d' ' -f1 /proc/loadavg)
    [ "$setup" = pg ] && p0=$(pg_stats "$(db_of "$rep")")
    c0=$(servers_cpu); a0=$(access_lines)
    echo "== $setup r$rep $step $item: $*" >>"$STEP_LOG"
    set +e
    /usr/bin/time -f '%e\t%U\t%S\t%M' -o "$tf" "$@" >>"$STEP_LOG" 2>&1
    rc=$?
    set -e
    c1=$(servers_cpu); a1=$(access_lines)
    if [ "$setup" = pg ]; then
        sleep 0.3 # the command's backends flush their statistics as they exit
        p1=$(pg_stats "$(db_of "$rep")")
        pgd=$(echo "$p0 $p1" | awk '{ print $4-$1, $5-$2, $6-$3 }')
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$setup" "$rep" "$step" "$item" "$(tail -1 "$tf")" "$rc" \
        "$(minus "$c1" "$c0")" "$(s3_ops "$a0" "$a1")" "$(echo "$pgd" | tr ' ' '\t')" "$load" >>"$TSV"
    log "$setup r$rep $step $item: $(tail -1 "$tf" | cut -f1)s wall, $(tail -1 "$tf" | awk -F'\t' '{print $2+$3}')s CPU, servers $(minus "$c1" "$c0")s, rc=$rc"
    rm -f "$tf"
    return $rc
}

sizes() {  # SETUP REP WHEN: catalog and store bytes
    local setup=$1 rep=$2 when=$3 d cat store files
    d=$(dir_of "$setup" "$rep")
    [ -s "$SIZES" ] || printf 'setup\trep\twhen\tcatalog_bytes\tstore_bytes\tstore_files\n' >"$SIZES"
    if [ "$setup" = emb ]; then
        cat=0; for f in "$d/data/catalog.db" "$d/data/catalog.db-wal" "$d/data/catalog.db-shm"; do
            [ -e "$f" ] && cat=$((cat + $(stat -c %s "$f"))); done
        store=$(du -sb "$d/data/blobs" | cut -f1); files=$(find "$d/data/blobs" -type f | wc -l)
    else
        # the tables and their indices (an empty database is ~7.5 MB of system catalogs)
        cat=$(psql -X -q -tA "$(pg_dsn "$(db_of "$rep")")" -c \
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace")
        store=$(du -sb "$S3DIR/root/$BUCKET/$(prefix_of "$rep")" | cut -f1)
        files=$(find "$S3DIR/root/$BUCKET/$(prefix_of "$rep")/sha256" -type f | wc -l)
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$setup" "$rep" "$when" "$cat" "$store" "$files" >>"$SIZES"
}

# ---- steps -----------------------------------------------------------------

build() {
    mkdir -p "$STATE"
    local rev src=$STATE/src
    rev=$(cd "$REPO_DIR" && git rev-parse --short "${REV:-HEAD}") || die "no commit ${REV:-HEAD}"
    rm -rf "$src"; mkdir -p "$src"
    (cd "$REPO_DIR" && git archive "$rev") | tar -x -C "$src" || die "git archive $rev failed"
    cp "$BENCH_DIR/backends_test.go" "$src/bench/"
    (cd "$src" && go build -o "$APTSNAP" ./cmd/aptsnap) || die "go build failed"
    echo "$rev" >"$STATE/rev"
    log "built $APTSNAP from $rev"
}

pulses() {  # GEN
    local gen=$1 rep setup a
    for rep in $(seq "$REPS"); do
        for setup in $(order "$rep"); do
            for a in $ARCHIVES; do
                measure "$setup" "$rep" "pulse$gen" "$a" -- "$APTSNAP" pulse --config "$(conf_of "$setup" "$rep")" "$a" \
                    || die "pulse $a ($setup r$rep) failed: see $STEP_LOG"
            done
            sizes "$setup" "$rep" "gen$gen"
        done
    done
}

snap() {
    local rep setup out
    for rep in $(seq "$REPS"); do
        for setup in $(order "$rep"); do
            out=$STATE/hyperfine-$setup-r$rep.json
            measure "$setup" "$rep" snap "debian x$((SNAP_RUNS + 1))" -- hyperfine -N --warmup 1 --runs "$SNAP_RUNS" \
                --export-json "$out" "$APTSNAP pulse --config $(conf_of "$setup" "$rep") debian" || die "hyperfine failed"
            python3 - "$out" "$setup" "$rep" >>"$STATE/snap.tsv" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("%s\t%s\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f" % (sys.argv[2], sys.argv[3], r["mean"], r["stddev"] or 0,
      r["median"], r["min"], r["max"], r.get("user", 0), r.get("system", 0)))
PY
        done
    done
}

gotest() {
    [ "$GOTEST" = 1 ] || return 0
    local out=$RESULTS/backends-$LABEL-gotest.txt
    { echo "# $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg), commit $(cat "$STATE/rev") + bench/backends_test.go"
      echo "# go test -run '^\$' -bench 'SnapshotBackends|StoreOps|CatalogRoundTrip' -benchtime 30x ./bench"; } >"$out"
    (cd "$STATE/src" && APTSNAP_BENCH_PG=$(pg_dsn_admin) APTSNAP_BENCH_S3=http://127.0.0.1:$S3_PORT \
        APTSNAP_BENCH_S3_BUCKET=$BUCKET APTSNAP_BENCH_S3_CREDENTIALS=$STATE/s3.cred \
        go test -run '^$' -bench 'SnapshotBackends|StoreOps|CatalogRoundTrip' -benchtime 30x ./bench) 2>&1 \
        | grep -E '^(Benchmark|ok|FAIL|---)' | tee -a "$out" >&2
    rm -rf "${S3DIR:?}/root/$BUCKET/bench"
}

expire_all_but_newest() {  # SETUP REP
    local setup=$1 rep=$2 a
    for a in $ARCHIVES; do
        if [ "$setup" = emb ]; then
            python3 - "$(dir_of emb "$rep")/data/catalog.db" "$a" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
ids = [r[0] for r in c.execute("SELECT s.id FROM snapshots s JOIN archives a ON a.id=s.archive_id WHERE a.name=? AND s.serial NOT LIKE '@%' ORDER BY s.serial", (sys.argv[2],))]
c.executemany("UPDATE snapshots SET valid_until=1 WHERE id=?", [(i,) for i in ids[:-1]])
c.commit()
PY
        else
            psql -X -q -v ON_ERROR_STOP=1 "$(pg_dsn "$(db_of "$rep")")" -c "UPDATE snapshots SET valid_until = to_timestamp(1)
                WHERE id IN (SELECT s.id FROM snapshots s JOIN archives a ON a.id = s.archive_id
                             WHERE a.name = '$a' AND s.serial NOT LIKE '@%' ORDER BY s.serial DESC OFFSET 1)"
        fi
    done
}

gc() {
    local rep setup conf
    for rep in $(seq "$REPS"); do
        for setup in $(order "$rep"); do
            conf=$(conf_of "$setup" "$rep")
            expire_all_but_newest "$setup" "$rep"
            measure "$setup" "$rep" gc all -- "$APTSNAP" --config "$conf" gc || die "gc ($setup r$rep) failed"
            grep 'msg=gc ' "$STEP_LOG" | tail -1 | sed "s/^/$setup r$rep: /" >>"$STATE/gc.log"
            sizes "$setup" "$rep" after-gc
            measure "$setup" "$rep" verify all -- "$APTSNAP" --config "$conf" verify || die "verify ($setup r$rep) failed"
        done
    done
}

# ---- serving ---------------------------------------------------------------

urls() {
    mkdir -p "$STATE/urls"
    python3 - "$FIXTURE" "$STATE/urls" <<'PY'
import os, random, sys
fx, out = sys.argv[1], sys.argv[2]
suites = [("debian", "bookworm"), ("debian", "bookworm-updates"), ("debian-security", "bookworm-security")]
pool, index = [], []
for a, s in suites:
    for line in open(os.path.join(fx, a, "dists", s, "main/binary-amd64/Packages"), encoding="utf-8"):
        if line.startswith("Filename: "):
            pool.append((a, line[10:].strip()))
    index += [(a, "dists/%s/InRelease" % s), (a, "dists/%s/main/binary-amd64/Packages.xz" % s)]
pool.sort()
sample = random.Random(1).sample(pool, min(1000, len(pool)))  # as bench/serve.sh
for name, rows in (("pool", sample), ("pool-all", pool), ("index", index)):
    with open(os.path.join(out, name + ".rel"), "w") as f:
        for a, p in rows:
            f.write("%s %s\n" % (a, p))
PY
}

serve_start() {  # CONF
    "$APTSNAP" serve --config "$1" --no-schedule >"$STATE/serve.log" 2>&1 &
    echo $! >"$STATE/serve.pid"
    local i; for i in $(seq 150); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SERVE_PORT/debian/project/trace/debian" || true)" = 200 ] && break
        kill -0 "$(cat "$STATE/serve.pid")" 2>/dev/null || die "aptsnap serve exited (see $STATE/serve.log)"
        sleep 0.1
    done
    sleep 3 # let the web UI's package lists be written (background, at start) before measuring
}

serve_stop() {
    [ -s "$STATE/serve.pid" ] || return 0
    local pid; pid=$(cat "$STATE/serve.pid")
    kill "$pid" 2>/dev/null && { local i; for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; }
    rm -f "$STATE/serve.pid"
}

proc_cpu() { sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13) / hz }'; }

# check BASE PATHS: fetch each once, in turn (a cold pass: nothing cached yet
# the first time); prints "seconds statuses" (statuses: code=count).
check() {
    python3 - "$1" "$2" <<'PY'
import collections, http.client, sys, time, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
codes = collections.Counter()
t = time.monotonic()
for p in open(sys.argv[2]).read().split():
    c.request("GET", p)
    r = c.getresponse(); r.read()
    codes[r.status] += 1
print("%.3f %s" % (time.monotonic() - t, ",".join("%d=%d" % kv for kv in sorted(codes.items()))))
PY
}

# wrkrun TARGET ROUND SCENARIO BASE PATHS [PID]
wrkrun() {
    local target=$1 round=$2 scen=$3 base=$4 paths=$5 pid=${6:-} out line c0 c1 s0 s1 rss="-" hwm="-" load chk
    [ -s "$STSV" ] || printf 'target\tround\tscenario\turls\tcold_s\tcold_status\trequests\trps\tMBps\tlat_mean_ms\tlat_p99_ms\terrors\tserver_cpu_s\tservers_cpu_s\trss_kb\thwm_kb\tload\tconns\tduration\n' >"$STSV"
    chk=$(check "$base" "$paths")
    load=$(cut -d' ' -f1 /proc/loadavg)
    c0=$(servers_cpu); [ -n "$pid" ] && s0=$(proc_cpu "$pid")
    out=$(WRK_URLS=$paths wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION" --latency -s "$BENCH_DIR/wrk-urls.lua" "$base/" 2>&1)
    c1=$(servers_cpu)
    if [ -n "$pid" ]; then
        s1=$(proc_cpu "$pid")
        rss=$(awk '/^VmRSS/{print $2}' "/proc/$pid/status"); hwm=$(awk '/^VmHWM/{print $2}' "/proc/$pid/status")
    else s0=0; s1=0; fi
    echo "$out" >"$STATE/wrk-$target-$round-$scen.txt"
    line=$(echo "$out" | awk '$1=="WRK"')
    [ -n "$line" ] || { log "wrk gave no result: $out"; return 1; }
    echo "$line" | awk -v t="$target" -v r="$round" -v s="$scen" -v n="$(wc -l <"$paths")" -v chk="$chk" \
        -v sc="$(minus "$s1" "$s0")" -v vc="$(minus "$c1" "$c0")" -v rss="$rss" -v hwm="$hwm" -v load="$load" \
        -v c="$WRK_CONNS" -v d="$WRK_DURATION" 'BEGIN{OFS="\t"} { split(chk, k, " "); secs=$4/1e6;
          print t, r, s, n, k[1], k[2], $2, sprintf("%.0f", $2/secs), sprintf("%.1f", $3/secs/1e6),
          sprintf("%.2f", $10/1e3), sprintf("%.2f", $12/1e3), $5+$6+$7+$8+$9, sc, vc, rss, hwm, load, c, d }' >>"$STSV"
    log "serve $target $scen r$round: $(tail -1 "$STSV" | awk -F'\t' '{print $8" req/s, "$9" MB/s, cold pass "$5" s ("$6"), server CPU "$13" s, other servers "$14" s"}')"
}

serve_setup() {  # SETUP ROUND [redirect]
    local setup=$1 round=$2 redirect=${3:-} conf target base=http://127.0.0.1:$SERVE_PORT sd ss s
    conf=$(dir_of "$setup" 1)/config${redirect:+-redirect}.toml
    target=$setup${redirect:+-redirect}
    serve_start "$conf"
    sd=$(curl -fsS "$base/debian/project/trace/debian" | awk '/^Archive serial:/{print $3}')
    ss=$(curl -fsS "$base/debian-security/project/trace/debian-security" | awk '/^Archive serial:/{print $3}')
    [ -n "$sd" ] && [ -n "$ss" ] || { serve_stop; die "no serials from $target's trace files"; }
    for s in pool pool-all index; do
        [ -z "$redirect" ] || [ "$s" = index ] || continue # pool files are small: served, never redirected
        awk -v pd="/debian/$sd" -v ps="/debian-security/$ss" '{ print ($1 == "debian" ? pd : ps) "/" $2 }' \
            "$STATE/urls/$s.rel" >"$STATE/urls/$target-$s.txt"
        wrkrun "$target" "$round" "$s" "$base" "$STATE/urls/$target-$s.txt" "$(cat "$STATE/serve.pid")"
    done
    if [ -n "$redirect" ]; then
        # The client's second request: the presigned URLs of the redirected files, on VersityGW.
        local p loc
        : >"$STATE/urls/s3-direct-index.txt"
        for p in $(cat "$STATE/urls/$target-index.txt"); do
            loc=$(curl -s -o /dev/null -w '%{redirect_url}' "$base$p")
            [ -n "$loc" ] && echo "${loc#http://127.0.0.1:$S3_PORT}" >>"$STATE/urls/s3-direct-index.txt"
        done
        wrkrun s3-direct "$round" index-xz "http://127.0.0.1:$S3_PORT" "$STATE/urls/s3-direct-index.txt" "$(cat "$S3DIR/versitygw.pid")"
    fi
    serve_stop
}

serving() {
    urls
    local round setups
    for round in $(seq "$SERVE_ROUNDS"); do
        if [ $((round % 2)) = 1 ]; then setups="emb pg pg-redirect"; else setups="pg-redirect pg emb"; fi
        for s in $setups; do
            case $s in
            pg-redirect) serve_setup pg "$round" redirect ;;
            *) serve_setup "$s" "$round" ;;
            esac
        done
    done
}

# ---- profile: where the time goes ---------------------------------------------

# phases LOG: a pulse's phases from its --log-level debug lines (wall ms;
# bench/phases.py says which).
phases() { python3 "$BENCH_DIR/phases.py" "$1"; }

# profile: fresh data dirs (emb-rp, pg-rp), each pulse under --log-level
# debug for its phases, at the fixture's current generation (initial mirror)
# and the next (one generation of change); then perf on the servers while
# wrk fetches the index files from PG+S3 (rep 1's data).
profile() {
    local gen setup a step ph=$RESULTS/backends-$LABEL-phases.tsv log
    start
    gen=$(sed -n 's/^gen=\([0-9]*\).*/\1/p' "$FIXTURE/.fixture-state")
    nginx_start "backends-$PORT" "$FIXTURE" "$PORT"
    for setup in emb pg; do init_setup "$setup" p; done
    printf 'setup\tstep\tgen\tarchive\tlisted\tto_fetch\tindex_ms\tstat_ms\tdownload_ms\trecheck_ms\tcommit_ms\tpulse\tload\n' >"$ph"
    for step in initial change; do
        if [ "$step" = change ]; then gen=$((gen + 1)); build_fixture "$FIXTURE" "$gen" "$LIMIT"; fi
        for setup in emb pg; do
            for a in $ARCHIVES; do
                log=$STATE/prof-$setup-$step-$a.log
                "$APTSNAP" pulse --log-level debug --config "$(conf_of "$setup" p)" "$a" >/dev/null 2>"$log" || die "pulse failed: $log"
                printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$setup" "$step" "$gen" "$a" "$(phases "$log")" "$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$ph" >&2
            done
        done
    done
    # perf, system-wide, while wrk fetches InRelease + Packages.xz from PG+S3 (streamed)
    local base=http://127.0.0.1:$SERVE_PORT sd ss pd=$STATE/perf
    mkdir -p "$pd"
    [ -f "$STATE/urls/index.rel" ] || urls
    serve_start "$(conf_of pg 1)"
    sd=$(curl -fsS "$base/debian/project/trace/debian" | awk '/^Archive serial:/{print $3}')
    ss=$(curl -fsS "$base/debian-security/project/trace/debian-security" | awk '/^Archive serial:/{print $3}')
    awk -v pd="/debian/$sd" -v ps="/debian-security/$ss" '{ print ($1 == "debian" ? pd : ps) "/" $2 }' "$STATE/urls/index.rel" >"$pd/index.txt"
    WRK_URLS=$pd/index.txt wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d10s -s "$BENCH_DIR/wrk-urls.lua" "$base/" >"$pd/wrk.txt" 2>&1 &
    local wpid=$!
    sleep 2
    perf record -a -g -F 499 -o "$pd/perf.data" -- sleep 6 >/dev/null 2>&1 || log "perf record failed"
    wait "$wpid" || true
    serve_stop
    perf report -i "$pd/perf.data" --stdio --no-children --sort comm -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12 >"$pd/by-process.txt" || true
    perf report -i "$pd/perf.data" --stdio --no-children --comm aptsnap --sort sym -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -30 >"$pd/aptsnap-symbols.txt" || true
    perf report -i "$pd/perf.data" --stdio --children --comm aptsnap --sort sym -g none 2>/dev/null \
        | grep -E 'serve\.\(\*Server\)\.serveBlob|io\.CopyN|s3\.\(\*object\)\.Read|syscall\.(read|write)$|ServeContent$' >"$pd/aptsnap-inclusive.txt" || true
    perf report -i "$pd/perf.data" --stdio --no-children --comm versitygw --sort sym -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -20 >"$pd/versitygw-symbols.txt" || true
    { echo "== wrk"; awk '$1=="WRK"' "$pd/wrk.txt"; echo "== CPU by process"; cat "$pd/by-process.txt"
      echo "== aptsnap serve, inclusive (share of all samples, children included)"; cat "$pd/aptsnap-inclusive.txt"
      echo "== aptsnap serve, top symbols"; cat "$pd/aptsnap-symbols.txt"
      echo "== versitygw, top symbols"; cat "$pd/versitygw-symbols.txt"; } | tee "$RESULTS/backends-$LABEL-perf.txt" >&2
}

# ---- report ----------------------------------------------------------------

ratios() {
    {
    echo "# PG+S3 / embedded, medians over the repetitions ($TSV)"
    printf '%-22s %10s %10s %7s  %10s %10s %10s %7s  %9s %9s\n' step "emb wall" "pg wall" ratio "emb CPU" "pg CPU" "pg+srv CPU" ratio "emb RSS" "pg RSS"
    python3 - "$TSV" <<'PY'
import collections, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
agg = collections.defaultdict(lambda: collections.defaultdict(float))
rss = collections.defaultdict(int)
steps = []
for r in rows:
    setup, rep, step, item = r[0], r[1], r[2], r[3]
    key = step if step.startswith("pulse") else step
    if key not in steps: steps.append(key)
    a = agg[(setup, key, rep)]
    a["wall"] += float(r[4]); a["cpu"] += float(r[5]) + float(r[6]); a["srv"] += float(r[9])
    rss[(setup, key, rep)] = max(rss[(setup, key, rep)], int(r[7]))
def med(setup, key, f):
    v = [a[f] for (s, k, rep), a in agg.items() if s == setup and k == key]
    return statistics.median(v) if v else float("nan")
def medrss(setup, key):
    v = [x for (s, k, rep), x in rss.items() if s == setup and k == key]
    return statistics.median(v) if v else 0
for k in steps:
    ew, pw = med("emb", k, "wall"), med("pg", k, "wall")
    ec, pc, ps = med("emb", k, "cpu"), med("pg", k, "cpu"), med("pg", k, "srv")
    print("%-22s %9.2fs %9.2fs %6.2fx  %9.2fs %9.2fs %9.2fs %6.2fx  %7.0fMB %7.0fMB" % (
        k, ew, pw, pw / ew, ec, pc, pc + ps, (pc + ps) / ec, medrss("emb", k) / 1024, medrss("pg", k) / 1024))
PY
    python3 - "$STATE/snap.tsv" "$STSV" <<'PY'
import collections, os, statistics, sys
snap, serve = sys.argv[1], sys.argv[2]
if os.path.exists(snap):
    m = collections.defaultdict(list)
    for l in open(snap):
        f = l.split("\t"); m[f[0]].append(float(f[4]))
    if m["emb"] and m["pg"]:
        e, p = statistics.median(m["emb"]), statistics.median(m["pg"])
        print("%-22s %8.1fms %8.1fms %6.2fx  (hyperfine medians, whole process)" % ("snapshot", e * 1e3, p * 1e3, p / e))
if os.path.exists(serve):
    r = collections.defaultdict(list)
    for l in list(open(serve))[1:]:
        f = l.split("\t"); r[(f[0], f[2])].append(float(f[7])); r[(f[0], f[2] + " cold")].append(float(f[4]) / int(f[3]) * 1e3)
    for k in ("pool", "pool-all", "index"):
        e, p = r.get(("emb", k)), r.get(("pg", k))
        if e and p:
            print("%-22s %7.0f/s %7.0f/s %6.2fx  (wrk req/s, median of rounds)" % ("serve " + k, statistics.median(e), statistics.median(p),
                  statistics.median(p) / statistics.median(e)))
        e, p = r.get(("emb", k + " cold")), r.get(("pg", k + " cold"))
        if e and p and k != "index":
            print("%-22s %7.2fms %7.2fms %6.2fx  (cold pass, ms per request, one at a time)" % ("serve " + k + " cold", statistics.median(e),
                  statistics.median(p), statistics.median(p) / statistics.median(e)))
    for t in ("pg-redirect", "s3-direct"):
        for (tt, k), v in sorted(r.items()):
            if tt == t and not k.endswith("cold"):
                print("%-22s %17.0f/s          (%s %s; no embedded counterpart)" % ("serve " + t, statistics.median(v), t, k))
PY
    if [ -f "$STATE/snap.tsv" ]; then
        echo; echo "# snapshot, whole process (hyperfine, median of $SNAP_RUNS runs): setup rep mean stddev median min max user sys"
        cat "$STATE/snap.tsv"
    fi
    if [ -f "$STSV" ]; then
        echo; echo "# serving ($STSV): req/s per round"
        awk -F'\t' 'NR>1 { printf "%-12s r%s %-9s %8s req/s %7s MB/s  p99 %6s ms  cold pass %6s s (%s)  server CPU %5s s, PG+S3 servers %5s s, RSS %s kB (peak %s)\n",
            $1, $2, $3, $8, $9, $11, $5, $6, $13, $14, $15, $16 }' "$STSV"
    fi
    if [ -f "$STATE/gc.log" ]; then echo; echo "# gc log lines"; cat "$STATE/gc.log"; fi
    }
}

run() {
    local t0=$SECONDS
    mkdir -p "$STATE"
    rm -f "$TSV" "$STSV" "$SIZES" "$STATE/snap.tsv" "$STATE/gc.log" "$STEP_LOG"
    build
    start
    : >"$ACCESS_LOG" # VersityGW appends; a run's serving writes a few hundred MB of it
    { machine_info; echo "commit: $(cat "$STATE/rev")"; echo "fixture: $FIXTURE limit=$LIMIT"
      echo "postgres: $(psql_admin -tAc 'SHOW server_version'), fsync $(psql_admin -tAc 'SHOW fsync'), synchronous_commit $(psql_admin -tAc 'SHOW synchronous_commit'), shared_buffers $(psql_admin -tAc 'SHOW shared_buffers')"
      echo "versitygw: $(cat "$S3DIR/bench-mode")"; } >"$STATE/meta.txt"
    build_fixture "$FIXTURE" 0 "$LIMIT"
    nginx_start "backends-$PORT" "$FIXTURE" "$PORT"
    local rep setup
    for rep in $(seq "$REPS"); do for setup in emb pg; do init_setup "$setup" "$rep"; done; done
    log "initial mirror (load $(cut -d' ' -f1-3 /proc/loadavg))"; pulses 0
    build_fixture "$FIXTURE" 1 "$LIMIT"
    log "one generation of change"; pulses 1
    log "snapshot alone"; snap; gotest
    log "gc"; gc
    log "serving"; serving
    echo "total: $((SECONDS - t0)) s" >>"$STATE/meta.txt"
    { cat "$STATE/meta.txt"; echo; ratios; } | portable_paths | tee "$REPORT"
    log "done in $((SECONDS - t0)) s: $REPORT"
}

case "${1:-}" in
run) run ;;
start) start ;;
stop) stop ;;
build) build ;;
ratios) { cat "$STATE/meta.txt"; echo; ratios; } | portable_paths | tee "$REPORT" ;;
profile) profile ;;
*) sed -n 2,50p "$0"; exit 2 ;;
esac

#!/bin/bash
# Issue 18: one pulse after one generation of upstream change, aptsnap against
# reprepro and aptly, on the same fixture, in one run, the tools alternating.
#
#   bench/pulse.sh run [FIRST [LAST]]  default 0 3: per generation, rebuild the fixture, then
#                                      reprepro, aptly and aptsnap (that order at even
#                                      generations, the reverse at odd ones), each timed; then
#                                      (AGAIN=1) reprepro and aptsnap once more on the
#                                      unchanged upstream; prints the ratios
#   bench/pulse.sh ratios              the report again, from the TSV
#   bench/pulse.sh profile             aptsnap alone, one generation of change, REPS times from
#                                      the same starting state: phases (--log-level debug), CPU
#                                      and allocation profiles (APTSNAP_CPUPROFILE/_MEMPROFILE),
#                                      then a pulse of the unchanged upstream and its requests
#   bench/pulse.sh build               aptsnap from REV (git archive: nothing uncommitted)
#   bench/pulse.sh stop                the fixture's nginx, gpg agents
#
# Per generation, each tool does what a site runs after upstream changed:
#   reprepro  `reprepro update` (the 3 distributions, pulled from the fixture, its
#             InRelease verified with the fixture's key; Packages exported and signed)
#             + `reprepro gensnapshot <codename> gen-N` of each
#   aptly     bench/aptly.sh step: mirror update + snapshot create + publish of the 3
#   aptsnap   bench/aptsnap.sh step: pulse debian + pulse debian-security (APTSNAP_TOGETHER=1:
#             one `pulse debian debian-security`, as cron runs it)
# Every command runs under /usr/bin/time (wall, user, sys, peak RSS), after a `sync`
# (untimed) so that no tool pays for flushing what another wrote.
#
# Environment: LABEL (main), LIMIT (20000: make-upstream --limit; 23,110 packages,
# bookworm 20,000, -updates 38, -security 3,072), PORT (8102, the fixture's nginx),
# REV (HEAD) or APTSNAP (a binary to use instead of building REV), BASE_REV (none: else
# aptsnap built from that commit runs too, as tool aptsnap-base, in the same alternation:
# the figures before and after a change in one run), AGAIN (1),
# REPS (profile: 3), BENCH_LOCK (/tmp/aptsnap-bench.lock: every timed part runs
# under flock on it, so that two benchmarks never time each other; NOLOCK=1 skips it).
# Results: bench/results/pulse-$LABEL.tsv (tool gen phase item wall_s user_s sys_s
# maxrss_kb rc load1), pulse-$LABEL.txt (report), pulse-$LABEL-profile.txt;
# state in $BENCH_DATA/pulse-$LABEL (and aptly-pulse-$LABEL, aptsnap-pulse-$LABEL).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

LABEL=${LABEL:-main}
LIMIT=${LIMIT:-20000}
PORT=${PORT:-8102}
AGAIN=${AGAIN:-1}
REPS=${REPS:-3}
STATE=$BENCH_DATA/pulse-$LABEL
FIXTURE=${FIXTURE:-$BENCH_DATA/upstream-pulse-l$LIMIT}
APTSNAP=${APTSNAP:-$STATE/aptsnap}
BASE_REV=${BASE_REV:-}
LOCK=${BENCH_LOCK:-/tmp/aptsnap-bench.lock}
TSV=$RESULTS/pulse-$LABEL.tsv
REPORT=$RESULTS/pulse-$LABEL.txt
PARTS=$STATE/parts          # the TSVs bench/aptly.sh and bench/aptsnap.sh write
RR=$STATE/reprepro
export STEP_LOG=$STATE/steps.log
URL=http://127.0.0.1:$PORT
SUB="LABEL=pulse-$LABEL FIXTURE=$FIXTURE UPSTREAM_PORT=$PORT LIMIT=$LIMIT RESULTS=$PARTS SIZE_POOL=0 APTSNAP=$APTSNAP"

mkdir -p "$STATE" "$PARTS"

# locked: run the rest of the script's timed work under the benchmark lock
locked() {
    [ "${NOLOCK:-0}" = 1 ] && return 0
    [ -n "${PULSE_LOCKED:-}" ] && return 0
    exec 9>>"$LOCK"
    if ! flock -n 9; then
        log "waiting for the benchmark lock $LOCK"
        flock 9
    fi
    export PULSE_LOCKED=1
    log "benchmark lock taken"
}

load1() { cut -d' ' -f1 /proc/loadavg; }

build() {  # [REV [BINARY]]
    local rev src=$STATE/src bin=${2:-$APTSNAP}
    rev=$(cd "$REPO_DIR" && git rev-parse --short "${1:-${REV:-HEAD}}") || die "no commit ${1:-${REV:-HEAD}}"
    rm -rf "$src"; mkdir -p "$src"
    (cd "$REPO_DIR" && git archive "$rev") | tar -x -C "$src" || die "git archive $rev failed"
    (cd "$src" && go build -o "$bin" ./cmd/aptsnap) || die "go build failed"
    echo "$rev" >"$bin.rev"
    log "built $bin from $rev"
}

# ---- reprepro ---------------------------------------------------------------

SUITES="bookworm debian
bookworm-updates debian
bookworm-security debian-security"

rr() { GNUPGHOME=$RR/gnupg reprepro -b "$RR" "$@"; }

reprepro_init() {
    [ -f "$RR/conf/distributions" ] && return 0
    mkdir -p "$RR/conf" "$RR/gnupg"; chmod 700 "$RR/gnupg"
    GNUPGHOME=$RR/gnupg gpg --batch --import "$FIXTURE/keyring.gpg" >>"$STEP_LOG" 2>&1
    GNUPGHOME=$RR/gnupg gpg --batch --passphrase '' --quick-gen-key "reprepro bench <reprepro-bench@example.invalid>" \
        ed25519 sign never >>"$STEP_LOG" 2>&1
    local up key s a
    up=$(gpg --batch --with-colons --show-keys "$FIXTURE/keyring.gpg" 2>/dev/null | awk -F: '/^fpr/{print $10; exit}')
    key=$(GNUPGHOME=$RR/gnupg gpg --batch --list-secret-keys --with-colons | awk -F: '/^fpr/{print $10; exit}')
    : >"$RR/conf/distributions"
    while read -r s a; do
        printf 'Codename: %s\nSuite: %s\nArchitectures: amd64\nComponents: main\nUpdate: %s\nSignWith: %s\n\n' \
            "$s" "$s" "$a" "$key" >>"$RR/conf/distributions"
    done <<<"$SUITES"
    for a in debian debian-security; do
        printf 'Name: %s\nMethod: %s/%s\nComponents: main\nArchitectures: amd64\nVerifyRelease: %s\n\n' \
            "$a" "$URL" "$a" "${up: -16}" >>"$RR/conf/updates"
    done
}

reprepro_step() {  # GEN [PHASE]: update of the 3, gensnapshot of each
    local gen=$1 phase=${2:-pulse} t=$PARTS/reprepro.tsv s a
    timed "$t" reprepro "$gen" "$phase" update -- env GNUPGHOME="$RR/gnupg" reprepro -b "$RR" update \
        || die "reprepro update failed (see $STEP_LOG)"
    while read -r s a; do
        timed "$t" reprepro "$gen" "$phase" "gensnapshot-$s" -- env GNUPGHOME="$RR/gnupg" \
            reprepro -b "$RR" gensnapshot "$s" "gen-$gen-$phase" || die "reprepro gensnapshot $s failed (see $STEP_LOG)"
    done <<<"$SUITES"
}

# ---- one generation -----------------------------------------------------------

# collect TOOL GEN PHASE LOAD: append TOOL's rows of GEN and PHASE to the TSV
collect() {
    local f
    case $1 in
    reprepro) f=$PARTS/reprepro.tsv ;;
    aptsnap-base) f=$PARTS/aptsnap-pulse-$LABEL-base.tsv ;;
    *) f=$PARTS/$1-pulse-$LABEL.tsv ;;
    esac
    [ -s "$TSV" ] || printf 'tool\tgen\tphase\titem\twall_s\tuser_s\tsys_s\tmaxrss_kb\trc\tload1\n' >"$TSV"
    # aptly's rows are its phases (mirror-update, snapshot-create, publish): one pulse here;
    # aptsnap-base's are bench/aptsnap.sh's (tool aptsnap)
    awk -F'\t' -v OFS='\t' -v t="$1" -v g="$2" -v p="$3" -v l="$4" \
        'NR>1 && t=="aptsnap-base" {$1=t}
         NR>1 && $1==t && $2==g && t=="aptly" && p=="pulse" {$4=$3 ":" $4; $3=p; print $0, l; next}
         NR>1 && $1==t && $2==g && $3==p {print $0, l}' "$f" >>"$TSV"
}

tool_step() {  # TOOL GEN
    # Each tool starts with nothing dirty in the page cache: aptsnap makes
    # its files durable with syncfs before it commits, which would also
    # flush what the tool before it wrote (reprepro and aptly never
    # flush), and be charged for it.
    sync
    local tool=$1 gen=$2 l; l=$(load1)
    case $tool in
    reprepro) reprepro_init; reprepro_step "$gen" ;;
    aptly) env $SUB "$BENCH_DIR/aptly.sh" init; env $SUB "$BENCH_DIR/aptly.sh" step "$gen" ;;
    aptsnap) env $SUB "$BENCH_DIR/aptsnap.sh" init; env $SUB "$BENCH_DIR/aptsnap.sh" step "$gen" ;;
    aptsnap-base) env $SUB LABEL="pulse-$LABEL-base" APTSNAP="$STATE/aptsnap-base" "$BENCH_DIR/aptsnap.sh" init
        env $SUB LABEL="pulse-$LABEL-base" APTSNAP="$STATE/aptsnap-base" "$BENCH_DIR/aptsnap.sh" step "$gen" ;;
    esac
    collect "$tool" "$gen" pulse "$l"
}

again() {  # GEN: reprepro and aptsnap on the unchanged upstream
    local gen=$1 l a
    l=$(load1); reprepro_step "$gen" again; collect reprepro "$gen" again "$l"
    again_aptsnap "$gen" aptsnap "$APTSNAP" "pulse-$LABEL"
    [ -z "$BASE_REV" ] || again_aptsnap "$gen" aptsnap-base "$STATE/aptsnap-base" "pulse-$LABEL-base"
}

again_aptsnap() {  # GEN TOOL BINARY LABEL
    local gen=$1 l a; l=$(load1)
    for a in debian debian-security; do
        timed "$PARTS/aptsnap-$4.tsv" aptsnap "$gen" again "$a" -- \
            "$3" pulse --config "$BENCH_DATA/aptsnap-$4/config.toml" "$a" || die "aptsnap pulse $a (again) failed"
    done
    collect "$2" "$gen" again "$l"
}

run() {
    local first=${1:-0} last=${2:-3} gen tools done_
    command -v reprepro >/dev/null && command -v aptly >/dev/null || "$BENCH_DIR/setup.sh" >/dev/null
    [ -x "$APTSNAP" ] || build
    [ -z "$BASE_REV" ] || [ -x "$STATE/aptsnap-base" ] || build "$BASE_REV" "$STATE/aptsnap-base"
    locked
    { machine_info; echo "label: $LABEL"; echo "aptsnap: $(cat "$APTSNAP.rev" 2>/dev/null || echo "$APTSNAP")"
      [ -z "$BASE_REV" ] || echo "aptsnap-base: $(cat "$STATE/aptsnap-base.rev")"
      echo "reprepro: $(reprepro --version 2>&1 | awk '{print $NF}')"
      echo "fixture: $FIXTURE limit=$LIMIT generations $first..$last"; } | portable_paths >>"$REPORT"
    done_=$(cat "$STATE/last-gen" 2>/dev/null || echo -1)
    for gen in $(seq "$first" "$last"); do
        [ "$done_" -lt "$gen" ] || { log "generation $gen already done"; continue; }
        build_fixture "$FIXTURE" "$gen" "$LIMIT"
        nginx_start "pulse-$PORT" "$FIXTURE" "$PORT"
        tools="reprepro aptly aptsnap${BASE_REV:+ aptsnap-base}"
        [ $((gen % 2)) = 0 ] || tools=$(echo "$tools" | tr ' ' '\n' | tac | tr '\n' ' ')
        log "generation $gen: $tools (load $(cut -d' ' -f1-3 /proc/loadavg))"
        for t in $tools; do tool_step "$t" "$gen"; done
        [ "$AGAIN" = 1 ] && again "$gen"
        echo "$gen" >"$STATE/last-gen"
    done
    for d in "$RR/gnupg" "$BENCH_DATA/aptly-pulse-$LABEL/gnupg"; do GNUPGHOME=$d gpgconf --kill gpg-agent 2>/dev/null || true; done
    ratios | tee -a "$REPORT"
}

ratios() {
    [ -s "$TSV" ] || die "no results in $TSV"
    echo
    echo "one generation of change, seconds (wall; cpu = user+sys): reprepro = update + gensnapshot x3,"
    echo "aptly = mirror update + snapshot create + publish x3, aptsnap = pulse debian + debian-security"
    echo "(aptsnap-base: the same, built from the base commit). Target (issue 18): aptsnap <= 0.15x reprepro,"
    echo "<= 0.04x aptly, generations >= 1. again = the same right after, upstream unchanged."
    awk -F'\t' -v OFS='\t' '
        NR==1 {next}
        { k=$1 SUBSEP $2 SUBSEP $3; w[k]+=$5; c[k]+=$6+$7; if ($8>r[k]) r[k]=$8; if ($10>ld[$2 SUBSEP $3]) ld[$2 SUBSEP $3]=$10
          gens[$2]=1; tools[$1]=1; if ($9!=0) bad[k]=1 }
        function f(x) { return sprintf("%.2f", x) }
        function q(a, b) { return b>0 ? sprintf("%.3f", a/b) : "-" }
        END {
            n=0; for (g in gens) gs[++n]=g+0
            for (i=2; i<=n; i++) for (j=i; j>1 && gs[j-1]>gs[j]; j--) { x=gs[j]; gs[j]=gs[j-1]; gs[j-1]=x }
            nt=split("aptsnap aptsnap-base", snaps, " ")
            for (ph=1; ph<=2; ph++) {
                P = ph==1 ? "pulse" : "again"
                hdr=(ph==1 ? "" : "\n") P "_gen\treprepro_s\taptly_s"
                for (t=1; t<=nt; t++) if (snaps[t] in tools) hdr=hdr "\t" snaps[t] "_s\tvs_reprepro\tvs_aptly\tcpu_s\tcpu_vs_reprepro\tcpu_vs_aptly\trss_MB"
                print hdr "\treprepro_cpu\taptly_cpu\trss_MB_reprepro\trss_MB_aptly\tload1_max"
                for (i=1; i<=n; i++) { g=gs[i]; R="reprepro" SUBSEP g SUBSEP P; A="aptly" SUBSEP g SUBSEP P
                    if (!(("aptsnap" SUBSEP g SUBSEP P) in w)) continue
                    line=g "\t" f(w[R]) "\t" (A in w ? f(w[A]) : "-")
                    for (t=1; t<=nt; t++) if (snaps[t] in tools) { S=snaps[t] SUBSEP g SUBSEP P
                        line=line "\t" f(w[S]) "\t" q(w[S], w[R]) "\t" q(w[S], w[A]) "\t" f(c[S]) "\t" q(c[S], c[R]) "\t" q(c[S], c[A]) "\t" int(r[S]/1024) }
                    print line "\t" f(c[R]) "\t" (A in w ? f(c[A]) : "-") "\t" int(r[R]/1024) "\t" (A in w ? int(r[A]/1024) : "-") "\t" ld[g SUBSEP P] }
            }
            for (k in bad) { split(k, p, SUBSEP); print "WARNING: a command of " p[1] " gen " p[2] " " p[3] " failed" > "/dev/stderr" }
        }' "$TSV" | column -t -s$'\t'
}

# ---- profile: aptsnap alone, where one generation of change goes ---------------

PROF=$STATE/prof
PFIX=$BENCH_DATA/upstream-pulse-prof-l$LIMIT

# prof_config FILE DATA_DIR
prof_config() {
    cat >"$1" <<CONF
data_dir = "$2"

[[archive]]
name = "debian"
url = "http://127.0.0.1:$((PORT + 1))/debian"
keyring = "$PFIX/keyring.gpg"
suites = ["bookworm", "bookworm-updates"]
components = ["main"]
architectures = ["amd64"]

[[archive]]
name = "debian-security"
url = "http://127.0.0.1:$((PORT + 1))/debian-security"
keyring = "$PFIX/keyring.gpg"
suites = ["bookworm-security"]
components = ["main"]
architectures = ["amd64"]
CONF
}

# phases LOG: wall ms of a pulse's phases, from its --log-level debug lines
# (bench/phases.py --release says which).
phases() { python3 "$BENCH_DIR/phases.py" --release "$1"; }

profile() {
    local i a out=$RESULTS/pulse-$LABEL-profile.txt ph=$RESULTS/pulse-$LABEL-phases.tsv run tf
    [ -x "$APTSNAP" ] || build
    locked
    if [ ! -f "$PROF/base/ready" ]; then
        rm -rf "$PROF/base"; mkdir -p "$PROF/base/data"
        build_fixture "$PFIX" 0 "$LIMIT"
        nginx_start "pulse-prof-$((PORT + 1))" "$PFIX" "$((PORT + 1))"
        prof_config "$PROF/base/config.toml" "$PROF/base/data"
        for a in debian debian-security; do
            "$APTSNAP" pulse --config "$PROF/base/config.toml" "$a" >>"$STEP_LOG" 2>&1 || die "prof: first pulse $a failed"
        done
        build_fixture "$PFIX" 1 "$LIMIT"
        touch "$PROF/base/ready"
    fi
    nginx_start "pulse-prof-$((PORT + 1))" "$PFIX" "$((PORT + 1))"
    [ -s "$ph" ] || printf 'rev\trep\tstep\tarchive\trequests\tlisted\tto_fetch\trelease_ms\tindex_ms\tstat_ms\tdownload_ms\trecheck_ms\tcommit_ms\tpulse\twall_s\tuser_s\tsys_s\tmaxrss_kb\tload1\n' >"$ph"
    local rev; rev=$(cat "$APTSNAP.rev" 2>/dev/null || echo "${APTSNAP##*/}")
    for i in $(seq "$REPS"); do
        run=$PROF/run-$i; rm -rf "$run"; mkdir -p "$run/data"
        # the starting state again: blobs are immutable (renamed into place), so hard links do
        (cd "$PROF/base/data" && find . -mindepth 1 -maxdepth 1 ! -name blobs -exec cp -a {} "$run/data/" \;)
        [ -d "$PROF/base/data/blobs" ] && cp -al "$PROF/base/data/blobs" "$run/data/blobs"
        prof_config "$run/config.toml" "$run/data"
        for step in change again; do
            for a in debian debian-security; do
                tf=$run/$step-$a.time
                APTSNAP_CPUPROFILE=$run/cpu-$step-$a.pprof APTSNAP_MEMPROFILE=$run/mem-$step-$a.pprof \
                    /usr/bin/time -f '%e\t%U\t%S\t%M' -o "$tf" \
                    "$APTSNAP" pulse --log-level debug --config "$run/config.toml" "$a" >/dev/null 2>"$run/$step-$a.log" \
                    || die "prof: pulse $a failed: $run/$step-$a.log"
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rev" "$i" "$step" "$a" "$(phases "$run/$step-$a.log")" \
                    "$(tail -1 "$tf")" "$(load1)" | tee -a "$ph" >&2
            done
        done
    done
    {
        echo "== $(date -u +%FT%TZ) rev $rev, load $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "== upstream requests of the pulses of the unchanged upstream (rep $REPS)"
        grep -h 'msg="upstream request"' "$PROF/run-$REPS"/again-*.log | sed 's/.*url=\(\S*\).*status=\(\S*\).*/\2 \1/' | portable_paths
        for a in debian; do
            echo "== CPU, pulse $a after one generation of change, rep 1..$REPS merged: top -cum"
            go tool pprof -top -cum -nodecount=45 "$APTSNAP" "$PROF"/run-*/cpu-change-$a.pprof 2>/dev/null | sed -n '1,55p'
            echo "== CPU, same: top flat"
            go tool pprof -top -nodecount=30 "$APTSNAP" "$PROF"/run-*/cpu-change-$a.pprof 2>/dev/null | sed -n '5,40p'
            echo "== allocations (bytes), same, rep 1: top -cum"
            go tool pprof -sample_index=alloc_space -top -cum -nodecount=25 "$APTSNAP" "$PROF/run-1/mem-change-$a.pprof" 2>/dev/null | sed -n '1,32p'
        done
    } | portable_paths >"$out"
    log "profile: $out, phases: $ph"
}

stop() {
    nginx_stop "pulse-$PORT"; nginx_stop "pulse-prof-$((PORT + 1))"
    for d in "$RR/gnupg" "$BENCH_DATA/aptly-pulse-$LABEL/gnupg"; do GNUPGHOME=$d gpgconf --kill gpg-agent 2>/dev/null || true; done
}

case "${1:-run}" in
run) shift || true; run "$@" ;;
ratios) ratios ;;
profile) profile ;;
build) build ;;
stop) stop ;;
*) sed -n 2,33p "$0"; exit 2 ;;
esac

#!/bin/bash
# The 40-generation run (issues 2c and 3): generations FIRST..LAST (default
# 0..39) of the make-upstream fixture, each pulsed once by aptsnap and once
# by aptly (mirror update + snapshot create + publish), in the same run.
#
#   bench/g40.sh [FIRST [LAST]]     resumable: generations done are skipped
#
# make-upstream takes about as long as aptly's generation, so the next
# generation is built in a second directory while both tools work on the
# current one, and the served root (a symlink) switches between the two.
# Both directories share one signing key.  Results: bench/results/
# {aptly,aptsnap}-g40{,-sizes}.tsv; then bench/gc.sh for issue 3's GC figures.
set -euo pipefail
export UPSTREAM_PORT=${UPSTREAM_PORT:-8089} # before lib.sh, which defaults it to 8088
. "$(dirname "$0")/lib.sh"
export LABEL=g40 SIZE_POOL=0
FIRST=${1:-0} LAST=${2:-39}
FA=$BENCH_DATA/upstream40a FB=$BENCH_DATA/upstream40b
export FIXTURE=$BENCH_DATA/upstream40 # symlink to FA or FB, what nginx serves
export APTSNAP=${APTSNAP:-$BENCH_DATA/aptsnap-g40-bin}
[ -x "$APTSNAP" ] || (cd "$REPO_DIR" && go build -o "$APTSNAP" ./cmd/aptsnap)
dir_for() { if [ $(($1 % 2)) = 0 ]; then echo "$FA"; else echo "$FB"; fi; }

build_fixture "$FA" "$FIRST"
if [ ! -d "$FB/.gnupg" ]; then # one key for both directories
    mkdir -p "$FB" && cp -a "$FA/.gnupg" "$FA/keyring.gpg" "$FB/"
fi
ln -sfn "$(dir_for "$FIRST")" "$FIXTURE"
[ "$(dir_for "$FIRST")" = "$FA" ] || build_fixture "$FB" "$FIRST"
nginx_start "upstream-$UPSTREAM_PORT" "$FIXTURE" "$UPSTREAM_PORT"
"$BENCH_DIR/aptly.sh" init
"$BENCH_DIR/aptsnap.sh" init
for gen in $(seq "$FIRST" "$LAST"); do
    cur=$(dir_for "$gen")
    build_fixture "$cur" "$gen" # no-op when the background build made it
    ln -sfn "$cur" "$FIXTURE"
    next=$((gen + 1)) pid=
    if [ "$next" -le "$LAST" ]; then
        build_fixture "$(dir_for "$next")" "$next" 2>>"$BENCH_DATA/g40-build.log" &
        pid=$!
    fi
    "$BENCH_DIR/aptly.sh" step "$gen"
    "$BENCH_DIR/aptsnap.sh" step "$gen"
    [ -z "$pid" ] || wait "$pid" || die "building generation $next failed (see $BENCH_DATA/g40-build.log)"
    log "g40: generation $gen done"
done
nginx_stop "upstream-$UPSTREAM_PORT"

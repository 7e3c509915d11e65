#!/bin/bash
# Web UI on the full workload (issue 5): serves the 40-generation run's
# aptsnap data (LABEL=g40) and times each page twice with curl, then the
# server's RSS. A second binary (BASELINE=path) is timed the same way for
# comparison, on its own copy of the data (so that neither sees the other's
# on-disk package lists).
#
#   bench/web.sh [PACKAGE]          default bash
#
# Results: bench/results/web-$LABEL.tsv (binary, page, first_s, again_s) and
# the RSS lines in the log.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
LABEL=${LABEL:-g40}
PKG=${1:-bash}
SRC=$BENCH_DATA/aptsnap-$LABEL
TSV=$RESULTS/web-$LABEL.tsv
PORT=${WEB_PORT:-8097}
NEW=$BENCH_DATA/aptsnap-web-bin
(cd "$REPO_DIR" && go build -o "$NEW" ./cmd/aptsnap) || die "go build failed"
printf 'binary\tpage\tfirst_s\tagain_s\n' >"$TSV"

run_one() { # NAME BINARY
    local name=$1 bin=$2 work=$BENCH_DATA/web-$1 pid
    rm -rf "$work"; mkdir -p "$work"
    mkdir -p "$work/data"   # the store is shared read-only; catalog and key copied
    cp -a "$SRC/data/catalog.db" "$SRC/data/signing-key.asc" "$work/data/"
    ln -s "$SRC/data/blobs" "$work/data/blobs"
    sed -e "s#$SRC/data#$work/data#" -e "s#^listen = .*#listen = \"127.0.0.1:$PORT\"#" \
        -e "s#^public_url = .*#public_url = \"http://127.0.0.1:$PORT\"#" "$SRC/config.toml" >"$work/config.toml"
    "$bin" serve --config "$work/config.toml" --no-schedule >"$work/serve.log" 2>&1 &
    pid=$!
    local i; for i in $(seq 100); do
        curl -sf -o /dev/null "http://127.0.0.1:$PORT/ui/" && break; sleep 0.1
    done
    local first last
    first=$(curl -sf "http://127.0.0.1:$PORT/api/v1/snapshots?archive=debian" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s[0]["serial"], s[-1]["serial"], len(s))')
    read -r from to n <<<"$first"
    log "$name: $n snapshots of debian, $from .. $to"
    for page in "/ui/" "/ui/debian/" "/ui/debian/$to/" "/ui/debian/diff?from=$from&to=$to" "/ui/debian/package/$PKG"; do
        local a b
        a=$(curl -sf -o /dev/null -w '%{time_total}' "http://127.0.0.1:$PORT$page")
        b=$(curl -sf -o /dev/null -w '%{time_total}' "http://127.0.0.1:$PORT$page")
        printf '%s\t%s\t%s\t%s\n' "$name" "$page" "$a" "$b" >>"$TSV"
        log "$name $page: first ${a}s, again ${b}s"
    done
    log "$name RSS: $(awk '/^VmRSS|^VmHWM/{printf "%s %s kB ", $1, $2}' /proc/$pid/status)"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}
run_one aptsnap "$NEW"
[ -z "${BASELINE:-}" ] || run_one baseline "$BASELINE"
column -t "$TSV"

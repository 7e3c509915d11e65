#!/bin/bash
# Pulses aptsnap on the 40-generation fixture in the same run as aptly's
# 40-generation loop (bench/aptly.sh run 0 39 with LABEL=g40): whenever that
# loop starts a generation (its fixture is built and stays still while
# aptly works), aptsnap pulses the same fixture once.
#
#   bench/follow-g40.sh [LOG]      default $BENCH_DATA/aptly40.log
set -euo pipefail
export UPSTREAM_PORT=${UPSTREAM_PORT:-8089} # before lib.sh, which defaults it to 8088
. "$(dirname "$0")/lib.sh"
LOG=${1:-$BENCH_DATA/aptly40.log}
export LABEL=${LABEL:-g40} FIXTURE=${FIXTURE:-$BENCH_DATA/upstream40}
export APTSNAP=${APTSNAP:-$BENCH_DATA/aptsnap-$LABEL-bin}
[ -x "$APTSNAP" ] || (cd "$REPO_DIR" && go build -o "$APTSNAP" ./cmd/aptsnap)
"$BENCH_DIR/aptsnap.sh" init
tail -n0 -F "$LOG" | while read -r line; do
    if [[ $line =~ aptly\ g40:\ generation\ ([0-9]+)\ \( ]]; then
        "$BENCH_DIR/aptsnap.sh" step "${BASH_REMATCH[1]}" || log "aptsnap step ${BASH_REMATCH[1]} failed"
    fi
    [[ $line =~ generation\ 39\ done ]] && break
done
log "follow-g40: done"

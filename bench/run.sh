#!/bin/bash
# One run of the whole comparison, aptsnap beside aptly on the same fixture:
#
#   bench/run.sh [FIRST [LAST]]      default 0 3
#
#  (a) per generation: rebuild the fixture, aptly mirror update + snapshot create
#      + publish of the 3 suites, then aptsnap pulse of debian and debian-security;
#      ratio aptsnap / aptly per generation (target <= 0.10 for generations >= 1)
#  (b) aptsnap snapshot + sign of a downloaded state at LIMITS (skip: SKIP_SNAP=1)
#  (c) aptsnap catalog vs aptly db at the last generation both reached
#      (40 pulses: LAST=39, or compare with the aptly-g40 run, see BENCHMARKS.md)
#  (d) bench/serve.sh: nginx vs aptsnap serve with wrk (skip: SKIP_SERVE=1)
#
# LABEL (default joint-<UTC time>) names state dirs and result files.
# BUILD=1 rebuilds the aptsnap binary first (default: only if missing).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

export LABEL=${LABEL:-joint-$(date -u +%Y%m%dT%H%M)}
export FIXTURE=${FIXTURE:-$BENCH_DATA/upstream}
export UPSTREAM_PORT LIMIT=${LIMIT:-0}
FIRST=${1:-0}; LAST=${2:-3}
APTSNAP=${APTSNAP:-$BENCH_DATA/aptsnap}
REPORT=$RESULTS/run-$LABEL.txt

"$BENCH_DIR/setup.sh" >/dev/null
if [ "${BUILD:-0}" = 1 ] || [ ! -x "$APTSNAP" ]; then "$BENCH_DIR/aptsnap.sh" build; fi
# another benchmark (e.g. the 40-generation aptly run) skews every timing
for p in "$BENCH_DATA"/*.pid; do
    [ -s "$p" ] && kill -0 "$(cat "$p")" 2>/dev/null && log "WARNING: $(basename "$p" .pid) is running (pid $(cat "$p")): timings are taken beside it"
done

{ machine_info; echo "label: $LABEL"; echo "fixture: $FIXTURE limit=$LIMIT generations $FIRST..$LAST"; } | tee "$REPORT"

for gen in $(seq "$FIRST" "$LAST"); do
    build_fixture "$FIXTURE" "$gen" "$LIMIT"
    nginx_start "upstream-$UPSTREAM_PORT" "$FIXTURE" "$UPSTREAM_PORT"
    "$BENCH_DIR/aptly.sh" init
    "$BENCH_DIR/aptly.sh" step "$gen"
    "$BENCH_DIR/aptsnap.sh" init
    "$BENCH_DIR/aptsnap.sh" step "$gen"
done

A=$RESULTS/aptly-$LABEL.tsv; S=$RESULTS/aptsnap-$LABEL.tsv
{
echo
echo "(a) time per generation, seconds: aptly = mirror update + snapshot create + publish of 3 suites;"
echo "    aptsnap = pulse debian + pulse debian-security.  Target: aptsnap/aptly <= 0.10 for gen >= 1."
echo "    cpu = user+sys of the tool's processes (less sensitive than wall clock to a busy machine)."
printf 'gen\taptly_s\taptsnap_s\tratio\taptly_cpu_s\taptsnap_cpu_s\tcpu_ratio\taptly_peak_rss_MB\taptsnap_peak_rss_MB\n'
for gen in $(seq "$FIRST" "$LAST"); do
    a=$(sum_wall "$A" aptly "$gen" .); s=$(sum_wall "$S" aptsnap "$gen" .)
    ca=$(awk -F'\t' -v g="$gen" 'NR>1 && $2==g {c+=$6+$7} END {printf "%.2f", c}' "$A")
    cs=$(awk -F'\t' -v g="$gen" 'NR>1 && $2==g {c+=$6+$7} END {printf "%.2f", c}' "$S")
    ra=$(awk -F'\t' -v g="$gen" 'NR>1 && $2==g && $8>m {m=$8} END {printf "%.0f", m/1024}' "$A")
    rs=$(awk -F'\t' -v g="$gen" 'NR>1 && $2==g && $8>m {m=$8} END {printf "%.0f", m/1024}' "$S")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$gen" "$a" "$s" \
        "$(awk -v a="$a" -v s="$s" 'BEGIN{printf "%.3f", (a>0 ? s/a : 0)}')" "$ca" "$cs" \
        "$(awk -v a="$ca" -v s="$cs" 'BEGIN{printf "%.3f", (a>0 ? s/a : 0)}')" "$ra" "$rs"
done
echo
echo "(c) metadata size at the last generation both reached"
sa=$RESULTS/aptly-$LABEL-sizes.tsv; ss=$RESULTS/aptsnap-$LABEL-sizes.tsv
g=$LAST
db=$(awk -F'\t' -v g="$g" '$1==g {print $2}' "$sa"); cat_=$(awk -F'\t' -v g="$g" '$1==g {print $2}' "$ss")
echo "gen $g: aptly db $db bytes, aptsnap catalog $cat_ bytes, ratio $(awk -v a="$db" -v c="$cat_" 'BEGIN{printf "%.4f", (a>0 ? c/a : 0)}') (target <= 0.05 at 40 generations)"
if [ "$LAST" -lt 39 ] && [ -f "$RESULTS/aptly-g40-sizes.tsv" ]; then
    echo "aptly after 40 generations (run g40): $(awk -F'\t' '$1==39 {print $2" bytes db"}' "$RESULTS/aptly-g40-sizes.tsv")"
fi
} | tee -a "$REPORT"

if [ "${SKIP_SNAP:-0}" != 1 ]; then
    echo; echo "(b) aptsnap snapshot + sign of a downloaded state (target < 0.1 s, flat)"
    "$BENCH_DIR/aptsnap.sh" snapbench
fi | tee -a "$REPORT"

if [ "${SKIP_SERVE:-0}" != 1 ]; then
    # serve the generation both just pulsed/published
    nginx_stop "upstream-$UPSTREAM_PORT"
    echo; echo "(d) serving with wrk"
    "$BENCH_DIR/serve.sh" all
    column -t -s$'\t' "$RESULTS/serve-$LABEL.tsv"
fi 2>&1 | tee -a "$REPORT"
log "report: $REPORT"

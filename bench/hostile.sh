#!/usr/bin/env bash
# What a pulse spends on a hostile upstream, for two builds of aptsnap:
# peak RSS against a decompression bomb, disk used against an endless body.
#
#   bench/hostile.sh [OLD_REV]    # OLD_REV: a git revision to compare with (default: none)
#
# Each pulse runs under /usr/bin/time -v with a 60 s bound.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/aptsnap-new" ./cmd/aptsnap
go build -o "$work/hostile" ./bench/hostile
builds=(new)
if [ -n "${1:-}" ]; then
  git worktree add -q "$work/old-src" "$1"
  (cd "$work/old-src" && go build -o "$work/aptsnap-old" ./cmd/aptsnap)
  git worktree remove --force "$work/old-src"
  builds=(old new)
fi
printf "build\tmode\tresult\tmax_rss_kb\tpeak_disk_bytes\twall_s\n"
for mode in bomb endless; do
  for b in "${builds[@]}"; do
    d="$work/$mode-$b"; mkdir -p "$d"
    "$work/hostile" -dir "$d" -mode "$mode" -size 512 >"$d/cfg" 2>"$d/hostile.log" &
    for _ in $(seq 100); do [ -s "$d/cfg" ] && break; sleep 0.1; done
    cfg=$(cat "$d/cfg")
    start=$(date +%s.%N)
    # The most the data directory held while the pulse ran.
    ( set +e; peak=0; while :; do n=$(du -sb "$d/data" 2>/dev/null | cut -f1); if [ "${n:-0}" -gt "$peak" ]; then peak=$n; echo "$peak" >"$d/peak"; fi; sleep 0.2; done ) &
    sampler=$!
    set +e
    timeout 60 /usr/bin/time -v "$work/aptsnap-$b" --config "$cfg" pulse debian >"$d/out" 2>"$d/err"
    rc=$?
    set -e
    kill $sampler 2>/dev/null || true; wait $sampler 2>/dev/null || true
    wall=$(echo "$(date +%s.%N) - $start" | bc)
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$d/err")
    stored=$(cat "$d/peak" 2>/dev/null || echo 0)
    result="refused (exit $rc)"; [ "$rc" = 0 ] && result="accepted"; [ "$rc" = 124 ] && result="killed at 60 s"
    printf "%s\t%s\t%s\t%s\t%s\t%.1f\n" "$b" "$mode" "$result" "${rss:--}" "$stored" "$wall"
    pkill -f "$work/hostile -dir $d " 2>/dev/null || true
  done
done

#!/bin/bash
# aptly side of the aptsnap benchmarks: mirror update + snapshot create +
# publish of bookworm, bookworm-updates (archive debian) and bookworm-security
# (archive debian-security), one generation of the make-upstream fixture at a
# time, timing every phase (wall clock, CPU, peak RSS) and the db size.
#
#   bench/aptly.sh run [FIRST [LAST]]   rebuild fixture to each generation and step
#                                       (default 0 3; resumable: generations already
#                                       recorded for this LABEL are skipped)
#   bench/aptly.sh init                 private rootDir, aptly.conf, signing key, mirrors
#   bench/aptly.sh step GEN             one generation against the fixture being served
#   bench/aptly.sh status               last generation done, sizes so far
#   bench/aptly.sh summary              per-generation totals as TSV
#
# Environment: LABEL (default main) names the run: state in $BENCH_DATA/aptly-$LABEL,
# results in bench/results/aptly-$LABEL{,-sizes}.tsv.  FIXTURE (default
# $BENCH_DATA/upstream) and UPSTREAM_PORT (default 8088) say which fixture is
# served where.  LIMIT (default 0: all packages) is passed to make-upstream.
# APTLY_UPDATE_FLAGS / APTLY_PUBLISH_FLAGS add flags (defaults: none /
# "-skip-contents -skip-bz2", i.e. aptly is spared work aptsnap does not do).
# SIZE_POOL=0 skips measuring pool/ and public/ (only db/ is measured).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

LABEL=${LABEL:-main}
FIXTURE=${FIXTURE:-$BENCH_DATA/upstream}
LIMIT=${LIMIT:-0}
APTLY_UPDATE_FLAGS=${APTLY_UPDATE_FLAGS:-}
APTLY_PUBLISH_FLAGS=${APTLY_PUBLISH_FLAGS:--skip-contents -skip-bz2}
SIZE_POOL=${SIZE_POOL:-1}   # 0: skip the (slow) du of pool/ and public/ after each generation
STATE=$BENCH_DATA/aptly-$LABEL
ROOT=$STATE/root
CONF=$STATE/aptly.conf
export GNUPGHOME=$STATE/gnupg
TSV=$RESULTS/aptly-$LABEL.tsv
SIZES=$RESULTS/aptly-$LABEL-sizes.tsv
export STEP_LOG=$STATE/steps.log
URL=http://127.0.0.1:$UPSTREAM_PORT

# mirror  url-suffix  distribution  publish-prefix
MIRRORS="bookworm debian bookworm debian
bookworm-updates debian bookworm-updates debian
bookworm-security debian-security bookworm-security debian-security"

aptly_() { aptly -config="$CONF" "$@"; }

init() {
    mkdir -p "$STATE" "$GNUPGHOME"; chmod 700 "$GNUPGHOME"
    if [ ! -f "$STATE/key-id" ]; then
        gpg --batch --passphrase '' --quick-gen-key "aptly bench <aptly-bench@example.invalid>" \
            ed25519 sign never >>"$STEP_LOG" 2>&1
        gpg --batch --list-secret-keys --with-colons | awk -F: '/^fpr/{print $10; exit}' >"$STATE/key-id"
    fi
    cat >"$CONF" <<CONF
{
  "rootDir": "$ROOT",
  "downloadConcurrency": 4,
  "architectures": ["amd64"],
  "gpgDisableSign": false,
  "gpgDisableVerify": false,
  "gpgProvider": "gpg",
  "downloadSourcePackages": false,
  "skipLegacyPool": true,
  "skipContentsPublishing": true
}
CONF
    local m u d p
    while read -r m u d p; do
        aptly_ mirror show "$m" >/dev/null 2>&1 && continue
        # -keyring is only used for this one verification: aptly does not store it
        # with the mirror, so every `mirror update` must pass it again.
        aptly_ mirror create -architectures=amd64 -keyring="$FIXTURE/keyring.gpg" \
            "$m" "$URL/$u" "$d" main >>"$STEP_LOG" 2>&1 || die "mirror create $m failed (see $STEP_LOG)"
    done <<<"$MIRRORS"
}

last_done() { cat "$STATE/last-gen" 2>/dev/null || echo -1; }

step() {
    local gen=$1 m u d p first
    [ "$(last_done)" -lt "$gen" ] || { log "aptly $LABEL: generation $gen already done"; return 0; }
    # a generation interrupted half-way is redone from the start: drop its rows
    if [ -f "$TSV" ]; then
        awk -F'\t' -v g="$gen" 'NR==1 || $2!=g' "$TSV" >"$TSV.tmp" && mv "$TSV.tmp" "$TSV"
    fi
    log "aptly $LABEL: generation $gen (load $(cut -d' ' -f1-3 /proc/loadavg))"
    while read -r m u d p; do
        timed "$TSV" aptly "$gen" mirror-update "$m" -- \
            aptly -config="$CONF" mirror update -keyring="$FIXTURE/keyring.gpg" $APTLY_UPDATE_FLAGS "$m" \
            || die "mirror update $m failed (see $STEP_LOG)"
    done <<<"$MIRRORS"
    while read -r m u d p; do
        if aptly_ snapshot show "$m-$gen" >/dev/null 2>&1; then
            aptly_ snapshot drop -force "$m-$gen" >/dev/null 2>&1 || { log "snapshot $m-$gen kept (published)"; continue; }
        fi
        timed "$TSV" aptly "$gen" snapshot-create "$m" -- \
            aptly -config="$CONF" snapshot create "$m-$gen" from mirror "$m" \
            || die "snapshot create $m-$gen failed (see $STEP_LOG)"
    done <<<"$MIRRORS"
    while read -r m u d p; do
        # (not `| grep -q`: with pipefail, grep exiting early fails the pipeline)
        if grep -qx "$p $d" <<<"$(aptly_ publish list -raw 2>/dev/null)"; then
            timed "$TSV" aptly "$gen" publish "$m" -- \
                aptly -config="$CONF" publish switch -batch -gpg-key="$(cat "$STATE/key-id")" \
                $APTLY_PUBLISH_FLAGS "$d" "$p" "$m-$gen" \
                || die "publish switch $d failed (see $STEP_LOG)"
        else
            timed "$TSV" aptly "$gen" publish "$m" -- \
                aptly -config="$CONF" publish snapshot -batch -gpg-key="$(cat "$STATE/key-id")" \
                $APTLY_PUBLISH_FLAGS -distribution="$d" -architectures=amd64 "$m-$gen" "$p" \
                || die "publish snapshot $m-$gen failed (see $STEP_LOG)"
        fi
    done <<<"$MIRRORS"
    [ -s "$SIZES" ] || printf 'gen\tdb_bytes\tdb_files\tpool_bytes\tpublic_bytes\tsnapshots\n' >"$SIZES"
    awk -F'\t' -v g="$gen" 'NR==1 || $1!=g' "$SIZES" >"$SIZES.tmp" && mv "$SIZES.tmp" "$SIZES"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$gen" \
        "$(du -sb "$ROOT/db" | cut -f1)" "$(find "$ROOT/db" -type f | wc -l)" \
        "$( [ "$SIZE_POOL" = 1 ] && du -sb "$ROOT/pool" | cut -f1 || echo -)" \
        "$( [ "$SIZE_POOL" = 1 ] && du -sb "$ROOT/public" | cut -f1 || echo -)" \
        "$(aptly_ snapshot list -raw | wc -l)" >>"$SIZES"
    echo "$gen" >"$STATE/last-gen"
    log "aptly $LABEL: generation $gen done: $(summary | awk -F'\t' -v g="$gen" '$1==g')"
}

# gen  update_s  snapshot_s  publish_s  total_s  peak_rss_kb  db_bytes
summary() {
    [ -f "$TSV" ] || return 0
    awk -F'\t' 'FNR==1 {next}
        FILENAME==ARGV[1] { g[$2]=1; w[$2,$3]+=$5; if ($8>r[$2]) r[$2]=$8; next }
        { db[$1]=$2 }
        END { for (k in g) printf "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%s\n", k, w[k,"mirror-update"],
                  w[k,"snapshot-create"], w[k,"publish"],
                  w[k,"mirror-update"]+w[k,"snapshot-create"]+w[k,"publish"], r[k], db[k] }' \
        "$TSV" "${SIZES}" | sort -n | sed '1i gen\tupdate_s\tsnapshot_s\tpublish_s\ttotal_s\tpeak_rss_kb\tdb_bytes'
}

run() {
    local first=${1:-0} last=${2:-3} gen started=
    command -v aptly >/dev/null || die "aptly missing: run bench/setup.sh"
    mkdir -p "$STATE"
    [ -f "$STATE/meta.txt" ] || { machine_info; echo "fixture: $FIXTURE limit=$LIMIT";
        echo "update flags: $APTLY_UPDATE_FLAGS"; echo "publish flags: $APTLY_PUBLISH_FLAGS"; } \
        >"$STATE/meta.txt" 2>/dev/null || true
    for gen in $(seq "$first" "$last"); do
        [ "$(last_done)" -lt "$gen" ] || continue
        build_fixture "$FIXTURE" "$gen" "$LIMIT"
        # (re)start the upstream nginx on this FIXTURE: the port may serve another one
        [ -n "${started:-}" ] || { nginx_start "upstream-$UPSTREAM_PORT" "$FIXTURE" "$UPSTREAM_PORT"; started=1; }
        init
        step "$gen"
    done
    summary
}

case "${1:-run}" in
init) init ;;
step) step "$2" ;;
run) shift || true; run "$@" ;;
summary) summary ;;
status) echo "label $LABEL: last generation done: $(last_done)"; summary ;;
*) sed -n 2,22p "$0"; exit 2 ;;
esac

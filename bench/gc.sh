#!/bin/bash
# Issue 3's GC comparison, after the 40-generation run (LABEL=g40):
# expire the 30 oldest snapshots of each archive and collect, beside
# aptly dropping the same 30 snapshots per mirror and running db cleanup;
# then (issue 18) the same collection asked of a running server, timed to
# its answer and to the end of its background sweep (SKIP_SERVER=1: not).
#
#   bench/gc.sh            works on copies, so it can be run again
#
# aptly:   snapshot drop <mirror>-<gen> for the 30 oldest generations, then
#          `aptly db cleanup` (timed, peak RSS), db size before/after
# aptsnap: Valid-Until of the 30 oldest serials per archive set in the past
#          (what their expiry does), then `aptsnap gc` (timed, peak RSS),
#          catalog and store size before/after
set -euo pipefail
. "$(dirname "$0")/lib.sh"
LABEL=${LABEL:-g40}
KEEP=${KEEP:-10}
A_SRC=$BENCH_DATA/aptly-$LABEL
S_SRC=$BENCH_DATA/aptsnap-$LABEL
WORK=$BENCH_DATA/gc-$LABEL
TSV=$RESULTS/gc-$LABEL.tsv
APTSNAP=${APTSNAP:-$BENCH_DATA/aptsnap-gc-bin}
[ -x "$APTSNAP" ] || (cd "$REPO_DIR" && go build -o "$APTSNAP" ./cmd/aptsnap) || die "go build failed"

rm -rf "$WORK"; mkdir -p "$WORK"
log "copying state (aptly db + catalog; pools are not needed by aptly db cleanup, blobs are by aptsnap gc)"
cp -a "$A_SRC" "$WORK/aptly"
cp -a "$S_SRC" "$WORK/aptsnap"
sed -i "s#$A_SRC#$WORK/aptly#g" "$WORK/aptly/aptly.conf"
sed -i "s#$S_SRC#$WORK/aptsnap#g" "$WORK/aptsnap/config.toml"
export GNUPGHOME=$WORK/aptly/gnupg
rm -f "$TSV"

# aptly: the generations it has, oldest first; drop all but the newest KEEP.
gens=$(aptly -config="$WORK/aptly/aptly.conf" snapshot list -raw | sed -n 's/^bookworm-\([0-9]*\)$/\1/p' | sort -n)
n=$(echo "$gens" | wc -l); drop=$(echo "$gens" | head -n $((n - KEEP)))
log "aptly: $n generations, dropping $(echo $drop | wc -w)"
for g in $drop; do
    for m in bookworm bookworm-updates bookworm-security; do
        aptly -config="$WORK/aptly/aptly.conf" snapshot drop "$m-$g" >/dev/null
    done
done
before=$(du -sb "$WORK/aptly/root/db" | cut -f1)
timed "$TSV" aptly 0 db-cleanup all -- aptly -config="$WORK/aptly/aptly.conf" db cleanup
after=$(du -sb "$WORK/aptly/root/db" | cut -f1)
echo -e "aptly\tdb_bytes_before\t$before\tdb_bytes_after\t$after" >>"$RESULTS/gc-$LABEL-sizes.tsv.new"

# aptsnap: expire all but the newest KEEP serials of each archive (in the
# catalog of the state copied to $1).
expire_oldest() {
local db=$1/data/catalog.db a
for a in debian debian-security; do
    python3 - "$db" "$a" "$KEEP" <<'PY'
import sqlite3, sys
db, archive, keep = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = sqlite3.connect(db)
ids = [r[0] for r in c.execute("SELECT s.id FROM snapshots s JOIN archives a ON a.id=s.archive_id WHERE a.name=? AND s.serial NOT LIKE '@%' ORDER BY s.serial", (archive,))]
c.executemany("UPDATE snapshots SET valid_until=1 WHERE id=?", [(i,) for i in ids[:max(0, len(ids)-keep)]])
c.commit()
print(archive, len(ids), "snapshots,", max(0, len(ids)-keep), "expired")
PY
done
}
db=$WORK/aptsnap/data/catalog.db
expire_oldest "$WORK/aptsnap"
cat_before=$(stat -c %s "$db"); blobs_before=$(du -sb "$WORK/aptsnap/data/blobs" | cut -f1)
timed "$TSV" aptsnap 0 gc all -- "$APTSNAP" --config "$WORK/aptsnap/config.toml" gc
"$APTSNAP" --config "$WORK/aptsnap/config.toml" verify >/dev/null || die "verify after gc failed"
cat_after=$(stat -c %s "$db"); blobs_after=$(du -sb "$WORK/aptsnap/data/blobs" | cut -f1)
echo -e "aptsnap\tcatalog_bytes_before\t$cat_before\tcatalog_bytes_after\t$cat_after\tblobs_before\t$blobs_before\tblobs_after\t$blobs_after" >>"$RESULTS/gc-$LABEL-sizes.tsv.new"
mv "$RESULTS/gc-$LABEL-sizes.tsv.new" "$RESULTS/gc-$LABEL-sizes.tsv"

# aptsnap asked through a running server (the same expiry on a fresh copy):
# `gc --server` returns at the catalog commit, and the server sweeps in the
# background; timed to its answer (the command a user waits for) and to the
# end of the sweep (the server's "gc: swept" log line).
if [ "${SKIP_SERVER:-0}" != 1 ]; then
    S=$WORK/aptsnap-server
    cp -a "$S_SRC" "$S"
    sed -i "s#$S_SRC#$S#g" "$S/config.toml"
    expire_oldest "$S"
    port=${GC_SERVE_PORT:-8097}
    token=$("$APTSNAP" --config "$S/config.toml" --log-level error token create --name bench-gc --role admin 2>/dev/null)
    [ -n "$token" ] || die "no admin token"
    # (serve has no --listen: the address is the configuration's)
    sed -i "s#^listen = .*#listen = \"127.0.0.1:$port\"#" "$S/config.toml"
    "$APTSNAP" --config "$S/config.toml" --log-level info serve >"$S/serve.log" 2>&1 &
    spid=$!
    for i in $(seq 600); do # any answer: it listens
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/health" || true)" != 000 ] && break
        kill -0 "$spid" 2>/dev/null || die "the server exited: $(tail -5 "$S/serve.log")"
        [ "$i" -lt 600 ] || { kill "$spid"; die "the server does not answer on $port after a minute: $(tail -5 "$S/serve.log")"; }
        sleep 0.1
    done
    log "server up after $i tries"
    t0=$(date +%s.%N)
    APTSNAP_TOKEN=$token timed "$TSV" aptsnap-server 0 gc-answer all -- "$APTSNAP" --server "http://127.0.0.1:$port" gc
    for _ in $(seq 1200); do grep -q 'gc: swept' "$S/serve.log" && break; sleep 0.05; done
    t1=$(date +%s.%N)
    grep -q 'gc: swept' "$S/serve.log" || { kill "$spid"; die "the server did not sweep within a minute: $S/serve.log"; }
    kill "$spid"; wait "$spid" || true
    printf 'aptsnap-server	0	sweep-end	all	%.2f				0\n' "$(echo "$t1 - $t0" | bc)" >>"$TSV"
    log "aptsnap through the server: sweep ended $(echo "$t1 - $t0" | bc) s after the gc was asked"
    grep 'gc: ' "$S/serve.log" | tail -3 >&2
    "$APTSNAP" --config "$S/config.toml" verify >/dev/null || die "verify after the server's gc failed"
fi
column -t "$TSV"; cat "$RESULTS/gc-$LABEL-sizes.tsv"

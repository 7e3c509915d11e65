#!/bin/bash
# Issue 3's GC comparison, after the 40-generation run (LABEL=g40):
# expire the 30 oldest snapshots of each archive and collect, beside
# aptly dropping the same 30 snapshots per mirror and running db cleanup.
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

# aptsnap: expire all but the newest KEEP serials of each archive.
db=$WORK/aptsnap/data/catalog.db
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
cat_before=$(stat -c %s "$db"); blobs_before=$(du -sb "$WORK/aptsnap/data/blobs" | cut -f1)
timed "$TSV" aptsnap 0 gc all -- "$APTSNAP" --config "$WORK/aptsnap/config.toml" gc
"$APTSNAP" --config "$WORK/aptsnap/config.toml" verify >/dev/null || die "verify after gc failed"
cat_after=$(stat -c %s "$db"); blobs_after=$(du -sb "$WORK/aptsnap/data/blobs" | cut -f1)
echo -e "aptsnap\tcatalog_bytes_before\t$cat_before\tcatalog_bytes_after\t$cat_after\tblobs_before\t$blobs_before\tblobs_after\t$blobs_after" >>"$RESULTS/gc-$LABEL-sizes.tsv.new"
mv "$RESULTS/gc-$LABEL-sizes.tsv.new" "$RESULTS/gc-$LABEL-sizes.tsv"
column -t "$TSV"; cat "$RESULTS/gc-$LABEL-sizes.tsv"

package gc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/events"
	"github.com/aptsnap/aptsnap/gc"
	"github.com/aptsnap/aptsnap/internal/testenv"
	"github.com/aptsnap/aptsnap/publish"
	"github.com/aptsnap/aptsnap/release"
)

// snap publishes a snapshot of archive (a tag when tag is set) whose index
// lists the given pool files, stored, and returns it with the digests of
// every file it references.
func snap(t *testing.T, e *testenv.Env, archive, tag string, pool ...string) (catalog.Snapshot, []blob.Digest) {
	t.Helper()
	ctx := context.Background()
	var pkgs bytes.Buffer
	var refs []blob.Digest
	for _, p := range pool {
		info, err := e.Store.Put(ctx, bytes.NewReader([]byte(p)), blob.Digest{}, -1)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, info.Digest)
		fmt.Fprintf(&pkgs, "Package: %s\nVersion: 1\nArchitecture: all\nFilename: pool/main/%s.deb\nSize: %d\nSHA256: %s\n\n", p, p, len(p), info.Digest)
	}
	files, idx, err := e.Publisher.WriteIndex(ctx, "main/binary-amd64/Packages", pkgs.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		refs = append(refs, f.SHA256)
	}
	fields, _ := release.Parse([]byte("Origin: Debian\nDate: Sat, 22 Nov 2026 08:14:46 UTC\n"))
	snaps, err := e.Publisher.Publish(ctx, publish.Snapshot{Archive: archive, Tag: tag, ValidDays: 10, URL: "http://x",
		Suites: []publish.Suite{{Name: "stable", Fields: fields, Files: files, Indices: []publish.Index{idx}}}})
	if err != nil {
		t.Fatal(err)
	}
	return snaps[0], refs
}

// age makes every stored file an hour old: older than any running writer.
func age(t *testing.T, e *testenv.Env) {
	old := time.Now().Add(-time.Hour)
	e.Store.Walk(context.Background(), func(i blob.Info) error { return os.Chtimes(e.Store.Path(i.Digest), old, old) })
}

// files is the number of files stored.
func files(t *testing.T, e *testenv.Env) int {
	t.Helper()
	n := 0
	if err := e.Store.Walk(context.Background(), func(blob.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func stored(e *testenv.Env, d blob.Digest) bool {
	_, err := e.Store.Stat(context.Background(), d)
	return err == nil
}

// TestCollectionSet: what expired goes, with the files only it
// referenced; what a live snapshot, a tag or a custom archive's newest
// snapshot references stays; so does a file newer than a running writer.
func TestCollectionSet(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	old, oldRefs := snap(t, e, "debian", "", "shared", "gone")
	_, oursRefs := snap(t, e, "ours", "", "custom")
	e.Clock.Shift(24 * time.Hour)
	_, liveRefs := snap(t, e, "debian", "", "shared", "new")
	_, tagRefs := snap(t, e, "debian", "rel", "tagged")
	age(t, e)
	e.Clock.Shift(9*24*time.Hour + 12*time.Hour) // the first debian snapshot and ours have expired
	// A writer running now: what it stores is kept, referenced or not.
	w, err := e.Locker.Writer(ctx, "debian", false)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := e.Store.Put(ctx, bytes.NewReader([]byte("being pulsed")), blob.Digest{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	var heard []string
	e.Events.OnCollected(func(_ context.Context, live func(blob.Digest) bool) {
		heard = append(heard, fmt.Sprintf("collected gone=%v new=%v", live(oldRefs[1]), live(liveRefs[1])))
	})
	e.Events.OnGC(func(g events.GC) { heard = append(heard, fmt.Sprintf("gc %d %d", g.Expired, g.Files)) })
	c := gc.New(gc.Options{Catalog: e.Catalog, Store: e.Store, Locker: e.Locker, Now: e.Clock.Now, Log: e.Log, Events: e.Events})

	dry, err := c.Run(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.Expired) != 1 || dry.Expired[0].Serial != old.Serial || dry.Files == 0 {
		t.Fatalf("dry run: %+v", dry)
	}
	for _, d := range oldRefs {
		if !stored(e, d) {
			t.Fatal("a dry run deleted a file")
		}
	}
	if _, err := e.Catalog.Snapshot(ctx, "debian", old.Serial); err != nil {
		t.Fatalf("a dry run collected a snapshot: %v", err)
	}
	if len(heard) != 0 {
		t.Errorf("a dry run told %v", heard)
	}

	res, err := c.Run(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Expired) != 1 || res.Expired[0].Serial != old.Serial || res.Files != dry.Files || res.Bytes != dry.Bytes {
		t.Errorf("collection %+v, dry run said %+v", res, dry)
	}
	if stored(e, oldRefs[1]) {
		t.Error("the pool file only the expired snapshot listed is still stored")
	}
	for what, refs := range map[string][]blob.Digest{"live": liveRefs, "tag": tagRefs, "custom newest": oursRefs, "running writer": {fresh.Digest}} {
		for _, d := range refs {
			if !stored(e, d) {
				t.Errorf("%s: %s was swept", what, d)
			}
		}
	}
	if !stored(e, oldRefs[0]) {
		t.Error("a pool file a live snapshot shares was swept")
	}
	want := []string{"collected gone=false new=true", fmt.Sprintf("gc 1 %d", res.Files)}
	if fmt.Sprint(heard) != fmt.Sprint(want) {
		t.Errorf("told %v, want %v", heard, want)
	}
	w.Release()
	// With the writer gone, its unreferenced file goes at the next run
	// (once older than the second a file's time may lag by).
	age(t, e)
	if _, err := c.Run(ctx, false); err != nil {
		t.Fatal(err)
	}
	if stored(e, fresh.Digest) {
		t.Error("an unreferenced file of a finished writer survived")
	}
}

// TestSweepInBatches: a local collection deletes as it walks, a batch
// at a time; with more dead files than a batch, every dead one goes and
// every live one among them stays.
func TestSweepInBatches(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	var pool []string
	for i := range 1300 {
		pool = append(pool, fmt.Sprint("pkg-", i))
	}
	_, oldRefs := snap(t, e, "debian", "", pool...)
	e.Clock.Shift(24 * time.Hour)
	_, liveRefs := snap(t, e, "debian", "", pool[:200]...)
	age(t, e)
	e.Clock.Shift(9*24*time.Hour + 12*time.Hour) // the first snapshot has expired
	c := gc.New(gc.Options{Catalog: e.Catalog, Store: e.Store, Locker: e.Locker, Now: e.Clock.Now, Log: e.Log, Events: e.Events})
	before := files(t, e)
	res, err := c.Run(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if n := before - files(t, e); res.Files != n {
		t.Errorf("the collection says it deleted %d files, the store has %d fewer", res.Files, n)
	}
	live := map[blob.Digest]bool{}
	for _, d := range liveRefs {
		live[d] = true
		if !stored(e, d) {
			t.Errorf("live %s was swept", d)
		}
	}
	dead := 0
	for _, d := range oldRefs {
		if !live[d] {
			dead++
			if stored(e, d) {
				t.Errorf("dead %s is still stored", d)
			}
		}
	}
	if dead < 1100 || res.Files < dead {
		t.Errorf("%d files deleted, %d of them the expired snapshot's only", res.Files, dead)
	}
}

// TestOneAtATime: a GC while another runs is refused, as a conflict.
func TestOneAtATime(t *testing.T) {
	e := testenv.New(t)
	g, err := e.Locker.GC(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Release()
	c := gc.New(gc.Options{Catalog: e.Catalog, Store: e.Store, Locker: e.Locker, Log: e.Log})
	if _, err := c.Run(context.Background(), false); !errors.Is(err, errdefs.ErrExists) {
		t.Errorf("a second GC: %v, want ErrExists", err)
	}
	// Looking takes no lock: a dry run beside a collection works, and so
	// a collection is never kept from running by someone looking.
	if res, err := c.Run(context.Background(), true); err != nil || !res.DryRun {
		t.Errorf("a dry run beside a GC: %+v, %v", res, err)
	}
}

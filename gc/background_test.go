package gc_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/gc"
	"github.com/aptsnap/aptsnap/internal/testenv"
)

// slowStore is a local store whose deletions take a while: a sweep of a
// few hundred files lasts several rounds.
type slowStore struct {
	blob.Store
	delay time.Duration
}

func (s slowStore) Delete(ctx context.Context, d blob.Digest) error {
	time.Sleep(s.delay)
	return s.Store.Delete(ctx, d)
}

// TestMarkThenBackgroundSweep: the mark takes the expired snapshot out of
// the catalog and leaves its files; a background sweep then deletes them
// in rounds, between which a writer commits without waiting for the whole
// sweep, and a file it references that the sweep had listed as a
// candidate is kept.
func TestMarkThenBackgroundSweep(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	old, oldRefs := snap(t, e, "debian", "", "gone")
	e.Clock.Shift(24 * time.Hour)
	snap(t, e, "debian", "", "new")
	// Unreferenced files, as a crashed pulse leaves.
	var orphans []blob.Digest
	for i := range 300 {
		info, err := e.Store.Put(ctx, bytes.NewReader(fmt.Appendf(nil, "orphan %d", i)), blob.Digest{}, -1)
		if err != nil {
			t.Fatal(err)
		}
		orphans = append(orphans, info.Digest)
	}
	age(t, e)
	e.Clock.Shift(9*24*time.Hour + 12*time.Hour)
	c := gc.New(gc.Options{Catalog: e.Catalog, Store: slowStore{e.Store, 10 * time.Millisecond}, Locker: e.Locker, Now: e.Clock.Now, Log: e.Log})

	res, err := c.Mark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Expired) != 1 || res.Expired[0].Serial != old.Serial || res.Files != 0 {
		t.Fatalf("mark: %+v", res)
	}
	if _, err := e.Catalog.Snapshot(ctx, "debian", old.Serial); err == nil {
		t.Fatal("the expired snapshot is still in the catalog after the mark")
	}
	for _, d := range oldRefs {
		if !stored(e, d) {
			t.Fatal("the mark deleted a file")
		}
	}

	done := make(chan gc.Result)
	go func() {
		res, err := c.Sweep(ctx, gc.SweepOptions{Hold: 30 * time.Millisecond, Pause: 30 * time.Millisecond})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	// A writer adopts one of the orphans (the last one, which is still
	// there) and commits while the sweep runs: it waits for one round at
	// most, and the file stays.
	time.Sleep(50 * time.Millisecond)
	w, err := e.Locker.Writer(ctx, "debian", false)
	if err != nil {
		t.Fatal(err)
	}
	waited := time.Now()
	sl, err := e.Locker.Sweep(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	wait := time.Since(waited)
	var adopted blob.Digest
	for i := len(orphans) - 1; i >= 0; i-- {
		if stored(e, orphans[i]) {
			adopted = orphans[i]
			break
		}
	}
	if adopted == (blob.Digest{}) {
		t.Fatal("the sweep was over before the writer came: nothing to adopt")
	}
	idx := blob.Sum([]byte("Packages of the adopting pulse"))
	_, err = e.Catalog.CreateSnapshot(ctx, catalog.NewSnapshot{Archive: "debian", Created: e.Clock.Now(), ValidUntil: e.Clock.Now().Add(240 * time.Hour),
		Suites: []catalog.NewSuite{{Name: "stable", UpstreamDate: e.Clock.Now(), Upstream: adopted, Indices: []blob.Digest{idx},
			NewIndices: map[blob.Digest][]catalog.PoolEntry{idx: {{Path: "pool/main/a/adopted.deb", SHA256: adopted, Size: 9}}},
			Release:    []byte("r"), InRelease: []byte("i"), ReleaseGPG: []byte("g")}}})
	if err != nil {
		t.Fatal(err)
	}
	sl.Release()
	w.Release()
	sw := <-done
	if wait > sw.Swept/2 {
		t.Errorf("the writer waited %v for the sweep lock, of a sweep of %v: a background sweep holds it for a round at a time", wait, sw.Swept)
	}
	if !stored(e, adopted) {
		t.Error("a file a writer committed between two rounds was swept")
	}
	left := 0
	for _, d := range append(orphans, oldRefs...) {
		if stored(e, d) {
			left++
		}
	}
	if left != 1 { // the adopted orphan
		t.Errorf("%d of the unreferenced files left after the sweep, want 1 (%+v)", left, sw)
	}
	if sw.Files < 290 || sw.Swept <= 0 {
		t.Errorf("sweep result %+v", sw)
	}
}

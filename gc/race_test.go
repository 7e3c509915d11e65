package gc_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/gc"
	"github.com/aptsnap/aptsnap/internal/testenv"
)

// A pulse that commits between GC's Collect and its sweep loses its files.
func TestGCSweepsCommittedPulse(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	cat, st, locks := env.Catalog, env.Store, env.Locker
	c := gc.New(gc.Options{Catalog: cat, Store: st, Locker: locks, Log: env.Log})

	// A pulse runs; its pool file is 5 minutes old, older than the pulse's
	// recorded start: only its commit, seen by GC, keeps the file.
	pl, err := locks.Writer(ctx, "debian", false)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("a pool file")
	info, err := st.Put(ctx, bytes.NewReader(data), blob.Sum(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-5 * time.Minute)
	os.Chtimes(st.Path(info.Digest), old, old)
	up := []byte("upstream InRelease")
	upi, _ := st.Put(ctx, bytes.NewReader(up), blob.Sum(up), int64(len(up)))
	os.Chtimes(st.Path(upi.Digest), old, old)

	// The pulse is in recheck/commit: it holds the sweep lock shared.
	sl, err := locks.Sweep(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { _, err := c.Run(ctx, false); done <- err }()
	time.Sleep(500 * time.Millisecond) // GC has run Collect and waits for the sweep lock

	idx := blob.Sum([]byte("Packages"))
	_, err = cat.CreateSnapshot(ctx, catalog.NewSnapshot{Archive: "debian", Created: time.Now(), ValidUntil: time.Now().Add(240 * time.Hour),
		Suites: []catalog.NewSuite{{Name: "bookworm", UpstreamDate: time.Now(), Upstream: upi.Digest, Indices: []blob.Digest{idx},
			NewIndices: map[blob.Digest][]catalog.PoolEntry{idx: {{Path: "pool/main/h/hello.deb", SHA256: info.Digest, Size: info.Size}}},
			Release:    []byte("r"), InRelease: []byte("i"), ReleaseGPG: []byte("g")}}})
	if err != nil {
		t.Fatal(err)
	}
	sl.Release() // as mirror.pulse's defers: sweep lock first,
	pl.Release() // then the pulse lock
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat(ctx, info.Digest); err != nil {
		t.Errorf("pool file of the committed snapshot was swept: %v", err)
	}
	if _, err := st.Stat(ctx, upi.Digest); err != nil {
		t.Errorf("upstream InRelease of the committed snapshot was swept: %v", err)
	}
}

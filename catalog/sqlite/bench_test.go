package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
)

// BenchmarkNewIndex: the snapshot a pulse records after one generation of
// change: a new index of 20,000 pool files, 80 of them new, in an archive
// holding the index before it.
func BenchmarkNewIndex(b *testing.B) {
	ctx := context.Background()
	c := openTemp(b)
	t0 := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	entries := make([]catalog.PoolEntry, 20000)
	gen := 0
	entry := func(i int) catalog.PoolEntry {
		name := fmt.Sprintf("pool/main/p/p%d/p%d_%d_all.deb", i, i, gen)
		return catalog.PoolEntry{Path: name, SHA256: blob.Sum([]byte(name)), Size: int64(i)}
	}
	for i := range entries {
		entries[i] = entry(i)
	}
	snap := func() catalog.NewSnapshot {
		idx := blob.Sum(fmt.Appendf(nil, "Packages %d", gen))
		return catalog.NewSnapshot{Archive: "debian", Created: t0, ValidUntil: t0.AddDate(0, 0, 10),
			Suites: []catalog.NewSuite{{Name: "stable", UpstreamDate: t0, Indices: []blob.Digest{idx},
				Release: []byte("Suite: stable\n"), InRelease: []byte("signed"), ReleaseGPG: []byte("sig"),
				NewIndices: map[blob.Digest][]catalog.PoolEntry{idx: entries}}}}
	}
	if _, err := c.CreateSnapshot(ctx, snap()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		gen++
		for j := range 80 {
			i := (gen*80 + j) % len(entries)
			entries[i] = entry(i)
		}
		if _, err := c.CreateSnapshot(ctx, snap()); err != nil {
			b.Fatal(err)
		}
	}
}

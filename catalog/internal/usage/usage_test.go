package usage

import (
	"slices"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/internal/codec"
)

// TestWalk: two snapshots sharing a suite state's index, the second also
// using a state of its own, one index file listed by both states.
func TestWalk(t *testing.T) {
	bumped := time.Unix(1700000000, 0).UTC()
	rel, pkgs, other := blob.Sum([]byte("Release")), blob.Sum([]byte("Packages")), blob.Sum([]byte("Sources"))
	u := New()
	u.Snapshot(10, "20240101T000000Z", time.Time{})
	u.Snapshot(11, "20240102T000000Z", bumped)
	if u.Empty() {
		t.Fatal("Empty with two snapshots")
	}
	u.Uses(10, 1)
	u.Uses(11, 1)
	u.Uses(11, 2)
	u.Uses(99, 3) // a snapshot not added
	if !u.InUse(1) || u.InUse(3) {
		t.Fatal("InUse")
	}
	if got := slices.Sorted(slices.Values(u.States())); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("States = %v", got)
	}
	u.State(1, []catalog.IndexFile{{SHA256: rel, Size: 100}}, []blob.Digest{pkgs})
	u.State(2, []catalog.IndexFile{{SHA256: rel, Size: 100}}, []blob.Digest{other})
	u.State(3, []catalog.IndexFile{{SHA256: blob.Sum(nil), Size: 1 << 30}}, nil) // unused
	u.PoolFile(1, 1000)
	u.PoolFile(2, 2000)
	u.PoolFile(3, 4000)
	if got := len(u.Needed()); got != 2 {
		t.Fatalf("%d indices needed, want 2", got)
	}
	for d, ids := range map[blob.Digest][]int64{pkgs: {1, 2}, other: {2, 3}, blob.Sum([]byte("unused")): {1}} {
		if err := u.Index(d[:], codec.EncodeIDs(ids)); err != nil {
			t.Fatal(err)
		}
	}
	if err := u.Index(pkgs[:], []byte("garbage")); err == nil {
		t.Error("an index of garbage members was added")
	}
	want := []catalog.Usage{
		{Serial: "20240101T000000Z", Files: 3, Bytes: 3100, NewFiles: 3, NewBytes: 3100},
		{Serial: "20240102T000000Z", Bumped: bumped, Files: 4, Bytes: 7100, NewFiles: 1, NewBytes: 4000},
	}
	if got := u.Walk(); !slices.Equal(got, want) {
		t.Errorf("Walk = %+v, want %+v", got, want)
	}
}

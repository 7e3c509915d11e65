// Package catalogtest is the conformance suite of catalog.Catalog: every
// implementation (SQLite today, PostgreSQL next) runs Run against a fresh,
// empty catalog per test and must pass all of it. It checks behaviour
// through the interface only: serial allocation, lookups, the sharing of
// index and pool file records, transactions (all or nothing), concurrent
// writers, the lifecycle (bump, untrack, tags, collection sets) and tokens.
package catalogtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
)

// Opener returns a new, empty catalog; the test's cleanup closes it.
type Opener func(t *testing.T) catalog.Catalog

// Run runs the whole suite against catalogs made by open.
func Run(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name string
		f    func(*testing.T, Opener)
	}{
		{"Serials", testSerials},
		{"Lookups", testLookups},
		{"LeavesOutUntracked", testLeavesOutUntracked},
		{"SuiteRoundTrip", testSuiteRoundTrip},
		{"AllOrNothing", testAllOrNothing},
		{"UnknownIndex", testUnknownIndex},
		{"ConcurrentWriters", testConcurrentWriters},
		{"UpstreamDateMark", testUpstreamDateMark},
		{"PoolPerArchive", testPoolPerArchive},
		{"IdenticalIndexInTwoArchives", testIdenticalIndexInTwoArchives},
		{"TimestampURLStable", testTimestampURLStable},
		{"Tags", testTags},
		{"Expire", testExpire},
		{"WorkingState", testWorkingState},
		{"UpdateReleases", testUpdateReleases},
		{"Collect", testCollect},
		{"ArchiveEmptiedByGC", testArchiveEmptiedByGC},
		{"Untrack", testUntrack},
		{"Pulses", testPulses},
		{"PulseKilledAfterCommit", testPulseWithSnapshot},
		{"Usage", testUsage},
		{"Tokens", testTokens},
		{"Requests", testRequests},
		{"Copies", testCopies},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open) })
	}
}

func entries(n int, tag string) []catalog.PoolEntry {
	out := make([]catalog.PoolEntry, n)
	for i := range out {
		p := fmt.Sprintf("pool/main/p/pkg%d/pkg%d_1.0%s_amd64.deb", i, i, tag)
		out[i] = catalog.PoolEntry{Path: p, SHA256: blob.Sum([]byte(p)), Size: int64(100 + i)}
	}
	return out
}

func newSnap(archive string, at time.Time, idx blob.Digest, ents []catalog.PoolEntry) catalog.NewSnapshot {
	su := catalog.NewSuite{
		Name: "bookworm", UpstreamDate: at, Upstream: blob.Sum([]byte("upstream " + idx.String())),
		Files:   []catalog.IndexFile{{Path: "main/binary-amd64/Packages", SHA256: idx, Size: 42}},
		Indices: []blob.Digest{idx},
		Release: []byte("Release"), InRelease: []byte("InRelease"), ReleaseGPG: []byte("sig"),
	}
	if ents != nil {
		su.NewIndices = map[blob.Digest][]catalog.PoolEntry{idx: ents}
	}
	return catalog.NewSnapshot{Archive: archive, Created: at, ValidUntil: at.Add(240 * time.Hour), Suites: []catalog.NewSuite{su}}
}

func testSerials(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	day := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	idx := blob.Sum([]byte("index"))
	tests := []struct {
		archive string
		at      time.Time
		want    string
	}{
		{"debian", day, "2026112201"},
		{"debian", day.Add(time.Hour), "2026112202"},
		{"debian-security", day.Add(time.Hour), "2026112201"},
		{"debian", day.Add(24 * time.Hour), "2026112301"},
		{"debian", day.Add(-9 * time.Hour), "2026112302"}, // clock stepped back: never older than the newest
	}
	for _, tt := range tests {
		s, err := c.CreateSnapshot(ctx, newSnap(tt.archive, tt.at, idx, entries(3, "")))
		if err != nil {
			t.Fatal(err)
		}
		if s.Serial != tt.want {
			t.Errorf("%s at %s: serial %s, want %s", tt.archive, tt.at, s.Serial, tt.want)
		}
	}
	// The counter stops at 99 with a clear error, and nothing is created.
	busy := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= catalog.MaxSerialsPerDay; i++ {
		if _, err := c.CreateSnapshot(ctx, newSnap("busy", busy.Add(time.Duration(i)*time.Minute), idx, entries(3, ""))); err != nil {
			t.Fatalf("snapshot %d: %v", i, err)
		}
	}
	_, err := c.CreateSnapshot(ctx, newSnap("busy", busy.Add(23*time.Hour), idx, nil))
	if err == nil || !strings.Contains(err.Error(), "no serial left") {
		t.Fatalf("100th snapshot of a day: err = %v", err)
	}
	snaps, _ := c.Snapshots(ctx, "busy")
	if len(snaps) != catalog.MaxSerialsPerDay || snaps[len(snaps)-1].Serial != "2026120199" {
		t.Fatalf("busy has %d snapshots, last %s", len(snaps), snaps[len(snaps)-1].Serial)
	}
}

func testLookups(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	idx1, idx2 := blob.Sum([]byte("index1")), blob.Sum([]byte("index2"))
	gen0 := entries(5, "")
	gen1 := append(slices.Clone(gen0[:4]), entries(1, "+g1")...) // pkg4 removed, pkg0 1.0+g1 added
	s1, err := c.CreateSnapshot(ctx, newSnap("debian", t0, idx1, gen0))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := c.CreateSnapshot(ctx, newSnap("debian", t0.Add(6*time.Hour), idx2, gen1))
	if err != nil {
		t.Fatal(err)
	}
	// Same index again: no pool entries needed, suite state shared.
	s3, err := c.CreateSnapshot(ctx, newSnap("debian", t0.Add(12*time.Hour), idx2, nil))
	if err != nil {
		t.Fatal(err)
	}
	known, err := c.KnownIndices(ctx, "debian", []blob.Digest{idx1, idx2, blob.Sum([]byte("nope"))})
	if err != nil || len(known) != 2 {
		t.Fatalf("KnownIndices = %v, %v", known, err)
	}
	su2, err := c.Suite(ctx, s2.ID, "bookworm")
	if err != nil {
		t.Fatal(err)
	}
	su3, err := c.Suite(ctx, s3.ID, "bookworm")
	if err != nil {
		t.Fatal(err)
	}
	if su2.StateID != su3.StateID {
		t.Errorf("identical suites got states %d and %d, want one shared state", su2.StateID, su3.StateID)
	}
	if len(su3.Files) != 1 || su3.Files[0].Path != "main/binary-amd64/Packages" || su3.Indices[0] != idx2 {
		t.Errorf("suite = %+v", su3)
	}
	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{t0, s1.Serial}, {t0.Add(time.Hour), s1.Serial}, {t0.Add(6 * time.Hour), s2.Serial}, {t0.Add(100 * time.Hour), s3.Serial},
	} {
		got, err := c.SnapshotAt(ctx, "debian", tt.at)
		if err != nil || got.Serial != tt.want {
			t.Errorf("SnapshotAt(%s) = %s, %v; want %s", tt.at, got.Serial, err, tt.want)
		}
	}
	if _, err := c.SnapshotAt(ctx, "debian", t0.Add(-time.Second)); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("SnapshotAt before the first = %v, want ErrNotFound", err)
	}
	// Membership: pkg4 in idx1 only; pkg0+g1 in idx2 only; 4 shared files get one ID each.
	m1, _ := c.IndexMembers(ctx, "debian", idx1)
	m2, _ := c.IndexMembers(ctx, "debian", idx2)
	if len(m1) != 5 || len(m2) != 5 {
		t.Fatalf("members %v %v", m1, m2)
	}
	shared := 0
	for _, id := range m1 {
		if slices.Contains(m2, id) {
			shared++
		}
	}
	if shared != 4 {
		t.Errorf("%d pool files shared between the two indices, want 4", shared)
	}
	pf, err := c.LookupPool(ctx, "debian", gen0[4].Path)
	if err != nil || len(pf) != 1 || pf[0].SHA256 != gen0[4].SHA256 || !slices.Contains(m1, pf[0].ID) || slices.Contains(m2, pf[0].ID) {
		t.Errorf("LookupPool(%s) = %+v, %v", gen0[4].Path, pf, err)
	}
	files, err := c.PoolFiles(ctx, m2)
	if err != nil || len(files) != 5 {
		t.Fatalf("PoolFiles = %d, %v", len(files), err)
	}
	if d, _ := c.LastUpstreamDate(ctx, "debian", "bookworm"); !d.Equal(t0.Add(12 * time.Hour)) {
		t.Errorf("LastUpstreamDate = %s", d)
	}
	if _, err := c.Snapshot(ctx, "debian", "2099010101"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("unknown serial: %v", err)
	}
	if _, err := c.Suite(ctx, s1.ID, "sid"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("unknown suite: %v", err)
	}
}

func testLeavesOutUntracked(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	at := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	idx := blob.Sum([]byte("index"))
	if _, err := c.CreateSnapshot(ctx, newSnap("debian", at, idx, entries(2, ""))); err != nil {
		t.Fatal(err)
	}
	// Untracked while a pulse ran: the pulse's snapshot leaves it out.
	if _, err := c.Untrack(ctx, "debian", "bookworm"); err != nil {
		t.Fatal(err)
	}
	two := newSnap("debian", at.Add(time.Hour), idx, nil)
	extra := two.Suites[0]
	extra.Name = "bookworm-updates"
	two.Suites = append(two.Suites, extra)
	s, err := c.CreateSnapshot(ctx, two)
	if err != nil || strings.Join(s.Suites, ",") != "bookworm-updates" {
		t.Fatalf("snapshot after untrack: %+v, %v", s, err)
	}
	if _, err := c.CreateSnapshot(ctx, newSnap("debian", at.Add(2*time.Hour), idx, nil)); err == nil {
		t.Fatal("a snapshot of nothing but an untracked suite was made")
	}
}

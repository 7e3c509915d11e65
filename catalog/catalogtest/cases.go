package catalogtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
)

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

// twoSuites is a snapshot of bookworm and bookworm-updates with distinct
// indices and Release files.
func twoSuites(archive string, at time.Time, tag string) catalog.NewSnapshot {
	var ns catalog.NewSnapshot
	ns.Archive, ns.Created, ns.ValidUntil = archive, at, at.Add(240*time.Hour)
	for i, name := range []string{"bookworm", "bookworm-updates"} {
		idx := blob.Sum([]byte(archive + tag + name + at.String()))
		gz := blob.Sum([]byte("gz " + idx.String()))
		su := catalog.NewSuite{
			Name: name, UpstreamDate: at.Add(-time.Duration(i) * time.Hour), Upstream: blob.Sum([]byte("up " + idx.String())),
			Files: []catalog.IndexFile{
				{Path: "main/binary-amd64/Packages", SHA256: idx, Size: 4200 + int64(i)},
				{Path: "main/binary-amd64/Packages.gz", SHA256: gz, Size: 420},
			},
			Indices:    []blob.Digest{idx},
			NewIndices: map[blob.Digest][]catalog.PoolEntry{idx: entries(2+i, "+"+name)},
			Release:    []byte("Suite: " + name + "\n"), InRelease: []byte("signed " + name), ReleaseGPG: []byte("sig " + name),
		}
		ns.Suites = append(ns.Suites, su)
	}
	if tag != "" {
		ns.Tag, ns.ValidUntil = tag, time.Time{}
	}
	return ns
}

func testSuiteRoundTrip(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	ns := twoSuites("debian", t0.Add(1500*time.Millisecond), "")
	s, err := c.CreateSnapshot(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	want := catalog.Snapshot{ID: s.ID, Archive: "debian", Serial: "2026112201", Created: t0.Add(time.Second),
		ValidUntil: t0.Add(time.Second + 240*time.Hour), Suites: []string{"bookworm", "bookworm-updates"}}
	if !sameSnapshot(s, want) {
		t.Errorf("CreateSnapshot = %+v, want %+v (times in whole seconds)", s, want)
	}
	for what, get := range map[string]func() (catalog.Snapshot, error){
		"Snapshot":   func() (catalog.Snapshot, error) { return c.Snapshot(ctx, "debian", s.Serial) },
		"Latest":     func() (catalog.Snapshot, error) { return c.Latest(ctx, "debian") },
		"SnapshotAt": func() (catalog.Snapshot, error) { return c.SnapshotAt(ctx, "debian", t0.Add(time.Hour)) },
	} {
		got, err := get()
		if err != nil || !sameSnapshot(got, want) {
			t.Errorf("%s = %+v, %v; want %+v", what, got, err, want)
		}
	}
	for _, nsu := range ns.Suites {
		su, err := c.Suite(ctx, s.ID, nsu.Name)
		if err != nil {
			t.Fatal(err)
		}
		if su.Name != nsu.Name || !su.UpstreamDate.Equal(nsu.UpstreamDate.Truncate(time.Second)) || su.Upstream != nsu.Upstream {
			t.Errorf("suite %s: name %q, upstream date %s, upstream %s", nsu.Name, su.Name, su.UpstreamDate, su.Upstream)
		}
		if !slices.Equal(su.Files, nsu.Files) || !slices.Equal(su.Indices, nsu.Indices) {
			t.Errorf("suite %s: files %+v indices %v, want %+v %v", nsu.Name, su.Files, su.Indices, nsu.Files, nsu.Indices)
		}
		if !bytes.Equal(su.Release, nsu.Release) || !bytes.Equal(su.InRelease, nsu.InRelease) || !bytes.Equal(su.ReleaseGPG, nsu.ReleaseGPG) {
			t.Errorf("suite %s: signed files %q %q %q", nsu.Name, su.Release, su.InRelease, su.ReleaseGPG)
		}
		if su.Signed.IsZero() {
			t.Errorf("suite %s: no signing time", nsu.Name)
		}
	}
	if as, err := c.Archives(ctx); err != nil || !slices.Equal(as, []string{"debian"}) {
		t.Errorf("Archives = %v, %v", as, err)
	}
	if _, err := c.Latest(ctx, "nothing"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("Latest of an unknown archive: %v, want ErrNotFound", err)
	}
	if snaps, err := c.Snapshots(ctx, "nothing"); err != nil || len(snaps) != 0 {
		t.Errorf("Snapshots of an unknown archive: %v, %v", snaps, err)
	}
}

func sameSnapshot(a, b catalog.Snapshot) bool {
	return a.ID == b.ID && a.Archive == b.Archive && a.Serial == b.Serial && a.Created.Equal(b.Created) &&
		a.ValidUntil.Equal(b.ValidUntil) && slices.Equal(a.Suites, b.Suites)
}

// testAllOrNothing: CreateSnapshots makes every snapshot or none.
func testAllOrNothing(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	good := twoSuites("debian", t0, "v1")
	bad := twoSuites("ours", t0, "v1")
	bad.Suites[1].NewIndices = nil // an index the catalog does not know
	if _, err := c.CreateSnapshots(ctx, []catalog.NewSnapshot{good, bad}); err == nil {
		t.Fatal("CreateSnapshots with an unknown index succeeded")
	}
	if tags, err := c.Tags(ctx); err != nil || len(tags) != 0 {
		t.Errorf("after a failed CreateSnapshots: tags %v, %v", tags, err)
	}
	known, err := c.KnownIndices(ctx, "debian", []blob.Digest{good.Suites[0].Indices[0], bad.Suites[0].Indices[0]})
	if err != nil || len(known) != 0 {
		t.Errorf("after a failed CreateSnapshots: known indices %v, %v", known, err)
	}
	snaps, err := c.CreateSnapshots(ctx, []catalog.NewSnapshot{good, twoSuites("ours", t0, "v1")})
	if err != nil || len(snaps) != 2 || snaps[0].Serial != "@v1" || snaps[1].Archive != "ours" {
		t.Fatalf("CreateSnapshots = %+v, %v", snaps, err)
	}
}

// testUnknownIndex: a snapshot referencing an index neither known nor
// given (collected while a pulse ran) is refused, and nothing is recorded.
func testUnknownIndex(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	ns := newSnap("debian", t0, blob.Sum([]byte("gone")), nil)
	if _, err := c.CreateSnapshot(ctx, ns); err == nil {
		t.Fatal("a snapshot of an unknown index was made")
	}
	if snaps, _ := c.Snapshots(ctx, "debian"); len(snaps) != 0 {
		t.Errorf("snapshots after a refused create: %+v", snaps)
	}
	if d, err := c.LastUpstreamDate(ctx, "debian", "bookworm"); err != nil || !d.IsZero() {
		t.Errorf("LastUpstreamDate after a refused create = %s, %v", d, err)
	}
}

// testConcurrentWriters: snapshots made at once by several writers get
// distinct serials, and all of them are recorded.
func testConcurrentWriters(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	const writers, each = 4, 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	serials := map[string]map[string]bool{"debian": {}, "ours": {}}
	errs := make(chan error, 2*writers*each)
	for w := range writers {
		for _, arc := range []string{"debian", "ours"} {
			wg.Go(func() {
				for i := range each {
					idx := blob.Sum(fmt.Appendf(nil, "%s %d %d", arc, w, i))
					s, err := c.CreateSnapshot(ctx, newSnap(arc, t0, idx, entries(3, fmt.Sprintf("+%d.%d", w, i))))
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					if serials[arc][s.Serial] {
						errs <- fmt.Errorf("%s: serial %s given twice", arc, s.Serial)
					}
					serials[arc][s.Serial] = true
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for arc, got := range serials {
		snaps, err := c.Snapshots(ctx, arc)
		if err != nil || len(snaps) != writers*each || len(got) != writers*each {
			t.Errorf("%s: %d snapshots listed, %d serials handed out, want %d (%v)", arc, len(snaps), len(got), writers*each, err)
		}
		for i, s := range snaps {
			if want := fmt.Sprintf("20261122%02d", i+1); s.Serial != want {
				t.Errorf("%s: snapshot %d is %s, want %s", arc, i, s.Serial, want)
			}
		}
	}
}

// testUpstreamDateMark: the mark only moves forward, and tags leave it.
func testUpstreamDateMark(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	idx := blob.Sum([]byte("index"))
	ns := newSnap("debian", t0.Add(2*time.Hour), idx, entries(1, ""))
	if _, err := c.CreateSnapshot(ctx, ns); err != nil {
		t.Fatal(err)
	}
	older := newSnap("debian", t0.Add(3*time.Hour), idx, nil)
	older.Suites[0].UpstreamDate = t0
	if _, err := c.CreateSnapshot(ctx, older); err != nil {
		t.Fatal(err)
	}
	tag := newSnap("debian", t0.Add(4*time.Hour), idx, nil)
	tag.Tag, tag.Suites[0].UpstreamDate = "later", t0.Add(48*time.Hour)
	if _, err := c.CreateSnapshot(ctx, tag); err != nil {
		t.Fatal(err)
	}
	if d, err := c.LastUpstreamDate(ctx, "debian", "bookworm"); err != nil || !d.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("LastUpstreamDate = %s, %v; want %s", d, err, t0.Add(2*time.Hour))
	}
	if d, err := c.LastUpstreamDate(ctx, "debian", "sid"); err != nil || !d.IsZero() {
		t.Errorf("LastUpstreamDate of a suite never pulsed = %s, %v", d, err)
	}
}

// testPoolPerArchive: the same pool path in two archives, with different
// content, resolves per archive.
func testPoolPerArchive(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	const p = "pool/main/h/hello/hello_1.0_amd64.deb"
	for _, arc := range []string{"debian", "ours"} {
		e := catalog.PoolEntry{Path: p, SHA256: blob.Sum([]byte(arc)), Size: int64(len(arc))}
		if _, err := c.CreateSnapshot(ctx, newSnap(arc, t0, blob.Sum([]byte("index of "+arc)), []catalog.PoolEntry{e})); err != nil {
			t.Fatal(err)
		}
	}
	for _, arc := range []string{"debian", "ours"} {
		got, err := c.LookupPool(ctx, arc, p)
		if err != nil || len(got) != 1 || got[0].SHA256 != blob.Sum([]byte(arc)) || got[0].Size != int64(len(arc)) {
			t.Errorf("LookupPool(%s) = %+v, %v", arc, got, err)
		}
		ids, err := c.IndexMembers(ctx, arc, blob.Sum([]byte("index of "+arc)))
		if err != nil || len(got) == 1 && !slices.Equal(ids, []int64{got[0].ID}) {
			t.Errorf("IndexMembers(index of %s) = %v, %v; want the one pool file", arc, ids, err)
		}
		files, err := c.PoolFiles(ctx, ids)
		if err != nil || len(files) != 1 || files[0].SHA256 != blob.Sum([]byte(arc)) {
			t.Errorf("PoolFiles(%v) = %+v, %v", ids, files, err)
		}
	}
	if got, err := c.LookupPool(ctx, "debian", "pool/main/n/nothing.deb"); err != nil || len(got) != 0 {
		t.Errorf("LookupPool of an unknown path = %+v, %v", got, err)
	}
}

// testIdenticalIndexInTwoArchives: two archives whose snapshots hold the
// same index bytes (one upstream mirrored twice, one .deb added to two
// custom archives) each resolve its pool files, and each archive's
// collection leaves the other's alone.
func testIdenticalIndexInTwoArchives(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	idx := blob.Sum([]byte("the same Packages"))
	ents := entries(3, "")
	var snaps []catalog.Snapshot
	for i, arc := range []string{"debian", "debian-arm"} {
		known, err := c.KnownIndices(ctx, arc, []blob.Digest{idx})
		if err != nil || known[idx] {
			t.Fatalf("%s: KnownIndices before its first snapshot = %v, %v", arc, known, err)
		}
		s, err := c.CreateSnapshot(ctx, newSnap(arc, t0.Add(time.Duration(i)*time.Hour), idx, ents))
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, s)
	}
	for _, arc := range []string{"debian", "debian-arm"} {
		ids, err := c.IndexMembers(ctx, arc, idx)
		if err != nil || len(ids) != len(ents) {
			t.Fatalf("%s: IndexMembers = %v, %v", arc, ids, err)
		}
		for _, e := range ents {
			got, err := c.LookupPool(ctx, arc, e.Path)
			if err != nil || len(got) != 1 || !slices.Contains(ids, got[0].ID) {
				t.Errorf("%s: %s resolves to %+v (members %v), %v: a pool file of the index does not resolve", arc, e.Path, got, ids, err)
			}
		}
	}
	// Collecting one archive's snapshot keeps the other's resolving (a
	// newer one of debian, so that the first is not its newest).
	if _, err := c.CreateSnapshot(ctx, newSnap("debian", t0.Add(2*time.Hour), blob.Sum([]byte("another Packages")), entries(1, "+x"))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Collect(ctx, snaps[0].ValidUntil, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Snapshots(ctx, "debian"); len(got) != 1 || got[0].Serial == snaps[0].Serial {
		t.Fatalf("debian's first snapshot was not collected: %+v", got)
	}
	ids, err := c.IndexMembers(ctx, "debian-arm", idx)
	if err != nil || len(ids) != len(ents) {
		t.Fatalf("debian-arm's index after debian's was collected: %v, %v", ids, err)
	}
	for _, e := range ents {
		if got, _ := c.LookupPool(ctx, "debian-arm", e.Path); len(got) != 1 || !slices.Contains(ids, got[0].ID) {
			t.Errorf("debian-arm: %s no longer resolves after debian's collection", e.Path)
		}
	}
	if known, _ := c.KnownIndices(ctx, "debian", []blob.Digest{idx}); known[idx] {
		t.Error("debian still knows an index only its collected snapshot referenced")
	}
}

// testTimestampURLStable: a snapshot is stamped with the second after the
// time the catalog commits it (its Clock's, once it holds the write lock),
// not the time it was made: SnapshotAt for an instant between the two, or
// in the second of the commit, answered by the previous snapshot while the
// new one waited, keeps that answer.
func testTimestampURLStable(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	s1, err := c.CreateSnapshot(ctx, newSnap("debian", t0, blob.Sum([]byte("one")), entries(1, "")))
	if err != nil {
		t.Fatal(err)
	}
	made, committed := t0.Add(time.Hour), t0.Add(time.Hour+30*time.Second)
	ns := newSnap("debian", made, blob.Sum([]byte("two")), entries(1, "+2"))
	clocked := false
	ns.Clock = func() time.Time { clocked = true; return committed }
	s2, err := c.CreateSnapshot(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	if !clocked || !s2.Created.Equal(committed.Add(time.Second)) {
		t.Errorf("created %s (clock read: %v), want the second after the commit %s", s2.Created, clocked, committed)
	}
	if got, err := c.SnapshotAt(ctx, "debian", made.Add(10*time.Second)); err != nil || got.Serial != s1.Serial {
		t.Errorf("SnapshotAt an instant before the commit = %s, %v; want %s", got.Serial, err, s1.Serial)
	}
	if got, _ := c.SnapshotAt(ctx, "debian", committed); got.Serial != s1.Serial {
		t.Errorf("SnapshotAt the second of the commit = %s, want %s", got.Serial, s1.Serial)
	}
	if got, _ := c.SnapshotAt(ctx, "debian", committed.Add(time.Second)); got.Serial != s2.Serial {
		t.Errorf("SnapshotAt the second after the commit = %s, want %s", got.Serial, s2.Serial)
	}
	// A clock behind what the snapshot says changes nothing.
	ns = newSnap("debian", t0.Add(2*time.Hour), blob.Sum([]byte("three")), entries(1, "+3"))
	ns.Clock = func() time.Time { return t0 }
	if s3, _ := c.CreateSnapshot(ctx, ns); !s3.Created.Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("created %s with a late clock, want %s", s3.Created, t0.Add(2*time.Hour))
	}
}

// testWorkingState: a custom archive's working state is a tagged
// snapshot replaced at each change, neither listed nor the newest, and
// kept by collections.
func testWorkingState(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	s, err := c.CreateSnapshot(ctx, twoSuites("ours", t0, ""))
	if err != nil {
		t.Fatal(err)
	}
	var last catalog.Snapshot
	for i := range 3 {
		ns := twoSuites("ours", t0.Add(time.Duration(i+1)*time.Hour), catalog.WorkingTag)
		ns.Replace = true
		if last, err = c.CreateSnapshot(ctx, ns); err != nil {
			t.Fatalf("working state %d: %v", i, err)
		}
	}
	got, err := c.Snapshot(ctx, "ours", catalog.TagSerial(catalog.WorkingTag))
	if err != nil || got.ID != last.ID {
		t.Errorf("working state = %+v, %v; want the last one, %d", got, err, last.ID)
	}
	if tags, err := c.Tags(ctx); err != nil || len(tags) != 0 {
		t.Errorf("Tags lists the working state: %+v, %v", tags, err)
	}
	if _, err := c.DeleteTag(ctx, catalog.WorkingTag); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("DeleteTag of the working state: %v, want ErrNotFound", err)
	}
	if l, err := c.Latest(ctx, "ours"); err != nil || l.ID != s.ID {
		t.Errorf("Latest = %+v, %v; want the published %s", l, err, s.Serial)
	}
	if _, err := c.Collect(ctx, t0.Add(1000*time.Hour), false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Suite(ctx, last.ID, "bookworm"); err != nil {
		t.Errorf("a collection took the working state: %v", err)
	}
	ns := twoSuites("ours", t0.Add(9*time.Hour), catalog.WorkingTag)
	if _, err := c.CreateSnapshot(ctx, ns); !errors.Is(err, catalog.ErrExists) {
		t.Errorf("a tag without Replace over an existing one: %v", err)
	}
}

// testExpire: a withdrawn snapshot is gone at once, the newest moves
// back; a tag or an archive's only snapshot is not withdrawn.
func testExpire(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	first, err := c.CreateSnapshot(ctx, twoSuites("debian", t0, ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expire(ctx, "debian", first.Serial); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("expiring the only snapshot: %v, want ErrInvalid", err)
	}
	second, err := c.CreateSnapshot(ctx, twoSuites("debian", t0.Add(time.Hour), ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateSnapshot(ctx, twoSuites("debian", t0, "v1")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Expire(ctx, "debian", second.Serial); err != nil || got.ID != second.ID {
		t.Fatalf("Expire = %+v, %v", got, err)
	}
	if _, err := c.Snapshot(ctx, "debian", second.Serial); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("a withdrawn snapshot is still there: %v", err)
	}
	if l, err := c.Latest(ctx, "debian"); err != nil || l.ID != first.ID {
		t.Errorf("Latest after expire = %+v, %v; want %s", l, err, first.Serial)
	}
	// A withdrawn serial is never given again.
	third, err := c.CreateSnapshot(ctx, twoSuites("debian", t0.Add(2*time.Hour), ""))
	if err != nil {
		t.Fatal(err)
	}
	if third.Serial <= second.Serial {
		t.Errorf("the snapshot after a withdrawn %s got serial %s", second.Serial, third.Serial)
	}
	if _, err := c.Expire(ctx, "debian", catalog.TagSerial("v1")); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("expiring a tag: %v, want ErrInvalid", err)
	}
	if _, err := c.Expire(ctx, "debian", "2001010101"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("expiring a snapshot never made: %v", err)
	}
}

func testTags(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	s, err := c.CreateSnapshot(ctx, twoSuites("debian", t0, ""))
	if err != nil {
		t.Fatal(err)
	}
	tags, err := c.CreateSnapshots(ctx, []catalog.NewSnapshot{twoSuites("debian", t0.Add(time.Hour), "v1.0"), twoSuites("ours", t0.Add(time.Hour), "v1.0")})
	if err != nil {
		t.Fatal(err)
	}
	if tags[0].Serial != catalog.TagSerial("v1.0") || !tags[0].ValidUntil.IsZero() {
		t.Errorf("tagged snapshot %+v: want serial %s and no Valid-Until", tags[0], catalog.TagSerial("v1.0"))
	}
	if snaps, _ := c.Snapshots(ctx, "debian"); len(snaps) != 1 || snaps[0].Serial != s.Serial {
		t.Errorf("Snapshots lists tags: %+v", snaps)
	}
	if l, err := c.Latest(ctx, "debian"); err != nil || l.Serial != s.Serial {
		t.Errorf("Latest = %+v, %v; want %s", l, err, s.Serial)
	}
	if at, err := c.SnapshotAt(ctx, "debian", t0.Add(48*time.Hour)); err != nil || at.Serial != s.Serial {
		t.Errorf("SnapshotAt = %+v, %v; want %s", at, err, s.Serial)
	}
	if got, err := c.Snapshot(ctx, "ours", "@v1.0"); err != nil || got.ID != tags[1].ID {
		t.Errorf("Snapshot(ours, @v1.0) = %+v, %v", got, err)
	}
	list, err := c.Tags(ctx)
	if err != nil || len(list) != 2 || list[0].Archive != "debian" || list[1].Archive != "ours" {
		t.Errorf("Tags = %+v, %v", list, err)
	}
	if _, err := c.CreateSnapshot(ctx, twoSuites("ours", t0.Add(2*time.Hour), "v1.0")); !errors.Is(err, catalog.ErrExists) {
		t.Errorf("a second v1.0 of ours: %v, want ErrExists", err)
	}
	if n, err := c.DeleteTag(ctx, "v1.0"); err != nil || n != 2 {
		t.Errorf("DeleteTag = %d, %v; want 2", n, err)
	}
	if _, err := c.DeleteTag(ctx, "v1.0"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("DeleteTag of a deleted tag: %v, want ErrNotFound", err)
	}
	if list, _ := c.Tags(ctx); len(list) != 0 {
		t.Errorf("Tags after delete = %+v", list)
	}
}

func testUpdateReleases(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	s, err := c.CreateSnapshot(ctx, twoSuites("debian", t0, ""))
	if err != nil {
		t.Fatal(err)
	}
	until := t0.Add(30 * 24 * time.Hour)
	// A signer failing on the second suite changes nothing.
	calls := 0
	_, err = c.UpdateReleases(ctx, "debian", s.Serial, until, func(suite string, rel []byte) (catalog.SignedRelease, error) {
		if calls++; calls == 2 {
			return catalog.SignedRelease{}, errors.New("signing key gone")
		}
		return catalog.SignedRelease{Release: []byte("changed"), InRelease: []byte("changed"), ReleaseGPG: []byte("changed")}, nil
	})
	if err == nil || !strings.Contains(err.Error(), "signing key gone") {
		t.Fatalf("UpdateReleases with a failing signer: %v", err)
	}
	if got, _ := c.Snapshot(ctx, "debian", s.Serial); !got.ValidUntil.Equal(s.ValidUntil) {
		t.Errorf("a failed update moved Valid-Until to %s", got.ValidUntil)
	}
	for _, name := range s.Suites {
		if su, _ := c.Suite(ctx, s.ID, name); string(su.Release) != "Suite: "+name+"\n" {
			t.Errorf("a failed update changed %s's Release to %q", name, su.Release)
		}
	}
	seen := map[string]string{}
	got, err := c.UpdateReleases(ctx, "debian", s.Serial, until, func(suite string, rel []byte) (catalog.SignedRelease, error) {
		seen[suite] = string(rel)
		return catalog.SignedRelease{Release: append(slices.Clone(rel), "Valid-Until: later\n"...),
			InRelease: []byte("in " + suite), ReleaseGPG: []byte("gpg " + suite)}, nil
	})
	if err != nil || !got.ValidUntil.Equal(until) || got.Serial != s.Serial {
		t.Fatalf("UpdateReleases = %+v, %v", got, err)
	}
	for _, name := range s.Suites {
		if seen[name] != "Suite: "+name+"\n" {
			t.Errorf("sign saw %q for %s, want its current Release", seen[name], name)
		}
		su, _ := c.Suite(ctx, s.ID, name)
		if string(su.Release) != "Suite: "+name+"\nValid-Until: later\n" || string(su.InRelease) != "in "+name || string(su.ReleaseGPG) != "gpg "+name {
			t.Errorf("%s after update: %q %q %q", name, su.Release, su.InRelease, su.ReleaseGPG)
		}
	}
	if got, _ := c.Snapshot(ctx, "debian", s.Serial); !got.ValidUntil.Equal(until) {
		t.Errorf("Valid-Until after update = %s, want %s", got.ValidUntil, until)
	}
	_, err = c.UpdateReleases(ctx, "debian", "2099010101", until, func(string, []byte) (catalog.SignedRelease, error) {
		return catalog.SignedRelease{}, nil
	})
	if !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("UpdateReleases of an unknown serial: %v, want ErrNotFound", err)
	}
}

// testCollect checks the collection set: expired snapshots go, with every
// record only they referenced; Live is every stored file what remains
// references; tags stay; a dry run changes nothing.
func testCollect(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	idx1, idx2, idx3 := blob.Sum([]byte("index1")), blob.Sum([]byte("index2")), blob.Sum([]byte("index3"))
	gen0 := entries(5, "")
	gen1 := append(slices.Clone(gen0[:4]), entries(1, "+g1")...)
	s1, err := c.CreateSnapshot(ctx, newSnap("debian", t0, idx1, gen0))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := c.CreateSnapshot(ctx, newSnap("debian", t0.Add(24*time.Hour), idx2, gen1))
	if err != nil {
		t.Fatal(err)
	}
	tag := newSnap("other", t0, idx3, entries(2, "+tag"))
	tag.Tag = "keep"
	if _, err := c.CreateSnapshot(ctx, tag); err != nil {
		t.Fatal(err)
	}
	now := s1.ValidUntil // at or before now: expired
	wantLive := map[blob.Digest]bool{idx2: true, idx3: true, blob.Sum([]byte("upstream " + idx2.String())): true,
		blob.Sum([]byte("upstream " + idx3.String())): true}
	for _, e := range gen1 {
		wantLive[e.SHA256] = true
	}
	for _, e := range entries(2, "+tag") {
		wantLive[e.SHA256] = true
	}
	check := func(col catalog.Collection, what string) {
		t.Helper()
		if len(col.Snapshots) != 1 || col.Snapshots[0].Serial != s1.Serial || col.Snapshots[0].Archive != "debian" {
			t.Errorf("%s: collected %+v, want %s", what, col.Snapshots, s1.Serial)
		}
		for d := range wantLive {
			if !col.Live.Has(d) {
				t.Errorf("%s: %s is referenced but not live", what, d)
			}
		}
		if col.Live.Len() != len(wantLive) {
			t.Errorf("%s: %d files live, %d referenced by what remains", what, col.Live.Len(), len(wantLive))
		}
	}
	dry, err := c.Collect(ctx, now, true)
	if err != nil {
		t.Fatal(err)
	}
	check(dry, "dry run")
	if snaps, _ := c.Snapshots(ctx, "debian"); len(snaps) != 2 {
		t.Errorf("a dry run deleted snapshots: %+v", snaps)
	}
	if k, _ := c.KnownIndices(ctx, "debian", []blob.Digest{idx1}); !k[idx1] {
		t.Error("a dry run deleted an index")
	}
	col, err := c.Collect(ctx, now, false)
	if err != nil {
		t.Fatal(err)
	}
	check(col, "collection")
	if snaps, _ := c.Snapshots(ctx, "debian"); len(snaps) != 1 || snaps[0].Serial != s2.Serial {
		t.Errorf("after collection: %+v, want only %s", snaps, s2.Serial)
	}
	if k, _ := c.KnownIndices(ctx, "debian", []blob.Digest{idx1, idx2}); k[idx1] || !k[idx2] {
		t.Errorf("known indices after collection: %v, want only index2", k)
	}
	if _, err := c.IndexMembers(ctx, "debian", idx1); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("members of a collected index: %v, want ErrNotFound", err)
	}
	if got, _ := c.LookupPool(ctx, "debian", gen0[4].Path); len(got) != 0 {
		t.Errorf("a pool file only the collected snapshot listed is still known: %+v", got)
	}
	if got, _ := c.LookupPool(ctx, "debian", gen0[0].Path); len(got) != 1 {
		t.Errorf("a pool file the live snapshot lists: %+v", got)
	}
	if _, err := c.Snapshot(ctx, "other", "@keep"); err != nil {
		t.Errorf("the tag was collected: %v", err)
	}
	again, err := c.Collect(ctx, now, false)
	if err != nil || len(again.Snapshots) != 0 {
		t.Errorf("second collection = %+v, %v", again.Snapshots, err)
	}
}

// testArchiveEmptiedByGC: every archive keeps its newest time-based
// snapshot through collection, expired or not (stale), with what it
// references; a tag does not count as the newest.
func testArchiveEmptiedByGC(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	newest := map[string]catalog.Snapshot{}
	for i, arc := range []string{"ours", "ours", "debian", "debian"} {
		s, err := c.CreateSnapshot(ctx, newSnap(arc, t0.Add(time.Duration(i)*time.Hour), blob.Sum(fmt.Appendf(nil, "index %d", i)), entries(1, fmt.Sprint(i))))
		if err != nil {
			t.Fatal(err)
		}
		newest[arc] = s
	}
	tag := newSnap("debian", t0.Add(10*time.Hour), blob.Sum([]byte("tag index")), entries(1, "tag"))
	tag.Tag = "later"
	if _, err := c.CreateSnapshot(ctx, tag); err != nil {
		t.Fatal(err)
	}
	col, err := c.Collect(ctx, t0.Add(1000*time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(col.Snapshots) != 2 {
		t.Errorf("collected %+v, want the older of each archive", col.Snapshots)
	}
	for arc, s := range newest {
		snaps, _ := c.Snapshots(ctx, arc)
		if len(snaps) != 1 || snaps[0].Serial != s.Serial {
			t.Errorf("%s after collection: %+v, want its newest %s kept", arc, snaps, s.Serial)
		}
		if l, err := c.Latest(ctx, arc); err != nil || l.Serial != s.Serial {
			t.Errorf("Latest(%s) = %+v, %v", arc, l, err)
		}
		su, _ := c.Suite(ctx, s.ID, "bookworm")
		if !col.Live.Has(su.Indices[0]) {
			t.Errorf("%s: the index of the kept snapshot is not live", arc)
		}
	}
}

func testUntrack(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	for i := range 2 {
		if _, err := c.CreateSnapshot(ctx, twoSuites("debian", t0.Add(time.Duration(i)*time.Hour), "")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateSnapshot(ctx, twoSuites("debian", t0, "rel")); err != nil {
		t.Fatal(err)
	}
	n, err := c.Untrack(ctx, "debian", "bookworm-updates")
	if err != nil || n != 2 {
		t.Fatalf("Untrack = %d, %v; want 2 snapshots", n, err)
	}
	snaps, _ := c.Snapshots(ctx, "debian")
	for _, s := range snaps {
		if !slices.Equal(s.Suites, []string{"bookworm"}) {
			t.Errorf("%s after untrack: suites %v", s.Serial, s.Suites)
		}
		if _, err := c.Suite(ctx, s.ID, "bookworm-updates"); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("%s: untracked suite still served: %v", s.Serial, err)
		}
	}
	if tag, _ := c.Snapshot(ctx, "debian", "@rel"); len(tag.Suites) != 2 {
		t.Errorf("untrack changed a tagged snapshot: %v", tag.Suites)
	}
	if u, err := c.Untracked(ctx, "debian"); err != nil || !slices.Equal(u, []string{"bookworm-updates"}) {
		t.Errorf("Untracked = %v, %v", u, err)
	}
	if d, _ := c.LastUpstreamDate(ctx, "debian", "bookworm-updates"); !d.IsZero() {
		t.Errorf("an untracked suite keeps its upstream date mark %s (tracking it again would refuse older upstreams)", d)
	}
	if err := c.Track(ctx, "debian", "bookworm-updates"); err != nil {
		t.Fatal(err)
	}
	if u, _ := c.Untracked(ctx, "debian"); len(u) != 0 {
		t.Errorf("Untracked after Track = %v", u)
	}

	// Several suites at once: each snapshot counted once.
	c = open(t)
	for i := range 2 {
		if _, err := c.CreateSnapshot(ctx, twoSuites("debian", t0.Add(time.Duration(i)*time.Hour), "")); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.Untrack(ctx, "debian", "bookworm", "bookworm-updates"); err != nil || n != 2 {
		t.Fatalf("Untrack of two suites = %d, %v; want 2 snapshots", n, err)
	}
	if u, err := c.Untracked(ctx, "debian"); err != nil || !slices.Equal(u, []string{"bookworm", "bookworm-updates"}) {
		t.Errorf("Untracked = %v, %v", u, err)
	}
	snaps, _ = c.Snapshots(ctx, "debian")
	for _, s := range snaps {
		if len(s.Suites) != 0 {
			t.Errorf("%s after untracking both suites: %v", s.Serial, s.Suites)
		}
	}
}

func testPulses(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	for i := range 3 {
		p := catalog.Pulse{Archive: "debian", Started: t0.Add(time.Duration(i) * time.Hour), OK: i != 1}
		p.Finished = p.Started.Add(1500 * time.Millisecond)
		if p.OK {
			p.Serial = fmt.Sprintf("20261122%02d", i+1)
		} else {
			p.Error = "pulse debian: bookworm: bad signature"
		}
		if err := c.RecordPulse(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.Pulses(ctx, "debian", 2)
	if err != nil || len(got) != 2 {
		t.Fatalf("Pulses = %+v, %v", got, err)
	}
	want := catalog.Pulse{Archive: "debian", Started: t0.Add(2 * time.Hour), Finished: t0.Add(2*time.Hour + 1500*time.Millisecond), OK: true, Serial: "2026112203"}
	if got[0] != want || got[1].OK || got[1].Error != "pulse debian: bookworm: bad signature" {
		t.Errorf("Pulses = %+v, want newest first %+v", got, want)
	}
	if as, _ := c.Archives(ctx); !slices.Contains(as, "debian") {
		t.Errorf("Archives = %v: an archive with pulses only is missing", as)
	}
	if got, err := c.Pulses(ctx, "never", 5); err != nil || len(got) != 0 {
		t.Errorf("Pulses of an unknown archive = %+v, %v", got, err)
	}
}

// testPulseWithSnapshot: a pulse given with its snapshot is in the log as
// soon as the snapshot is, and only if it is.
func testPulseWithSnapshot(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	ns := newSnap("debian", t0, blob.Sum([]byte("index")), entries(1, ""))
	ns.Pulse = &catalog.Pulse{Archive: "debian", Started: t0.Add(-time.Minute)}
	s, err := c.CreateSnapshot(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Pulses(ctx, "debian", 5)
	if err != nil || len(got) != 1 || !got[0].OK || got[0].Serial != s.Serial || !got[0].Started.Equal(t0.Add(-time.Minute)) ||
		!got[0].Finished.Equal(s.Created) {
		t.Fatalf("pulse log after a snapshot with its pulse: %+v, %v", got, err)
	}
	bad := newSnap("debian", t0.Add(time.Hour), blob.Sum([]byte("unknown")), nil)
	bad.Pulse = &catalog.Pulse{Archive: "debian", Started: t0}
	if _, err := c.CreateSnapshot(ctx, bad); err == nil {
		t.Fatal("a snapshot of an unknown index was made")
	}
	if got, _ := c.Pulses(ctx, "debian", 5); len(got) != 1 {
		t.Errorf("a refused snapshot's pulse was recorded as a success: %+v", got)
	}
}

func testTokens(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	h1, h2 := blob.Sum([]byte("secret1")), blob.Sum([]byte("secret2"))
	if _, err := c.CreateToken(ctx, "x", catalog.Role("root"), h1); err == nil {
		t.Error("a token with an unknown role was created")
	}
	tok, err := c.CreateToken(ctx, "zed", catalog.RoleAdmin, h1)
	if err != nil || tok.Name != "zed" || tok.Role != catalog.RoleAdmin {
		t.Fatalf("CreateToken = %+v, %v", tok, err)
	}
	if _, err := c.CreateToken(ctx, "zed", catalog.RoleReleaseManager, h2); err == nil {
		t.Error("a second token named zed was created")
	}
	if _, err := c.CreateToken(ctx, "amy", catalog.RoleReleaseManager, h2); err != nil {
		t.Fatal(err)
	}
	got, err := c.TokenByHash(ctx, h1)
	if err != nil || got.Name != "zed" || got.Role != catalog.RoleAdmin || got.ID != tok.ID {
		t.Errorf("TokenByHash = %+v, %v", got, err)
	}
	if _, err := c.TokenByHash(ctx, blob.Sum([]byte("guess"))); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("TokenByHash of an unknown secret: %v, want ErrNotFound", err)
	}
	list, err := c.ListTokens(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "amy" || list[1].Name != "zed" {
		t.Errorf("ListTokens = %+v, %v; want amy, zed", list, err)
	}
	if err := c.RevokeToken(ctx, "zed"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TokenByHash(ctx, h1); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("a revoked token still authenticates: %v", err)
	}
	if err := c.RevokeToken(ctx, "zed"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("revoking a revoked token: %v, want ErrNotFound", err)
	}
}

// testUsage: each time-based snapshot's distinct stored files (index
// files and pool files, each content once), what it added to those of the
// snapshots before it, and its last bump; tags left out.
func testUsage(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	if u, err := c.Usage(ctx, "nothing"); err != nil || len(u) != 0 {
		t.Fatalf("Usage of an unknown archive = %+v, %v", u, err)
	}
	idx1, idx2 := blob.Sum([]byte("usage index1")), blob.Sum([]byte("usage index2"))
	gen0 := entries(3, "")                                       // sizes 100, 101, 102
	gen1 := append(slices.Clone(gen0[1:]), entries(1, "+g1")...) // pkg0 gone, pkg0 1.0+g1 (size 100) new
	s1, err := c.CreateSnapshot(ctx, newSnap("debian", t0, idx1, gen0))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := c.CreateSnapshot(ctx, newSnap("debian", t0.Add(6*time.Hour), idx2, gen1))
	if err != nil {
		t.Fatal(err)
	}
	s3, err := c.CreateSnapshot(ctx, newSnap("debian", t0.Add(12*time.Hour), idx2, nil))
	if err != nil {
		t.Fatal(err)
	}
	// Back to the first index: nothing new.
	s4, err := c.CreateSnapshot(ctx, newSnap("debian", t0.Add(18*time.Hour), idx1, nil))
	if err != nil {
		t.Fatal(err)
	}
	tag := newSnap("debian", t0.Add(20*time.Hour), blob.Sum([]byte("usage tag index")), entries(1, "+tag"))
	tag.Tag = "usage"
	if _, err := c.CreateSnapshot(ctx, tag); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	if _, err := c.UpdateReleases(ctx, "debian", s2.Serial, t0.Add(1000*time.Hour), func(string, []byte) (catalog.SignedRelease, error) {
		return catalog.SignedRelease{Release: []byte("r"), InRelease: []byte("i"), ReleaseGPG: []byte("g")}, nil
	}); err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Second)
	got, err := c.Usage(ctx, "debian")
	if err != nil {
		t.Fatal(err)
	}
	// Each snapshot: its Packages (42 bytes) and three pool files.
	want := []catalog.Usage{
		{Serial: s1.Serial, Files: 4, Bytes: 42 + 100 + 101 + 102, NewFiles: 4, NewBytes: 42 + 100 + 101 + 102},
		{Serial: s2.Serial, Files: 4, Bytes: 42 + 101 + 102 + 100, NewFiles: 2, NewBytes: 42 + 100},
		{Serial: s3.Serial, Files: 4, Bytes: 42 + 101 + 102 + 100},
		{Serial: s4.Serial, Files: 4, Bytes: 42 + 100 + 101 + 102},
	}
	if len(got) != len(want) {
		t.Fatalf("Usage = %+v, want %d snapshots", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if b := g.Bumped; i == 1 && (b.Before(before) || b.After(after)) || i != 1 && !b.IsZero() {
			t.Errorf("%s: bumped %s (bumped between %s and %s: %v)", g.Serial, b, before, after, i == 1)
		}
		g.Bumped = time.Time{}
		if g != w {
			t.Errorf("Usage[%d] = %+v, want %+v", i, g, w)
		}
	}
	// Once the first is collected, the second is the oldest: all of it is
	// new, and what the last shares with the first only is new again.
	if _, err := c.Collect(ctx, t0.Add(241*time.Hour), false); err != nil {
		t.Fatal(err)
	}
	got, err = c.Usage(ctx, "debian")
	if err != nil || len(got) != 3 || got[0].Serial != s2.Serial || got[0].NewFiles != 4 || got[0].NewBytes != got[0].Bytes ||
		got[2].Serial != s4.Serial || got[2].NewFiles != 2 || got[2].NewBytes != 42+100 {
		t.Errorf("Usage after collecting %s = %+v, %v; want %s first, all of it new, and %s adding its Packages and pkg0",
			s1.Serial, got, err, s2.Serial, s4.Serial)
	}
}

// testRequests: requests are stored, found by series and state, and of two
// changes made from one revision exactly one wins, even at once.
func testRequests(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	a, err := c.CreateRequest(ctx, catalog.Request{Series: "ours/stable", State: "draft", Doc: []byte(`{"v":1}`)})
	if err != nil || a.ID == 0 || a.Revision != 1 {
		t.Fatalf("CreateRequest = %+v, %v", a, err)
	}
	b, err := c.CreateRequest(ctx, catalog.Request{Series: "ours/oldstable", State: "draft", Doc: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Request(ctx, a.ID); err != nil || string(got.Doc) != `{"v":1}` || got.Series != "ours/stable" {
		t.Errorf("Request = %+v, %v", got, err)
	}
	if _, err := c.Request(ctx, 999); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("Request(999): %v, want ErrNotFound", err)
	}
	a.State, a.Doc = "submitted", []byte(`{"v":2}`)
	a2, err := c.SaveRequest(ctx, a)
	if err != nil || a2.Revision != 2 {
		t.Fatalf("SaveRequest = %+v, %v", a2, err)
	}
	// a is stale now: its save loses.
	a.Doc = []byte(`{"v":"lost"}`)
	if _, err := c.SaveRequest(ctx, a); !errors.Is(err, errdefs.ErrExists) {
		t.Errorf("a stale save: %v, want ErrExists", err)
	}
	if got, _ := c.Request(ctx, a.ID); string(got.Doc) != `{"v":2}` || got.State != "submitted" || got.Revision != 2 {
		t.Errorf("after a stale save: %+v", got)
	}
	for _, tt := range []struct {
		series, state string
		want          []int64
	}{
		{"", "", []int64{a.ID, b.ID}}, {"ours/stable", "", []int64{a.ID}}, {"", "draft", []int64{b.ID}}, {"ours/stable", "draft", nil},
	} {
		list, err := c.Requests(ctx, tt.series, tt.state)
		var ids []int64
		for _, r := range list {
			ids = append(ids, r.ID)
		}
		if err != nil || !slices.Equal(ids, tt.want) {
			t.Errorf("Requests(%q, %q) = %v, %v; want %v", tt.series, tt.state, ids, err, tt.want)
		}
	}
	// The files a request holds are live until it drops them.
	held := blob.Digest{7}
	a2.Files = []blob.Digest{held}
	if a2, err = c.SaveRequest(ctx, a2); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Request(ctx, a.ID); len(got.Files) != 1 || got.Files[0] != held {
		t.Errorf("Files = %v, want [%v]", got.Files, held)
	}
	if col, err := c.Collect(ctx, time.Now(), true); err != nil || !col.Live.Has(held) {
		t.Errorf("a file a request holds: live %v, %v; want live", col.Live.Has(held), err)
	}
	a2.Files = nil
	if _, err = c.SaveRequest(ctx, a2); err != nil {
		t.Fatal(err)
	}
	if col, err := c.Collect(ctx, time.Now(), true); err != nil || col.Live.Has(held) {
		t.Errorf("a file no request holds any more: live %v, %v; want not live", col.Live.Has(held), err)
	}
	// At once, from one revision: exactly one wins.
	base, _ := c.Request(ctx, b.ID)
	var wg sync.WaitGroup
	var wins atomic.Int32
	for i := range 8 {
		wg.Go(func() {
			r := base
			r.Doc = []byte(fmt.Sprintf(`{"by":%d}`, i))
			if _, err := c.SaveRequest(ctx, r); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, errdefs.ErrExists) {
				t.Errorf("a concurrent save: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent saves from one revision won, want 1", wins.Load())
	}
}

// testCopies: what a migration from another installation needs: a
// snapshot keeps its serial and creation time (gaps stay gaps, later
// serials follow on), a request keeps its ID, a token shows its hash.
func testCopies(t *testing.T, open Opener) {
	ctx := context.Background()
	c := open(t)
	day := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	idx := blob.Sum([]byte("copied index"))
	ns := newSnap("debian", day, idx, entries(3, "c"))
	ns.Serial = "2026030405"
	s, err := c.CreateSnapshot(ctx, ns)
	if err != nil || s.Serial != "2026030405" || !s.Created.Equal(day) {
		t.Fatalf("a copy: %+v, %v; want serial 2026030405 created %v", s, err, day)
	}
	if _, err := c.CreateSnapshot(ctx, ns); !errors.Is(err, errdefs.ErrExists) {
		t.Errorf("a copy onto a serial in use: %v, want ErrExists", err)
	}
	ns.Serial = "20260304"
	if _, err := c.CreateSnapshot(ctx, ns); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("a copy with a bad serial: %v, want ErrInvalid", err)
	}
	next := newSnap("debian", day.Add(time.Hour), idx, nil)
	if s, err := c.CreateSnapshot(ctx, next); err != nil || s.Serial != "2026030406" {
		t.Errorf("the next snapshot after a copy: %+v, %v; want 2026030406", s, err)
	}
	r, err := c.CreateRequest(ctx, catalog.Request{ID: 42, Series: "ours/stable", State: "draft", Doc: []byte(`{}`)})
	if err != nil || r.ID != 42 {
		t.Fatalf("a request copied with its ID: %+v, %v", r, err)
	}
	if _, err := c.CreateRequest(ctx, catalog.Request{ID: 42, Series: "ours/stable", State: "draft", Doc: []byte(`{}`)}); !errors.Is(err, errdefs.ErrExists) {
		t.Errorf("a request onto an ID in use: %v, want ErrExists", err)
	}
	if r, err := c.CreateRequest(ctx, catalog.Request{Series: "ours/stable", State: "draft", Doc: []byte(`{}`)}); err != nil || r.ID <= 42 {
		t.Errorf("a new request after a copy: %+v, %v; want an ID past 42", r, err)
	}
	h := blob.Sum([]byte("secret"))
	if _, err := c.CreateToken(ctx, "ci", catalog.RoleAdmin, h); err != nil {
		t.Fatal(err)
	}
	if list, err := c.ListTokens(ctx); err != nil || len(list) != 1 || list[0].SecretHash != h {
		t.Errorf("ListTokens = %+v, %v; want the secret's hash", list, err)
	}
}

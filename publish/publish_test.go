package publish_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ulikunitz/xz"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/internal/testenv"
	"github.com/aptsnap/aptsnap/publish"
	"github.com/aptsnap/aptsnap/release"
)

const upstreamRelease = `Origin: Debian
Label: Debian
Suite: stable
Codename: bookworm
Date: Sat, 22 Nov 2026 08:14:46 UTC
Valid-Until: Sat, 29 Nov 2026 08:14:46 UTC
Acquire-By-Hash: yes
Architectures: all amd64 arm64 i386
Components: main contrib non-free-firmware
Signed-By: 4D64FEC119C2029067D6E791F8D2585B8783D481
Description: Debian 12
SHA256:
 0000000000000000000000000000000000000000000000000000000000000000 1 main/binary-amd64/Packages
`

const packages = `Package: hello
Version: 2.10-3
Architecture: amd64
Filename: pool/main/h/hello/hello_2.10-3_amd64.deb
Size: 5
SHA256: 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824

`

// published publishes one mirrored-style suite and returns the Release
// text and the snapshot.
func published(t *testing.T, e *testenv.Env, s publish.Snapshot) catalog.Snapshot {
	t.Helper()
	snaps, err := e.Publisher.Publish(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return snaps[0]
}

func mirroredSuite(t *testing.T, e *testenv.Env) publish.Suite {
	t.Helper()
	ctx := context.Background()
	fields, err := release.Parse([]byte(upstreamRelease))
	if err != nil {
		t.Fatal(err)
	}
	files, idx, err := e.Publisher.WriteIndex(ctx, "main/binary-amd64/Packages", []byte(packages))
	if err != nil {
		t.Fatal(err)
	}
	up, err := e.Store.Put(ctx, strings.NewReader(upstreamRelease), blob.Digest{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	// Out of order on purpose: the Release lists them sorted.
	files[0], files[2] = files[2], files[0]
	return publish.Suite{Name: "bookworm", Fields: fields, Components: []string{"main"}, Architectures: []string{"amd64"},
		UpstreamDate: time.Date(2026, 11, 22, 8, 14, 46, 0, time.UTC), Upstream: up.Digest, Files: files, Indices: []publish.Index{idx}}
}

func TestPublishMirrored(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	created := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	e.Clock.Set(created)
	su := mirroredSuite(t, e)
	snap := published(t, e, publish.Snapshot{Archive: "debian", ValidDays: 10, URL: "http://snap.example/", Suites: []publish.Suite{su}})
	// Valid 10 days from when it was made: its creation is stamped at the
	// commit, a moment later.
	if d := publish.ValidUntil(snap.Created, 10).Sub(snap.ValidUntil); snap.Serial != "2026112301" || d < 0 || d > 2*time.Second {
		t.Errorf("snapshot %+v: want serial 2026112301, valid 10 days from its creation", snap)
	}
	if d := snap.Created.Sub(created); d < 0 || d > time.Minute {
		t.Errorf("created %s, want the publisher's clock (%s)", snap.Created, created)
	}
	got, err := e.Catalog.Suite(ctx, snap.ID, "bookworm")
	if err != nil {
		t.Fatal(err)
	}
	text := string(got.Release)
	vu := release.FormatTime(snap.ValidUntil)
	want := "Origin: Debian\nLabel: Debian\nSuite: stable\nCodename: bookworm\nDate: Sat, 22 Nov 2026 08:14:46 UTC\n" +
		"Valid-Until: " + vu + "\nAcquire-By-Hash: yes\nArchitectures: amd64\nComponents: main\nDescription: Debian 12\n" +
		"Snapshots: http://snap.example/debian/@SNAPSHOTID@/\nSHA256:\n"
	if !strings.HasPrefix(text, want) {
		t.Errorf("Release:\n%s\nwant it to start with\n%s", text, want)
	}
	for _, dropped := range []string{"Signed-By", "Sat, 29 Nov 2026", "0000000000"} {
		if strings.Contains(text, dropped) {
			t.Errorf("Release carries upstream's %q:\n%s", dropped, text)
		}
	}
	lines := strings.Split(strings.TrimSpace(text[strings.Index(text, "SHA256:\n")+8:]), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], " main/binary-amd64/Packages") ||
		!strings.HasSuffix(lines[1], " main/binary-amd64/Packages.gz") || !strings.HasSuffix(lines[2], " main/binary-amd64/Packages.xz") {
		t.Errorf("SHA256 list, want the three variants sorted:\n%s", strings.Join(lines, "\n"))
	}
	kr := e.Signer.Keyring()
	pt, _, err := kr.VerifyClearsigned(got.InRelease)
	if err != nil || strings.TrimRight(string(pt), "\n") != strings.TrimRight(text, "\n") {
		t.Errorf("InRelease: %v; its text differs from Release: %v", err, string(pt) != text)
	}
	if _, err := kr.VerifyDetached(got.Release, got.ReleaseGPG); err != nil {
		t.Errorf("Release.gpg: %v", err)
	}
	if got.Upstream != su.Upstream || !got.UpstreamDate.Equal(su.UpstreamDate) || len(got.Files) != 3 || got.Files[0].Path != "main/binary-amd64/Packages" {
		t.Errorf("suite record: %+v", got)
	}
	// The index's pool file is recorded: a later publish of the same
	// index need not list it again.
	known, err := e.Catalog.KnownIndices(ctx, "debian", []blob.Digest{su.Indices[0].Key})
	if err != nil || !known[su.Indices[0].Key] {
		t.Errorf("index not recorded: %v %v", known, err)
	}
	pf, err := e.Catalog.LookupPool(ctx, "debian", "pool/main/h/hello/hello_2.10-3_amd64.deb")
	if err != nil || len(pf) != 1 || pf[0].Size != 5 {
		t.Errorf("pool file: %+v, %v", pf, err)
	}
	su.Indices = []publish.Index{{Key: su.Indices[0].Key, Known: true}}
	if again := published(t, e, publish.Snapshot{Archive: "debian", ValidDays: 1, URL: "http://snap.example", Suites: []publish.Suite{su}}); again.Serial != "2026112302" {
		t.Errorf("second snapshot %s", again.Serial)
	}
}

func TestPublishTag(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	su := mirroredSuite(t, e)
	snaps, err := e.Publisher.Publish(ctx,
		publish.Snapshot{Archive: "debian", Tag: "6.1", ValidDays: 10, URL: "http://snap.example", Suites: []publish.Suite{su}},
		publish.Snapshot{Archive: "ours", Tag: "6.1", Suites: []publish.Suite{su}})
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 || snaps[0].Serial != "@6.1" || !snaps[0].ValidUntil.IsZero() {
		t.Fatalf("tagged snapshots %+v", snaps)
	}
	got, _ := e.Catalog.Suite(ctx, snaps[0].ID, "bookworm")
	if strings.Contains(string(got.Release), "Valid-Until") || strings.Contains(string(got.Release), "Snapshots:") {
		t.Errorf("a tag's Release expires or names snapshots:\n%s", got.Release)
	}
	// All or none: a second 6.1 of ours fails, and the new tag of debian
	// goes with it.
	_, err = e.Publisher.Publish(ctx, publish.Snapshot{Archive: "debian", Tag: "6.2", Suites: []publish.Suite{su}},
		publish.Snapshot{Archive: "ours", Tag: "6.1", Suites: []publish.Suite{su}})
	if !errors.Is(err, catalog.ErrExists) {
		t.Fatalf("publishing a taken tag: %v, want ErrExists", err)
	}
	if _, err := e.Catalog.Snapshot(ctx, "debian", "@6.2"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("half a tag was published: %v", err)
	}
}

func TestWriteIndex(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	files, idx, err := e.Publisher.WriteIndex(ctx, "main/binary-amd64/Packages", []byte(packages))
	if err != nil {
		t.Fatal(err)
	}
	if idx.Key != blob.Sum([]byte(packages)) || idx.Known || len(idx.Entries) != 1 || idx.Entries[0].Path != "pool/main/h/hello/hello_2.10-3_amd64.deb" {
		t.Errorf("index %+v", idx)
	}
	readers := []func(io.Reader) (io.Reader, error){
		func(r io.Reader) (io.Reader, error) { return r, nil },
		func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
		func(r io.Reader) (io.Reader, error) { return xz.NewReader(r) },
	}
	for i, ext := range []string{"", ".gz", ".xz"} {
		f := files[i]
		if f.Path != "main/binary-amd64/Packages"+ext {
			t.Errorf("file %d is %s", i, f.Path)
			continue
		}
		data, err := e.Store.ReadFile(ctx, f.SHA256, nil)
		if err != nil || int64(len(data)) != f.Size {
			t.Fatalf("%s: %d bytes stored, %v; listed %d", f.Path, len(data), err, f.Size)
		}
		r, err := readers[i](bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(r)
		if err != nil || string(plain) != packages {
			t.Errorf("%s does not decompress to the index: %v", f.Path, err)
		}
	}
	if _, _, err := e.Publisher.WriteIndex(ctx, "main/i18n/Translation-en", []byte("x")); err == nil {
		t.Error("WriteIndex of a Translation index succeeded")
	}
	if _, _, err := e.Publisher.WriteIndex(ctx, "main/binary-amd64/Packages", []byte("Package: x\nFilename: ../../etc/passwd\nSize: 1\nSHA256: "+strings.Repeat("0", 64)+"\n\n")); err == nil {
		t.Error("WriteIndex of an index listing a path outside the pool succeeded")
	}
}

func TestBump(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	snap := published(t, e, publish.Snapshot{Archive: "debian", ValidDays: 10, URL: "http://snap.example", Suites: []publish.Suite{mirroredSuite(t, e)}})
	before, _ := e.Catalog.Suite(ctx, snap.ID, "bookworm")
	for _, days := range []int{0, -1, publish.MaxBumpDays + 1} {
		if _, _, err := e.Publisher.Bump(ctx, "debian", snap.Serial, days, false); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("bump by %d days: %v, want ErrInvalid", days, err)
		}
	}
	if _, _, err := e.Publisher.Bump(ctx, "debian", "2020010101", 5, false); !errors.Is(err, catalog.ErrNotFound) || !strings.Contains(err.Error(), "collected, or never made") {
		t.Errorf("bump of an unknown serial: %v", err)
	}
	e.Clock.Shift(30 * 24 * time.Hour) // expired by now: a bump brings it back
	prev, after, err := e.Publisher.Bump(ctx, "debian", snap.Serial, 40, false)
	if err != nil {
		t.Fatal(err)
	}
	if !prev.ValidUntil.Equal(snap.ValidUntil) {
		t.Errorf("previous Valid-Until %s, want %s", prev.ValidUntil, snap.ValidUntil)
	}
	if d := after.ValidUntil.Sub(publish.ValidUntil(e.Clock.Now(), 40)); d > time.Second || d < -time.Minute {
		t.Errorf("bumped to %s, want 40 days from the clock's now", after.ValidUntil)
	}
	su, _ := e.Catalog.Suite(ctx, snap.ID, "bookworm")
	oldLine := "Valid-Until: " + release.FormatTime(snap.ValidUntil) + "\n"
	newLine := "Valid-Until: " + release.FormatTime(after.ValidUntil) + "\n"
	if string(su.Release) != strings.Replace(string(before.Release), oldLine, newLine, 1) {
		t.Errorf("bumped Release:\n%s\nwant the old one with only Valid-Until changed:\n%s", su.Release, before.Release)
	}
	kr := e.Signer.Keyring()
	if pt, _, err := kr.VerifyClearsigned(su.InRelease); err != nil || !strings.Contains(string(pt), newLine) {
		t.Errorf("bumped InRelease: %v", err)
	}
	if _, err := kr.VerifyDetached(su.Release, su.ReleaseGPG); err != nil {
		t.Errorf("bumped Release.gpg: %v", err)
	}
}

func TestValidUntil(t *testing.T) {
	t0 := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC) // a DST change in Europe: days are 24 hours in UTC
	if got, want := publish.ValidUntil(t0, 10), time.Date(2026, 4, 7, 12, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("ValidUntil = %s, want %s", got, want)
	}
	if got := publish.SnapshotsURL("http://h:8080/", "debian"); got != "http://h:8080/debian/@SNAPSHOTID@/" {
		t.Errorf("SnapshotsURL = %s", got)
	}
}

// TestBumpShortens: a bump never shortens a snapshot's life by surprise.
func TestBumpShortens(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	snap := published(t, e, publish.Snapshot{Archive: "debian", ValidDays: 10, URL: "http://x", Suites: []publish.Suite{mirroredSuite(t, e)}})
	_, _, err := e.Publisher.Bump(ctx, "debian", snap.Serial, 3, false)
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "would shorten") {
		t.Fatalf("a bump of 3 days on a snapshot valid 10: %v", err)
	}
	if s, _ := e.Catalog.Snapshot(ctx, "debian", snap.Serial); !s.ValidUntil.Equal(snap.ValidUntil) {
		t.Errorf("a refused bump changed Valid-Until to %s", s.ValidUntil)
	}
	_, after, err := e.Publisher.Bump(ctx, "debian", snap.Serial, 3, true)
	if err != nil || !after.ValidUntil.Before(snap.ValidUntil) {
		t.Errorf("an allowed shortening: %+v, %v", after, err)
	}
}

package tag_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/index"
	"github.com/aptsnap/aptsnap/internal/testenv"
	"github.com/aptsnap/aptsnap/manifest"
	"github.com/aptsnap/aptsnap/publish"
	"github.com/aptsnap/aptsnap/release"
	"github.com/aptsnap/aptsnap/tag"
)

func stanza(name, version, arch string) string {
	p := fmt.Sprintf("pool/main/%c/%s/%s_%s_%s.deb", name[0], name, name, version, arch)
	return fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\nFilename: %s\nSize: 3\nSHA256: %s\n\n",
		name, version, arch, p, blob.Sum([]byte(p)))
}

// source publishes a snapshot of archive with the given Packages index.
func source(t *testing.T, e *testenv.Env, archive, packages string) catalog.Snapshot {
	t.Helper()
	ctx := context.Background()
	fields, err := release.Parse([]byte("Origin: Debian\nSuite: stable\nCodename: bookworm\nDate: Sat, 22 Nov 2026 08:14:46 UTC\n"))
	if err != nil {
		t.Fatal(err)
	}
	files, idx, err := e.Publisher.WriteIndex(ctx, "main/binary-amd64/Packages", []byte(packages))
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := e.Publisher.Publish(ctx, publish.Snapshot{Archive: archive, ValidDays: 10, URL: "http://x",
		Suites: []publish.Suite{{Name: "bookworm", Fields: fields, Files: files, Indices: []publish.Index{idx}}}})
	if err != nil {
		t.Fatal(err)
	}
	return snaps[0]
}

func newTagger(e *testenv.Env) *tag.Tagger {
	return tag.New(tag.Options{Catalog: e.Catalog, Store: e.Store, Publisher: e.Publisher, Locker: e.Locker, Now: e.Clock.Now, Log: e.Log, Events: e.Events})
}

func TestCreateWhole(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	deb := source(t, e, "debian", stanza("hello", "2.10-3", "amd64")+stanza("libfoo1", "1.0-1", "amd64"))
	ours := source(t, e, "ours", stanza("tool", "1.0", "amd64"))
	var created []string
	e.Events.OnCreated(func(_ context.Context, s catalog.Snapshot) { created = append(created, s.Archive+"/"+s.Serial) })
	tg := newTagger(e)
	snaps, err := tg.Create(ctx, "6.1", map[string]string{"debian": deb.Serial, "ours": ours.Serial}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 || snaps[0].Archive != "debian" || snaps[0].Serial != "@6.1" || !snaps[0].ValidUntil.IsZero() {
		t.Fatalf("tag snapshots %+v", snaps)
	}
	if strings.Join(created, " ") != "debian/@6.1 ours/@6.1" {
		t.Errorf("created events %v", created)
	}
	src, _ := e.Catalog.Suite(ctx, deb.ID, "bookworm")
	got, _ := e.Catalog.Suite(ctx, snaps[0].ID, "bookworm")
	if fmt.Sprint(got.Files) != fmt.Sprint(src.Files) || fmt.Sprint(got.Indices) != fmt.Sprint(src.Indices) {
		t.Errorf("a whole tag serves other files:\n%v\nwant\n%v", got.Files, src.Files)
	}
	if strings.Contains(string(got.Release), "Valid-Until") || !strings.Contains(string(got.Release), "Codename: bookworm\n") {
		t.Errorf("tag Release:\n%s", got.Release)
	}
	if _, _, err := e.Signer.Keyring().VerifyClearsigned(got.InRelease); err != nil {
		t.Errorf("tag InRelease: %v", err)
	}
	if list, err := tg.List(ctx); err != nil || len(list) != 2 {
		t.Errorf("List = %+v, %v", list, err)
	}
	for _, tc := range []struct {
		name string
		from map[string]string
		want error
	}{
		{"6.1", map[string]string{"debian": deb.Serial}, errdefs.ErrExists},
		{"../6.1", map[string]string{"debian": deb.Serial}, errdefs.ErrInvalid},
		{"6.2", nil, errdefs.ErrInvalid},
		{"6.2", map[string]string{"debian": "2001010101"}, catalog.ErrNotFound},
	} {
		if _, err := tg.Create(ctx, tc.name, tc.from, nil); !errors.Is(err, tc.want) {
			t.Errorf("Create(%q, %v) = %v, want %v", tc.name, tc.from, err, tc.want)
		}
	}
	changed := 0
	e.Events.OnChanged(func() { changed++ })
	if n, err := tg.Delete(ctx, "6.1"); err != nil || n != 2 || changed != 1 {
		t.Errorf("Delete = %d, %v (%d change events)", n, err, changed)
	}
	if _, err := tg.Delete(ctx, "6.1"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("Delete of a deleted tag: %v", err)
	}
}

func TestCreateFromManifest(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	deb := source(t, e, "debian", stanza("hello", "2.10-3", "amd64")+stanza("libfoo1", "1.0-1", "amd64")+stanza("zsh", "5.9-4", "amd64"))
	tg := newTagger(e)
	m, err := manifest.Parse([]byte("packages:\n  binary:\n    - {package: zsh, version: 5.9-4, arch: amd64}\n    - {package: hello, version: 2.10-3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := tg.Create(ctx, "build-7", map[string]string{"debian": deb.Serial}, m)
	if err != nil {
		t.Fatal(err)
	}
	su, err := e.Catalog.Suite(ctx, snaps[0].ID, "bookworm")
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]catalog.IndexFile{}
	for _, f := range su.Files {
		byPath[f.Path] = f
	}
	for _, variant := range []string{"main/binary-amd64/Packages", "main/binary-amd64/Packages.gz", "main/binary-amd64/Packages.xz"} {
		f, ok := byPath[variant]
		if !ok {
			t.Fatalf("the tag serves no %s: %v", variant, su.Files)
		}
		data, err := index.Read(ctx, e.Store, f.Path, f.SHA256, 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := stanza("hello", "2.10-3", "amd64") + stanza("zsh", "5.9-4", "amd64"); string(data) != want {
			t.Errorf("%s:\n%s\nwant\n%s", variant, data, want)
		}
	}
	ids, err := e.Catalog.IndexMembers(ctx, "debian", su.Indices[0])
	if err != nil || len(ids) != 2 {
		t.Errorf("the cut index lists %d pool files (%v), want 2", len(ids), err)
	}
	if !strings.Contains(string(su.Release), " main/binary-amd64/Packages.xz\n") {
		t.Errorf("Release does not list the written indices:\n%s", su.Release)
	}

	// An entry in no source snapshot names it, and nothing is made.
	bad, _ := manifest.Parse([]byte("packages:\n  binary:\n    - {package: hello, version: 2.10-3}\n    - {package: hello, version: 9.9}\n  source:\n    - {package: zsh, version: 5.9-4}\n"))
	_, err = tg.Create(ctx, "build-8", map[string]string{"debian": deb.Serial}, bad)
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "hello=9.9") || !strings.Contains(err.Error(), "source zsh=5.9-4") {
		t.Errorf("a manifest entry in no snapshot: %v", err)
	}
	if _, err := e.Catalog.Snapshot(ctx, "debian", "@build-8"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("a refused tag was made: %v", err)
	}
}

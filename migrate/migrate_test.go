package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/custom"
	"github.com/aptsnap/aptsnap/internal/testenv"
	"github.com/aptsnap/aptsnap/repogen"
)

// failingStore fails every Put after n.
type failingStore struct {
	blob.Store
	left atomic.Int32
}

func (f *failingStore) Put(ctx context.Context, r io.Reader, want blob.Digest, size int64) (blob.Info, error) {
	if f.left.Add(-1) < 0 {
		return blob.Info{}, errors.New("disk full")
	}
	return f.Store.Put(ctx, r, want, size)
}

// failingCatalog fails every snapshot commit after n.
type failingCatalog struct {
	catalog.Catalog
	left atomic.Int32
}

func (f *failingCatalog) CreateSnapshot(ctx context.Context, s catalog.NewSnapshot) (catalog.Snapshot, error) {
	if f.left.Add(-1) < 0 {
		return catalog.Snapshot{}, errors.New("connection lost")
	}
	return f.Catalog.CreateSnapshot(ctx, s)
}

// source is an installation with a custom archive changed five times.
func source(t *testing.T) *testenv.Env {
	t.Helper()
	env := testenv.New(t)
	cfg, err := config.Parse([]byte("public_url = \"http://snap.example\"\n[[custom]]\nname = \"ours\"\nsuites = [\"stable\"]\narchitectures = [\"amd64\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	x := custom.New(custom.Options{Archives: cfg.Customs, Catalog: env.Catalog, Store: env.Store, Publisher: env.Publisher,
		Locker: env.Locker, Now: env.Clock.Now, Log: env.Log, Events: env.Events})
	dir := t.TempDir()
	for i := range 5 {
		data, err := repogen.BuildDeb(repogen.Package{Name: fmt.Sprintf("p%d", i), Version: "1.0", Arch: "amd64"})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("p%d_1.0_amd64.deb", i))
		os.WriteFile(p, data, 0o644)
		if _, err := x.Add(context.Background(), custom.AddRequest{Archive: "ours", Suite: "stable", Files: []string{p}, Publish: true}); err != nil {
			t.Fatal(err)
		}
	}
	return env
}

// TestResume: a run that fails while copying files, or while committing
// snapshots, is finished by the next, which copies only what is missing.
func TestResume(t *testing.T) {
	ctx := context.Background()
	src := source(t)
	from := Side{Catalog: src.Catalog, Store: src.Store}
	dst := testenv.New(t)
	store := &failingStore{Store: dst.Store}
	store.left.Store(4)
	if _, err := Run(ctx, from, Side{Catalog: dst.Catalog, Store: store}, Options{Parallel: 1, Log: src.Log}); err == nil {
		t.Fatal("a run onto a failing store succeeded")
	}
	cat := &failingCatalog{Catalog: dst.Catalog}
	cat.left.Store(2)
	res, err := Run(ctx, from, Side{Catalog: cat, Store: dst.Store}, Options{Parallel: 3, Log: src.Log})
	if err == nil || res.FilesThere != 4 || res.Snapshots != 2 {
		t.Fatalf("a run onto a failing catalog: %+v, %v; want 4 files there, 2 snapshots copied, an error", res, err)
	}
	res, err = Run(ctx, from, Side{Catalog: dst.Catalog, Store: dst.Store}, Options{Log: src.Log})
	// Five changes and the archive's working state.
	if err != nil || res.Files != 0 || res.Snapshots != 4 || res.SnapshotsThere != 2 {
		t.Fatalf("the run that finishes: %+v, %v; want no file, 4 snapshots copied, 2 there", res, err)
	}
	if w, err := dst.Catalog.Snapshot(ctx, "ours", catalog.TagSerial(catalog.WorkingTag)); err != nil || len(w.Suites) != 1 {
		t.Errorf("the working state was not copied: %v %v", w, err)
	}
	want, _ := src.Catalog.Snapshots(ctx, "ours")
	got, _ := dst.Catalog.Snapshots(ctx, "ours")
	if len(got) != len(want) {
		t.Fatalf("%d snapshots copied of %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Serial != want[i].Serial || !got[i].Created.Equal(want[i].Created) || !got[i].ValidUntil.Equal(want[i].ValidUntil) {
			t.Errorf("snapshot %d: %+v, want %+v", i, got[i], want[i])
		}
		a, _ := src.Catalog.Suite(ctx, want[i].ID, "stable")
		b, _ := dst.Catalog.Suite(ctx, got[i].ID, "stable")
		if string(a.InRelease) != string(b.InRelease) {
			t.Errorf("%s: InRelease differs", want[i].Serial)
		}
		// Every pool path resolves in the copy.
		entries, err := poolEntries(ctx, dst.Store, b, b.Indices)
		if err != nil {
			t.Fatal(err)
		}
		for _, es := range entries {
			for _, e := range es {
				if pf, err := dst.Catalog.LookupPool(ctx, "ours", e.Path); err != nil || len(pf) == 0 || pf[0].SHA256 != e.SHA256 {
					t.Errorf("%s: %s does not resolve in the copy: %v %v", want[i].Serial, e.Path, pf, err)
				}
			}
		}
	}
}

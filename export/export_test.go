package export_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/export"
	"github.com/aptsnap/aptsnap/internal/testenv"
	"github.com/aptsnap/aptsnap/publish"
	"github.com/aptsnap/aptsnap/release"
)

// snapshot publishes a snapshot of debian whose Packages lists a pool
// file with content deb; the plain Packages is left out of the store
// (served decompressed, as Debian's).
func snapshot(t *testing.T, e *testenv.Env, deb string) catalog.Snapshot {
	t.Helper()
	ctx := context.Background()
	info, err := e.Store.Put(ctx, strings.NewReader(deb), blob.Digest{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	pkgs := fmt.Sprintf("Package: hello\nVersion: 1\nArchitecture: all\nFilename: pool/main/h/hello/hello_%s_all.deb\nSize: %d\nSHA256: %s\n\n",
		info.Digest.String()[:8], len(deb), info.Digest)
	files, idx, err := e.Publisher.WriteIndex(ctx, "main/binary-amd64/Packages", []byte(pkgs))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Store.Delete(ctx, files[0].SHA256); err != nil { // the plain one
		t.Fatal(err)
	}
	fields, _ := release.Parse([]byte("Origin: Debian\nDate: Sat, 22 Nov 2026 08:14:46 UTC\n"))
	up, _ := e.Store.Put(ctx, strings.NewReader("upstream"), blob.Digest{}, -1)
	snaps, err := e.Publisher.Publish(ctx, publish.Snapshot{Archive: "debian", ValidDays: 10, URL: "http://x",
		Suites: []publish.Suite{{Name: "bookworm", Fields: fields, Upstream: up.Digest, Files: files, Indices: []publish.Index{idx}}}})
	if err != nil {
		t.Fatal(err)
	}
	return snaps[0]
}

func open(t *testing.T, e *testenv.Env, dir string) *export.Exporter {
	t.Helper()
	x, err := export.Open(context.Background(), export.Options{Catalog: e.Catalog, Store: e.Store, Dir: dir, Archives: []string{"debian"},
		PublicKey: e.Signer.PublicKey(), Log: e.Log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func sync(t *testing.T, x *export.Exporter) export.Result {
	t.Helper()
	res, err := x.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSync: a first sync writes every tree, with hard links from the
// store and the plain Packages decompressed; a sync with nothing new
// touches nothing; a new snapshot is added alone; a bump replaces only the
// bumped tree's Release files; a snapshot gone leaves with its files.
func TestSync(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	s1 := snapshot(t, e, "package one")
	dir := filepath.Join(t.TempDir(), "export")
	x := open(t, e, dir)
	res := sync(t, x)
	if !slices.Equal(res.Added, []string{"debian/" + s1.Serial}) || res.Linked == 0 || res.Derived != 1 || res.Copied != 0 {
		t.Fatalf("first sync: %+v", res)
	}
	root := filepath.Join(dir, "debian", s1.Serial)
	su, _ := e.Catalog.Suite(ctx, s1.ID, "bookworm")
	if read(t, filepath.Join(root, "dists/bookworm/InRelease")) != string(su.InRelease) {
		t.Error("InRelease is not the catalog's")
	}
	for _, f := range su.Files {
		p := filepath.Join(root, "dists/bookworm", f.Path)
		bh := filepath.Join(root, "dists/bookworm", filepath.Dir(f.Path), "by-hash/SHA256", f.SHA256.String())
		for _, q := range []string{p, bh} {
			if blob.Sum([]byte(read(t, q))) != f.SHA256 {
				t.Errorf("%s: not the content listed", q)
			}
		}
	}
	deb := filepath.Join(root, "pool/main/h/hello")
	ents, _ := os.ReadDir(deb)
	if len(ents) != 1 {
		t.Fatalf("pool: %v", ents)
	}
	pool := filepath.Join(deb, ents[0].Name())
	fi, _ := os.Stat(pool)
	si, _ := os.Stat(e.Store.Path(blob.Sum([]byte("package one"))))
	if !os.SameFile(fi, si) || fi.Mode().Perm() != 0o644 {
		t.Errorf("the pool file is not a hard link of the store's (mode %v)", fi.Mode())
	}
	if trace := read(t, filepath.Join(dir, "debian/project/trace/debian")); !strings.HasPrefix(trace, "Archive serial: "+s1.Serial+"\nDate: ") {
		t.Errorf("trace: %q", trace)
	}
	if read(t, filepath.Join(dir, "keys/aptsnap.asc")) != string(e.Signer.PublicKey()) {
		t.Error("key")
	}

	if res := sync(t, x); res.Changed() || res.Linked+res.Copied+res.Derived != 0 || res.Trees != 1 {
		t.Errorf("a sync with nothing new: %+v", res)
	}

	s2 := snapshot(t, e, "package two")
	if res := sync(t, x); !slices.Equal(res.Added, []string{"debian/" + s2.Serial}) || len(res.Replaced)+len(res.Removed) != 0 || res.Linked != 3 || res.Derived != 1 { // .gz, .xz, the package; Packages
		t.Errorf("a new snapshot: %+v", res)
	}
	if trace := read(t, filepath.Join(dir, "debian/project/trace/debian")); !strings.HasPrefix(trace, "Archive serial: "+s2.Serial+"\n") {
		t.Errorf("trace after a new snapshot: %q", trace)
	}

	e.Clock.Shift(time.Hour)
	if _, _, err := e.Publisher.Bump(ctx, "debian", s1.Serial, 20, false); err != nil {
		t.Fatal(err)
	}
	res = sync(t, x)
	if !slices.Equal(res.Replaced, []string{"debian/" + s1.Serial}) || len(res.Added)+len(res.Removed) != 0 || res.Pruned != 0 {
		t.Errorf("a bump: %+v", res)
	}
	su, _ = e.Catalog.Suite(ctx, s1.ID, "bookworm")
	if read(t, filepath.Join(root, "dists/bookworm/InRelease")) != string(su.InRelease) {
		t.Error("InRelease after the bump is not the re-signed one")
	}

	if _, err := e.Catalog.Expire(ctx, "debian", s1.Serial); err != nil {
		t.Fatal(err)
	}
	res = sync(t, x)
	if !slices.Equal(res.Removed, []string{"debian/" + s1.Serial}) || res.Pruned == 0 {
		t.Errorf("a withdrawal: %+v", res)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("the withdrawn tree is still there: %v", err)
	}
	// Its pool file's store link is the only one left.
	var st syscall.Stat_t
	syscall.Stat(e.Store.Path(blob.Sum([]byte("package one"))), &st)
	if st.Nlink != 1 {
		t.Errorf("the withdrawn snapshot's pool file has %d links", st.Nlink)
	}
}

// TestRecovers: a state lost, a tree left by a killed exporter, a tree
// deleted by hand: the next exporter puts things right.
func TestRecovers(t *testing.T) {
	e := testenv.New(t)
	s1 := snapshot(t, e, "package one")
	dir := filepath.Join(t.TempDir(), "export")
	x := open(t, e, dir)
	sync(t, x)
	x.Close()

	os.Remove(filepath.Join(dir, export.MetaDir, "state.json"))
	stray := filepath.Join(dir, "debian", "2020010101", "dists")
	os.MkdirAll(stray, 0o755)
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("mine\n"), 0o644) // not ours: stays
	x = open(t, e, dir)
	res := sync(t, x)
	if !slices.Equal(res.Replaced, []string{"debian/" + s1.Serial}) || !slices.Equal(res.Removed, []string{"debian/2020010101"}) {
		t.Errorf("after the state was lost: %+v", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		t.Error("a file of the site's was removed")
	}
	os.RemoveAll(filepath.Join(dir, "debian", s1.Serial))
	if res := sync(t, x); !slices.Equal(res.Added, []string{"debian/" + s1.Serial}) {
		t.Errorf("after a tree was deleted: %+v", res)
	}
}

// TestRefusesForeignDir: a directory not empty and not an export is
// refused, untouched.
func TestRefusesForeignDir(t *testing.T) {
	e := testenv.New(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "README"), []byte("mine\n"), 0o644)
	_, err := export.Open(context.Background(), export.Options{Catalog: e.Catalog, Store: e.Store, Dir: dir, Log: e.Log})
	if err == nil || !strings.Contains(err.Error(), "is not empty and is not an aptsnap export") {
		t.Fatalf("Open: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("the directory was changed: %v", ents)
	}
}

// TestOneExporterAtATime: a second exporter of a directory waits for the
// first to close it.
func TestOneExporterAtATime(t *testing.T) {
	e := testenv.New(t)
	dir := filepath.Join(t.TempDir(), "export")
	x := open(t, e, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := export.Open(ctx, export.Options{Catalog: e.Catalog, Store: e.Store, Dir: dir, Log: e.Log}); err == nil {
		t.Fatal("a second exporter opened the directory while the first holds it")
	}
	x.Close()
	open(t, e, dir)
}

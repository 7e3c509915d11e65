package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/blob/local"
	"github.com/aptsnap/aptsnap/catalog"
)

// fakeCatalog serves snapshots held in memory; the methods the UI does not
// use panic through the nil embedded interface.
type fakeCatalog struct {
	catalog.Catalog
	snaps  []catalog.Snapshot
	suites map[int64]map[string]catalog.Suite
	pulses []catalog.Pulse // newest first
	tags   []catalog.Snapshot
	usage  []catalog.Usage
	usages int // calls of Usage
}

func (f *fakeCatalog) Archives(context.Context) ([]string, error) { return []string{"debian"}, nil }
func (f *fakeCatalog) Tags(context.Context) ([]catalog.Snapshot, error) {
	return f.tags, nil
}
func (f *fakeCatalog) Pulses(_ context.Context, _ string, n int) ([]catalog.Pulse, error) {
	return f.pulses[:min(n, len(f.pulses))], nil
}
func (f *fakeCatalog) Usage(context.Context, string) ([]catalog.Usage, error) {
	f.usages++
	return f.usage, nil
}
func (f *fakeCatalog) Snapshots(_ context.Context, a string) ([]catalog.Snapshot, error) {
	return f.snaps, nil
}
func (f *fakeCatalog) Snapshot(_ context.Context, a, serial string) (catalog.Snapshot, error) {
	for _, s := range f.snaps {
		if s.Serial == serial {
			return s, nil
		}
	}
	return catalog.Snapshot{}, catalog.ErrNotFound
}
func (f *fakeCatalog) Suite(_ context.Context, id int64, name string) (catalog.Suite, error) {
	su, ok := f.suites[id][name]
	if !ok {
		return su, catalog.ErrNotFound
	}
	return su, nil
}
func (f *fakeCatalog) IndexMembers(context.Context, string, blob.Digest) ([]int64, error) {
	return nil, nil
}

// TestDiffAtScale diffs two snapshots of a Debian-sized suite (63,000
// packages on amd64, arm64 unchanged, arch-all packages in both) through
// the handler, and checks that a second diff parses nothing again.
func TestDiffAtScale(t *testing.T) {
	ctx := context.Background()
	store, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put := func(path string, data []byte) catalog.IndexFile {
		info, err := store.Put(ctx, bytes.NewReader(data), blob.Digest{}, -1)
		if err != nil {
			t.Fatal(err)
		}
		return catalog.IndexFile{Path: path, SHA256: info.Digest, Size: info.Size}
	}
	const n = 63000
	ver := func(gen int) func(int) string {
		return func(i int) string {
			if gen == 1 && i%100 == 0 {
				return "1.0-2"
			}
			return "1.0-1"
		}
	}
	all := func(gen int) string {
		return fmt.Sprintf("Package: tzdata\nVersion: 2026a-0+deb12u%d\nArchitecture: all\n\n", gen+1)
	}
	arm := put("main/binary-arm64/Packages", synthetic(n, ver(0)))
	cat := &fakeCatalog{suites: map[int64]map[string]catalog.Suite{}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for gen := range 2 {
		amd := put("main/binary-amd64/Packages", append(synthetic(n, ver(gen)), all(gen)...))
		id := int64(gen + 1)
		cat.snaps = append(cat.snaps, catalog.Snapshot{ID: id, Archive: "debian", Serial: fmt.Sprintf("20260101%02d", id),
			Created: now, ValidUntil: now.Add(240 * time.Hour), Suites: []string{"bookworm"}})
		cat.suites[id] = map[string]catalog.Suite{"bookworm": {Name: "bookworm", Files: []catalog.IndexFile{amd, arm}}}
	}
	// arm64 also lists tzdata, unchanged: the cursor must count it once, at
	// its highest version across the component's indices.
	h := New(Options{Catalog: cat, Store: store, Archives: []string{"debian"}, Now: func() time.Time { return now }}).u
	for round := range 2 {
		start := time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/debian/diff?from=2026010101&to=2026010102", nil))
		took := time.Since(start)
		if rec.Code != 200 {
			t.Fatalf("diff: %d %s", rec.Code, rec.Body)
		}
		body := rec.Body.String()
		if !strings.Contains(body, `<p id="summary">631 changes · 631 upgraded · 0 downgraded`) {
			t.Fatalf("diff summary: %s", regexp.MustCompile(`<p id="summary">.*`).FindString(body))
		}
		if !strings.Contains(body, `data-package="tzdata"`) || !strings.Contains(body, `data-package="pkg000100"`) ||
			strings.Contains(body, `data-package="pkg000101"`) {
			t.Errorf("diff rows wrong")
		}
		parses := h.cache.parses.Load()
		t.Logf("round %d: diff of %d packages in %v (%d parses so far)", round, n, took, parses)
		if parses != 3 {
			t.Errorf("round %d: %d indices parsed, want 3, once each", round, parses)
		}
	}
	// The other pages read the same cached indices.
	for path, want := range map[string][]string{
		"/ui/debian/package/pkg000100": {`data-version="1.0-2"`, `data-version="1.0-1"`, "bookworm main amd64"},
		"/ui/debian/2026010102/":       {"126001 packages", "main/binary-arm64/Packages", "/debian/2026010102/ bookworm main"},
	} {
		start := time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		t.Logf("%s in %v", path, time.Since(start))
		for _, w := range want {
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), w) {
				t.Errorf("%s: %d, no %q", path, rec.Code, w)
			}
		}
	}
	if n := h.cache.parses.Load(); n != 3 {
		t.Errorf("%d indices parsed in all, want 3", n)
	}
}

func TestDiffListsAcrossArchitectures(t *testing.T) {
	amd := []pkg{{"a", "1", "all"}, {"b", "1", "amd64"}}
	arm := []pkg{{"a", "1", "all"}, {"b", "1", "arm64"}}
	amd2 := []pkg{{"a", "2", "all"}, {"b", "1", "amd64"}}
	arm2 := []pkg{{"a", "2", "all"}, {"b", "1", "arm64"}}
	got := diffLists([][]pkg{amd, arm}, [][]pkg{amd2, arm2})
	if len(got) != 1 || got[0] != (change{Name: "a", Arch: "all", From: "1", To: "2", Kind: upgraded}) {
		t.Errorf("upgrade of an arch-all package in two indices: %+v", got)
	}
	// A new architecture: its arch-all packages are not new.
	i386 := []pkg{{"a", "1", "all"}, {"b", "1", "i386"}}
	got = diffLists([][]pkg{amd, arm}, [][]pkg{amd, arm, i386})
	if len(got) != 1 || got[0] != (change{Name: "b", Arch: "i386", To: "1", Kind: added}) {
		t.Errorf("new architecture: %+v", got)
	}
}

func TestHandlerErrors(t *testing.T) {
	cat := &fakeCatalog{suites: map[int64]map[string]catalog.Suite{}}
	h := New(Options{Catalog: cat, Archives: []string{"debian"}})
	for path, want := range map[string]int{
		"/ui/":                        200,
		"/ui/debian/":                 200,
		"/elsewhere":                  404,
		"/ui/other/":                  404,
		"/ui/debian/2026010101/":      404,
		"/ui/debian/notaserial/":      404,
		"/ui/debian/diff?from=1&to=2": 400,
		"/ui/debian/a/b/c":            404,
		"/ui/debian/package/x%3Cy":    400,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("GET %s: %d, want %d", path, rec.Code, want)
		}
		if strings.Contains(rec.Body.String(), "x<y") {
			t.Errorf("GET %s: unescaped", path)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/ui/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

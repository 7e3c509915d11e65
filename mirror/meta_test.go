package mirror_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/index"
	"github.com/aptsnap/aptsnap/internal/hostile"
	"github.com/aptsnap/aptsnap/mirror"
	"github.com/aptsnap/aptsnap/repogen"
)

// complete is generation g with every index Debian publishes besides
// Packages and Sources: translations, Contents, dep11, udebs.
func complete(g int) []repogen.Suite {
	suites := generation(g)
	for i := range suites {
		s := &suites[i]
		s.Translations, s.Contents, s.Dep11 = true, true, true
		s.Installer = map[string][]repogen.Package{"main": {{Name: "hello-udeb", Version: s.Components["main"][0].Version, Arch: "amd64"}}}
	}
	return suites
}

// served lists the files upstream serves under dists/<suite>/, by path,
// Release files and by-hash copies aside.
func served(t *testing.T, root, suite string) map[string][]byte {
	t.Helper()
	dir := filepath.Join(root, "dists", suite)
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.Contains(rel, "by-hash") || rel == "InRelease" || rel == "Release" || rel == "Release.gpg" {
			return nil
		}
		out[filepath.ToSlash(rel)], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// snapshotFiles reads every index file a snapshot's suite serves, and
// lists those not stored but made from a compressed variant.
func (s *setup) snapshotFiles(t *testing.T, snap catalog.Snapshot, suite string) (files map[string][]byte, release string, derived []string) {
	t.Helper()
	ctx := context.Background()
	su, byPath := s.suite(t, snap, suite)
	files = map[string][]byte{}
	var err error
	for _, f := range su.Files {
		files[f.Path], err = s.e.Store.ReadFile(ctx, f.SHA256, nil)
		if from, ok := index.DerivedFrom(byPath, f.Path); ok && errors.Is(err, blob.ErrNotFound) {
			derived = append(derived, f.Path)
			rc, err2 := index.OpenDerived(ctx, s.e.Store, f, from)
			if err2 == nil {
				files[f.Path], err = io.ReadAll(rc)
				rc.Close()
			}
		}
		if err != nil {
			t.Fatalf("%s listed but not served: %v", f.Path, err)
		}
	}
	slices.Sort(derived)
	return files, string(su.Release), derived
}

// TestCompleteSnapshot: a snapshot serves every index upstream serves for
// what is tracked, byte for byte, and its Release lists exactly those;
// the udebs are stored; an archive narrowing the indices gets only those
// it asks for.
func TestCompleteSnapshot(t *testing.T) {
	s := newSetup(t, true)
	s.up.Write(complete(0)...)
	var asked []string
	var mu sync.Mutex
	s.up.SetFault(func(_ http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		mu.Unlock()
		return false
	})
	snap := s.pulse(t)
	s.up.SetFault(nil)
	// A plain metadata file is made, not fetched, even when upstream serves
	// it (dep11's Components-amd64.yml here): it is the largest variant.
	for _, p := range asked {
		if strings.HasSuffix(p, "/dep11/Components-amd64.yml") || strings.HasSuffix(p, "/i18n/Translation-en") || strings.HasSuffix(p, "/Contents-amd64") {
			t.Errorf("the pulse asked upstream for the plain %s", p)
		}
	}
	for _, suite := range s.arc.Suites {
		up := served(t, s.up.Repo.Dir, suite)
		got, rel, derived := s.snapshotFiles(t, snap, suite)
		for _, want := range []string{"main/i18n/Translation-en.xz", "main/i18n/Index", "main/Contents-amd64.gz", "main/Contents-udeb-amd64.gz",
			"main/dep11/Components-amd64.yml.gz", "main/dep11/icons-48x48.tar.gz", "main/debian-installer/binary-amd64/Packages.xz"} {
			if _, ok := up[want]; !ok {
				t.Fatalf("the generated upstream does not serve %s", want)
			}
		}
		for p, data := range up {
			if !bytes.Equal(got[p], data) {
				t.Errorf("%s: %s not served byte for byte (%d bytes, upstream %d)", suite, p, len(got[p]), len(data))
			}
		}
		for p := range got {
			if _, ok := up[p]; !ok && p != "main/binary-amd64/Packages" && p != "main/source/Sources" && !slices.Contains(derived, p) {
				t.Errorf("%s: %s served, upstream does not serve it", suite, p)
			}
			if !strings.Contains(rel, " "+p+"\n") {
				t.Errorf("%s: our Release does not list %s", suite, p)
			}
		}
		// What upstream lists without serving is listed (APT fetches only
		// an index whose plain name is listed) and served, made from a
		// compressed variant and checked against the listed checksum,
		// without being stored.
		if want := []string{"main/Contents-amd64", "main/Contents-udeb-amd64", "main/dep11/Components-amd64.yml", "main/i18n/Translation-en"}; !slices.Equal(derived, want) {
			t.Errorf("%s: derived %q, want %q", suite, derived, want)
		}
	}
	udeb := strings.TrimSuffix(s.up.Repo.PoolPath("main", repogen.Package{Name: "hello-udeb", Version: "2.10-1", Arch: "amd64"}), ".deb") + ".udeb"
	want, err := os.ReadFile(filepath.Join(s.up.Repo.Dir, udeb))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.e.Store.ReadFile(context.Background(), blob.Sum(want), nil); err != nil || !bytes.Equal(got, want) {
		t.Errorf("udeb %s not stored: %v", udeb, err)
	}

	// Unchanged, the metadata cost nothing on the next pulse: no request
	// but the two InRelease files and the unserved files, asked once.
	s.e.Clock.Shift(time.Hour)
	hits := s.up.Hits()
	s.pulse(t)
	if n := s.up.Hits() - hits; n != 2 {
		t.Errorf("an unchanged upstream cost %d requests, want 2 (the InRelease files)", n)
	}

	// Narrowed: no translation, no Contents, no installer, no dep11.
	s.arc.Languages, s.arc.Contents, s.arc.Installer, s.arc.DEP11 = []string{}, false, false, false
	s.up.Write(complete(1)...)
	narrow := s.pulse(t)
	got, rel, _ := s.snapshotFiles(t, narrow, "bookworm")
	var paths []string
	for p := range got {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		if !strings.HasPrefix(p, "main/binary-amd64/") && !strings.HasPrefix(p, "main/source/") {
			t.Errorf("narrowed archive serves %s", p)
		}
	}
	if strings.Contains(rel, "i18n") || strings.Contains(rel, "Contents") || strings.Contains(rel, "dep11") || strings.Contains(rel, "installer") {
		t.Errorf("narrowed archive's Release lists more than it serves:\n%s", rel)
	}
	// A language asked for comes back (the Index names all languages: not kept).
	s.arc.Languages = []string{"en"}
	s.up.Write(complete(2)...)
	got, _, _ = s.snapshotFiles(t, s.pulse(t), "bookworm")
	if _, ok := got["main/i18n/Translation-en.xz"]; !ok {
		t.Error("languages = [\"en\"] does not mirror Translation-en")
	}
	if _, ok := got["main/i18n/Index"]; ok {
		t.Error("with languages narrowed, the i18n/Index naming every language is still served")
	}
}

// TestBadMetadata: a metadata file served with another size than listed,
// one that never ends, an i18n/Index naming a file upstream does not
// serve: the pulse fails with one line, and nothing visible changes.
func TestBadMetadata(t *testing.T) {
	noFault := func(*setup, *atomic.Int64) func(w http.ResponseWriter, r *http.Request) bool { return nil }
	tests := []struct {
		name   string
		fault  func(s *setup, sent *atomic.Int64) func(w http.ResponseWriter, r *http.Request) bool
		want   string
		reason string
		edit   func(t *testing.T, s *setup) // the upstream, once written
	}{
		{"size differs", func(s *setup, _ *atomic.Int64) func(w http.ResponseWriter, r *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if isFile(s, r, "dists/bookworm/main/Contents-amd64.gz") {
					w.Write([]byte("not what the Release lists"))
					return true
				}
				return false
			}
		}, "Content-Length", "checksum", nil},
		{"endless Contents", func(s *setup, sent *atomic.Int64) func(w http.ResponseWriter, r *http.Request) bool {
			endless := hostile.Endless(func(string) bool { return true }, sent)
			return func(w http.ResponseWriter, r *http.Request) bool {
				return isFile(s, r, "dists/bookworm/main/Contents-amd64.gz") && endless(w, r)
			}
		}, "Contents-amd64.gz", "checksum", nil},
		{"i18n/Index names a missing file", func(s *setup, _ *atomic.Int64) func(w http.ResponseWriter, r *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if isFile(s, r, "dists/bookworm/main/i18n/Translation-en.gz") {
					http.NotFound(w, r)
					return true
				}
				return false
			}
		}, "names Translation-en.gz, which upstream does not serve", "missing", nil},
		{"plain listed with another checksum than its compressed variants", noFault, "Translation-en (listed, not served, made from Translation-en.gz)", "checksum",
			func(t *testing.T, s *setup) {
				err := hostile.Resign(s.up.Repo.Dir, "bookworm", s.up.Repo.Signer, func(rel []byte) []byte {
					var out []string
					for line := range strings.Lines(string(rel)) {
						if f := strings.Fields(line); len(f) == 3 && f[2] == "main/i18n/Translation-en" && len(f[0]) == 64 {
							line = " " + strings.Repeat("0", 64) + " " + f[1] + " " + f[2] + "\n"
						}
						out = append(out, line)
					}
					return []byte(strings.Join(out, ""))
				})
				if err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, false)
			s.up.Write(complete(0)...)
			before := s.pulse(t)
			s.e.Clock.Shift(time.Hour)
			// A new package: new Contents, Translation-en, dep11.
			g := complete(1)
			g[0].Components["main"] = append(g[0].Components["main"], repogen.Package{Name: "newcomer", Version: "1.0", Arch: "amd64"})
			s.up.Write(g...)
			if tt.edit != nil {
				tt.edit(t, s)
			}
			var sent atomic.Int64
			s.up.SetFault(tt.fault(s, &sent))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := s.m.Pulse(ctx, s.arc)
			if err == nil || !strings.Contains(err.Error(), tt.want) || mirror.Reason(err) != tt.reason {
				t.Fatalf("pulse: %v (%s), want %q (%s)", err, mirror.Reason(err), tt.want, tt.reason)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error on more than one line: %q", err)
			}
			if n := sent.Load(); n > 8<<20 {
				t.Errorf("the upstream sent %d bytes before the pulse stopped reading", n)
			}
			if latest, err := s.e.Catalog.Latest(ctx, "debian"); err != nil || latest.ID != before.ID {
				t.Errorf("a failed pulse changed the newest snapshot: %+v %v", latest, err)
			}
		})
	}
}

// isFile reports whether r asks for the repository file rel, by path or
// by hash.
func isFile(s *setup, r *http.Request, rel string) bool {
	if strings.HasSuffix(r.URL.Path, "/"+rel) {
		return true
	}
	data, err := os.ReadFile(filepath.Join(s.up.Repo.Dir, rel))
	return err == nil && strings.HasSuffix(r.URL.Path, "/by-hash/SHA256/"+blob.Sum(data).String())
}

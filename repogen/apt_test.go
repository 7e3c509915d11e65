package repogen_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/internal/apttest"
	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/repogen"
)

// served is a repository directory served over loopback HTTP, recording the
// paths requested.
type served struct {
	url   string
	mu    sync.Mutex
	paths []string
}

func serve(t *testing.T, dir string) *served {
	s := &served{}
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.paths = append(s.paths, r.URL.Path)
		s.mu.Unlock()
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *served) requested(substr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.paths {
		if strings.Contains(p, substr) {
			return true
		}
	}
	return false
}

// currentRepo is sampleRepo dated now, so that apt's date checks pass.
func currentRepo(t *testing.T, dir string) *repogen.Repo {
	r := sampleRepo(t, dir)
	for i := range r.Suites {
		r.Suites[i].Date = time.Now().Add(-time.Hour)
		r.Suites[i].ValidUntil = time.Now().Add(7 * 24 * time.Hour)
	}
	return r
}

func writeKey(t *testing.T, s *pgp.Signer) string {
	p := filepath.Join(t.TempDir(), "archive-key.asc")
	if err := os.WriteFile(p, s.PublicKey(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAPTUpdateAndDownload serves a generated repository on loopback and
// has the real apt-get update from it, download binary and source packages.
func TestAPTUpdateAndDownload(t *testing.T) {
	dir := t.TempDir()
	r := currentRepo(t, dir)
	if err := r.Write(); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, dir)
	key := writeKey(t, r.Signer)
	a := apttest.New(t, fmt.Sprintf(
		"deb [signed-by=%[1]s] %[2]s/ bookworm main contrib\n"+
			"deb-src [signed-by=%[1]s] %[2]s/ bookworm main\n"+
			"deb [signed-by=%[1]s] %[2]s/ bookworm-updates main\n", key, srv.url))

	_, stderr, err := a.RunWithStderr("update")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr, "W:") || strings.Contains(stderr, "E:") {
		t.Errorf("apt-get update warned:\n%s", stderr)
	}
	if !srv.requested("/dists/bookworm/InRelease") || !srv.requested("/by-hash/SHA256/") {
		t.Errorf("apt did not fetch InRelease and by-hash indices: %v", srv.paths)
	}

	policy, _, err := a.Exec("apt-cache", "policy", "hello", "tzdata", "docs-common")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Candidate: 2.10-3", "Candidate: 2026a-0+deb12u1", "Candidate: 3.0", "2.10-2"} {
		if !strings.Contains(policy, want) {
			t.Errorf("apt-cache policy lacks %q:\n%s", want, policy)
		}
	}

	tests := []struct {
		name  string
		args  []string
		files map[string]string // file in the download directory or cache -> pool path
	}{
		{"download binary", []string{"download", "hello"},
			map[string]string{"download/hello_2.10-3_amd64.deb": "pool/main/h/hello/hello_2.10-3_amd64.deb"}},
		{"download older version", []string{"download", "hello=2.10-2"},
			map[string]string{"download/hello_2.10-2_amd64.deb": "pool/main/h/hello/hello_2.10-2_amd64.deb"}},
		{"install download-only from the other suite", []string{"install", "--download-only", "tzdata"},
			map[string]string{"cache/archives/tzdata_2026a-0+deb12u1_all.deb": "pool/main/t/tzdata/tzdata_2026a-0+deb12u1_all.deb"}},
		{"source", []string{"source", "--download-only", "libfoo"},
			map[string]string{
				"download/libfoo_1.0-1.dsc":           "pool/main/libf/libfoo/libfoo_1.0-1.dsc",
				"download/libfoo_1.0.orig.tar.gz":     "pool/main/libf/libfoo/libfoo_1.0.orig.tar.gz",
				"download/libfoo_1.0-1.debian.tar.xz": "pool/main/libf/libfoo/libfoo_1.0-1.debian.tar.xz",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := a.Run(tt.args...); err != nil {
				t.Fatal(err)
			}
			for got, want := range tt.files {
				g, err := os.ReadFile(filepath.Join(a.Root(), got))
				if err != nil {
					t.Fatalf("apt did not fetch %s: %v", got, err)
				}
				if !bytes.Equal(g, readFile(t, filepath.Join(dir, want))) {
					t.Errorf("%s differs from %s", got, want)
				}
			}
		})
	}
}

// TestAPTRefusals checks that the real apt-get, run through apttest,
// refuses repositories it must refuse: this proves the helper is usable
// for expiry and signature tests.
func TestAPTRefusals(t *testing.T) {
	otherKey, err := pgp.GenerateKey("Someone Else", "x@example.invalid", pgp.AlgoEd25519)
	if err != nil {
		t.Fatal(err)
	}
	other, err := pgp.ParseSigner(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		mutate  func(r *repogen.Repo)
		wantErr string // "" = update must succeed
	}{
		{"valid", func(r *repogen.Repo) {}, ""},
		{"expired Valid-Until", func(r *repogen.Repo) { r.Suites[0].ValidUntil = time.Now().Add(-time.Hour) }, "is expired"},
		{"Date in the future", func(r *repogen.Repo) { r.Suites[0].Date = time.Now().Add(48 * time.Hour) }, "is not valid yet"},
		{"signed by another key", func(r *repogen.Repo) { r.Signer = other }, "NO_PUBKEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			r := currentRepo(t, dir)
			key := writeKey(t, r.Signer)
			r.Suites = r.Suites[:1]
			tt.mutate(r)
			if err := r.Write(); err != nil {
				t.Fatal(err)
			}
			srv := serve(t, dir)
			a := apttest.New(t, fmt.Sprintf("deb [signed-by=%s] %s/ bookworm main\n", key, srv.url))
			_, err := a.Run("update")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("apt-get update accepted the repository; want an error with %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("apt-get update error lacks %q:\n%v", tt.wantErr, err)
			}
		})
	}
}

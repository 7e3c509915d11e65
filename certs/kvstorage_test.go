package certs

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/catalog/sqlite"
)

func openKV(t *testing.T) *sqlite.Catalog {
	t.Helper()
	c, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestKVStorage: certmagic's storage semantics (missing keys are
// fs.ErrNotExist, directories exist and list, Stat tells keys from
// directories) on the catalog.
func TestKVStorage(t *testing.T) {
	ctx := context.Background()
	s := NewKVStorage(openKV(t), slog.New(slog.DiscardHandler))
	for _, k := range []string{"certificates/ca/example.org/example.org.crt", "certificates/ca/example.org/example.org.key", "acme/ca/users/a.json"} {
		if err := s.Store(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.Load(ctx, "certificates/ca/example.org/example.org.key"); err != nil || string(v) != "certificates/ca/example.org/example.org.key" {
		t.Errorf("Load = %q, %v", v, err)
	}
	if _, err := s.Load(ctx, "nothing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing): %v, want fs.ErrNotExist", err)
	}
	if !s.Exists(ctx, "certificates/ca") || s.Exists(ctx, "certificates/c") {
		t.Error("Exists of a directory, or of a partial name")
	}
	for _, tc := range []struct {
		dir       string
		recursive bool
		want      []string
	}{
		{"certificates", false, []string{"certificates/ca"}},
		{"certificates/ca/example.org", false, []string{"certificates/ca/example.org/example.org.crt", "certificates/ca/example.org/example.org.key"}},
		{"certificates", true, []string{"certificates/ca/example.org/example.org.crt", "certificates/ca/example.org/example.org.key"}},
		{"", false, []string{"acme", "certificates"}},
	} {
		got, err := s.List(ctx, tc.dir, tc.recursive)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("List(%q, %v) = %q, %v; want %q", tc.dir, tc.recursive, got, err, tc.want)
		}
	}
	if _, err := s.List(ctx, "nothing", false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List(missing): %v", err)
	}
	if ki, err := s.Stat(ctx, "certificates/ca"); err != nil || ki.IsTerminal {
		t.Errorf("Stat(dir) = %+v, %v", ki, err)
	}
	if ki, err := s.Stat(ctx, "acme/ca/users/a.json"); err != nil || !ki.IsTerminal || ki.Size != int64(len("acme/ca/users/a.json")) {
		t.Errorf("Stat(key) = %+v, %v", ki, err)
	}
	if err := s.Delete(ctx, "certificates/ca/example.org"); err != nil {
		t.Fatal(err)
	}
	if s.Exists(ctx, "certificates/ca/example.org/example.org.crt") {
		t.Error("Delete of a directory left a key under it")
	}
	if err := s.Delete(ctx, "nothing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Delete(missing): %v", err)
	}
}

// TestKVStorageLocks: two servers (two storages on one catalog) take a
// lock in turn; a lease held is renewed; one whose holder died expires.
func TestKVStorageLocks(t *testing.T) {
	ctx := context.Background()
	cat := openKV(t)
	a, b := NewKVStorage(cat, slog.New(slog.DiscardHandler)), NewKVStorage(cat, slog.New(slog.DiscardHandler))
	a.lease, b.lease, a.poll, b.poll = 200*time.Millisecond, 200*time.Millisecond, 10*time.Millisecond, 10*time.Millisecond
	if err := a.Lock(ctx, "issue_cert_example.org"); err != nil {
		t.Fatal(err)
	}
	// Held past its lease: a renews it, b waits.
	short, cancel := context.WithTimeout(ctx, 600*time.Millisecond)
	defer cancel()
	if err := b.Lock(short, "issue_cert_example.org"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("b took a held lock: %v", err)
	}
	if err := a.Unlock(ctx, "issue_cert_example.org"); err != nil {
		t.Fatal(err)
	}
	if err := b.Lock(ctx, "issue_cert_example.org"); err != nil {
		t.Fatal(err)
	}
	// b dies holding it (its renewal stops): a gets it once the lease ends.
	b.mu.Lock()
	b.held["issue_cert_example.org"]()
	b.mu.Unlock()
	start := time.Now()
	if err := a.Lock(ctx, "issue_cert_example.org"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a dead holder's lock took %s to expire", d)
	}
}

package storage

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/datadir"
)

// TestOpenEmbedded: with no backend configured, everything is in data_dir,
// where datadir says.
func TestOpenEmbedded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, &config.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info, err := s.Store.Put(ctx, bytes.NewReader([]byte("x")), blob.Digest{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Locker.Writer(ctx, "debian", false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if _, err := s.Catalog.Archives(ctx); err != nil {
		t.Fatal(err)
	}
	d := datadir.Dir(dir)
	for _, p := range []string{d.Catalog(), d.Blobs(), d.Locks()} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if entries, _ := os.ReadDir(d.Blobs() + "/sha256/" + info.Digest.String()[:2]); len(entries) != 1 {
		t.Errorf("the stored file is not under %s", d.Blobs())
	}
}

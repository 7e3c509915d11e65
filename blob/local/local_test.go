package local

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/blob/blobtest"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestOpenIsFile: serving uses sendfile, which needs the *os.File.
func TestOpenIsFile(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Put(ctx, bytes.NewReader([]byte("x")), blob.Digest{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := s.Open(ctx, info.Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := f.(*os.File); !ok {
		t.Errorf("Open returned %T, want *os.File for sendfile", f)
	}
}

// TestFailedPutLeavesNoTemp: a failed Put removes its temporary file.
func TestFailedPutLeavesNoTemp(t *testing.T) {
	ctx := context.Background()
	hello := []byte("hello")
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, bytes.NewReader(hello[:2]), blob.Sum(hello), 5); !errors.Is(err, blob.ErrMismatch) {
		t.Fatalf("Put of a truncated file = %v", err)
	}
	if _, err := s.Put(ctx, iotest.ErrReader(errors.New("reset")), blob.Sum(hello), 5); err == nil {
		t.Fatal("Put of a failing reader succeeded")
	}
	tmp, _ := os.ReadDir(filepath.Join(s.Root(), "tmp"))
	if len(tmp) != 0 {
		t.Fatalf("after failed Puts: %d temporary files", len(tmp))
	}
}

func TestCleanTemp(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	old, fresh := filepath.Join(s.Root(), "tmp", "put-old"), filepath.Join(s.Root(), "tmp", "put-fresh")
	os.WriteFile(old, []byte("x"), 0o644)
	os.WriteFile(fresh, []byte("y"), 0o644)
	long := time.Now().Add(-2 * time.Hour)
	os.Chtimes(old, long, long)
	if err := s.CleanTemp(context.Background(), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Error("an old temporary file survived")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a temporary file being written was removed")
	}
}

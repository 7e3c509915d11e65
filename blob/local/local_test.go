package local

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/blob/blobtest"
	"golang.org/x/sys/unix"
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

// TestUnflushedMarker: a Put leaves this process's marker until a Sync
// covers it; the marker of a process that died makes Open hash what was
// written since, delete what does not match its name, and drop the
// marker; a marker whose process lives is left alone.
func TestUnflushedMarker(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	markers := func() []string { m, _ := filepath.Glob(filepath.Join(dir, "unsynced-*")); return m }
	good, err := s.Put(ctx, strings.NewReader("a file written before the crash"), blob.Digest{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(markers()) != 1 {
		t.Fatalf("markers after an unflushed Put: %v", markers())
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if len(markers()) != 0 {
		t.Fatalf("markers after Sync: %v", markers())
	}

	// What a machine crash leaves: a marker nobody holds, made an hour
	// ago; a file older than it whose content is wrong (not suspect: it
	// was flushed before the marker), and since it one whose content
	// never reached the disk (zeros of the right size) and a good one.
	hourAgo := time.Now().Add(-time.Hour)
	stale := filepath.Join(dir, "unsynced-dead")
	os.WriteFile(stale, nil, 0o644)
	os.Chtimes(stale, hourAgo, hourAgo)
	put := func(content, name string, mtime time.Time) blob.Digest {
		d := blob.Sum([]byte(name))
		p := s.Path(d)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
		os.Chtimes(p, mtime, mtime)
		return d
	}
	lost := put(strings.Repeat("\x00", 12), "the lost file", time.Now())
	old := put("not its content", "an older file", hourAgo.Add(-time.Hour))
	os.Chtimes(s.Path(good.Digest), time.Now(), time.Now())

	// A live process's marker: held.
	live := filepath.Join(dir, "unsynced-live")
	lf, _ := os.Create(live)
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for d, want := range map[blob.Digest]bool{lost: false, old: true, good.Digest: true} {
		if _, err := s2.Stat(ctx, d); (err == nil) != want {
			t.Errorf("%s: stored %v after recovery, want %v", d, err == nil, want)
		}
	}
	if m := markers(); len(m) != 1 || m[0] != live {
		t.Errorf("markers after recovery: %v, want only the live one", m)
	}
}

// TestWalkInfo: Walk gives each stored file's size and modification time
// as the file system has them (a sweep keeps what was written after its
// cutoff by them), and skips what is not a stored file.
func TestWalkInfo(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := map[blob.Digest]blob.Info{}
	for i, content := range []string{"a", "bb", "ccc"} {
		d, n := blob.Sum([]byte(content)), int64(len(content))
		if _, err := s.Put(ctx, strings.NewReader(content), d, n); err != nil {
			t.Fatal(err)
		}
		mtime := time.Date(2020, 1, 2, 3, 4, 5, 600700800+i, time.UTC)
		if err := os.Chtimes(s.Path(d), mtime, mtime); err != nil {
			t.Fatal(err)
		}
		want[d] = blob.Info{Digest: d, Size: n, ModTime: mtime}
	}
	// Not stored files: a short name, a name of another shard.
	one := s.Path(blob.Sum([]byte("a")))
	os.WriteFile(filepath.Join(filepath.Dir(one), "stray"), nil, 0o644)
	os.WriteFile(filepath.Join(filepath.Dir(one), strings.Repeat("f", 64)), nil, 0o644)
	got := map[blob.Digest]blob.Info{}
	if err := s.Walk(ctx, func(i blob.Info) error { got[i.Digest] = i; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("Walk gave %d files, want %d: %v", len(got), len(want), got)
	}
	for d, w := range want {
		if g := got[d]; g.Size != w.Size || !g.ModTime.Equal(w.ModTime) {
			t.Errorf("%s: Walk gave size %d, mtime %v; want %d, %v", d, g.Size, g.ModTime, w.Size, w.ModTime)
		}
	}
}

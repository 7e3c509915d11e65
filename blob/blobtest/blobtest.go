// Package blobtest is the conformance suite of blob.Store: every
// implementation (the local directory, S3-compatible storage)
// runs Run against a fresh, empty store per test and must pass all of it.
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aptsnap/aptsnap/blob"
)

// Opener returns a new, empty store.
type Opener func(t *testing.T) blob.Store

// Run runs the whole suite against stores made by open.
func Run(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name string
		f    func(*testing.T, Opener)
	}{
		{"Put", testPut},
		{"PutStoredIsCheap", testPutStored},
		{"PutCanceled", testPutCanceled},
		{"ConcurrentPuts", testConcurrentPuts},
		{"DedupWalkDelete", testDedupWalkDelete},
		{"ReadBack", testReadBack},
		{"WalkStops", testWalkStops},
		{"WalkWhileDeleting", testWalkWhileDeleting},
		{"CleanTempKeepsStored", testCleanTemp},
		{"EndlessBody", testEndlessBody},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open) })
	}
}

var hello = []byte("hello, world\n")

// count is the number of files Walk reports.
func count(t *testing.T, s blob.Store) int {
	t.Helper()
	n := 0
	if err := s.Walk(context.Background(), func(blob.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func testPut(t *testing.T, open Opener) {
	ctx := context.Background()
	tests := []struct {
		name    string
		r       io.Reader
		want    blob.Digest
		size    int64
		wantErr error  // ErrMismatch
		errText string // the reader's error, passed on
	}{
		{name: "unchecked", r: bytes.NewReader(hello), size: -1},
		{name: "checked", r: bytes.NewReader(hello), want: blob.Sum(hello), size: int64(len(hello))},
		{name: "checked any size", r: bytes.NewReader(hello), want: blob.Sum(hello), size: -1},
		{name: "wrong digest", r: bytes.NewReader(hello), want: blob.Sum([]byte("other")), size: int64(len(hello)), wantErr: blob.ErrMismatch},
		{name: "wrong size", r: bytes.NewReader(hello), want: blob.Sum(hello), size: 3, wantErr: blob.ErrMismatch},
		{name: "truncated", r: bytes.NewReader(hello[:5]), want: blob.Sum(hello), size: int64(len(hello)), wantErr: blob.ErrMismatch},
		{name: "reader error", r: iotest.ErrReader(errors.New("connection reset")), want: blob.Sum(hello), size: int64(len(hello)), errText: "connection reset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			info, err := s.Put(ctx, tt.r, tt.want, tt.size)
			switch {
			case tt.errText != "":
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("Put = %v, want the reader's error", err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Put error = %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			}
			if err != nil {
				if n := count(t, s); n != 0 {
					t.Fatalf("a failed Put left %d stored files", n)
				}
				if _, err := s.Stat(ctx, blob.Sum(hello)); !errors.Is(err, blob.ErrNotFound) {
					t.Fatalf("Stat after a failed Put = %v, want ErrNotFound", err)
				}
				return
			}
			if info.Digest != blob.Sum(hello) || info.Size != int64(len(hello)) {
				t.Fatalf("info = %+v", info)
			}
			st, err := s.Stat(ctx, info.Digest)
			if err != nil || st.Digest != info.Digest || st.Size != info.Size || st.ModTime.IsZero() {
				t.Fatalf("Stat = %+v, %v", st, err)
			}
		})
	}
}

// testPutStored: putting content already stored, with its digest given,
// is cheap: it need not read what it is given.
func testPutStored(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	if _, err := s.Put(ctx, bytes.NewReader(hello), blob.Sum(hello), int64(len(hello))); err != nil {
		t.Fatal(err)
	}
	info, err := s.Put(ctx, iotest.ErrReader(errors.New("must not be read")), blob.Sum(hello), int64(len(hello)))
	if err != nil || info.Digest != blob.Sum(hello) || info.Size != int64(len(hello)) {
		t.Fatalf("Put of stored content = %+v, %v", info, err)
	}
}

// slowReader hands out one byte per read, cancelling ctx after some.
type slowReader struct {
	data   []byte
	cancel func()
	after  int
	n      int
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.n == r.after {
		r.cancel()
	}
	if r.n >= len(r.data) {
		return 0, io.EOF
	}
	p[0] = r.data[r.n]
	r.n++
	return 1, nil
}

// testPutCanceled: a Put whose context ends stops, stores nothing.
func testPutCanceled(t *testing.T, open Opener) {
	s := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	data := bytes.Repeat([]byte("x"), 1<<16)
	_, err := s.Put(ctx, &slowReader{data: data, cancel: cancel, after: 100}, blob.Digest{}, -1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a canceled context = %v, want context.Canceled", err)
	}
	if n := count(t, s); n != 0 {
		t.Fatalf("a canceled Put left %d stored files", n)
	}
}

// testConcurrentPuts: writers storing the same content at once all
// succeed, and it is stored once, whole.
func testConcurrentPuts(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	data := bytes.Repeat([]byte("concurrent "), 10000)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			if _, err := s.Put(ctx, bytes.NewReader(data), blob.Sum(data), int64(len(data))); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := s.ReadFile(ctx, blob.Sum(data), nil)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, %v; want %d", len(got), err, len(data))
	}
	if n := count(t, s); n != 1 {
		t.Fatalf("%d stored files, want 1", n)
	}
}

func testDedupWalkDelete(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	for _, c := range []string{"a", "b", "a"} {
		if _, err := s.Put(ctx, strings.NewReader(c), blob.Digest{}, -1); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[blob.Digest]blob.Info{}
	if err := s.Walk(ctx, func(i blob.Info) error { seen[i.Digest] = i; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[blob.Sum([]byte("a"))].Size != 1 || seen[blob.Sum([]byte("b"))].ModTime.IsZero() {
		t.Fatalf("walk saw %+v, want a and b once each (content stored once)", seen)
	}
	a := blob.Sum([]byte("a"))
	if err := s.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, a); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.Stat(ctx, a); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat after delete = %v, want ErrNotFound", err)
	}
	if _, _, err := s.Open(ctx, a); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open after delete = %v, want ErrNotFound", err)
	}
	if _, err := s.ReadFile(ctx, a, nil); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("ReadFile after delete = %v, want ErrNotFound", err)
	}
	if n := count(t, s); n != 1 {
		t.Fatalf("%d files after deleting one of two", n)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// testReadBack: Open seeks and reads, ReadFile appends to its buffer.
func testReadBack(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	info, err := s.Put(ctx, bytes.NewReader(hello), blob.Digest{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	f, st, err := s.Open(ctx, info.Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if st.Size != int64(len(hello)) || st.Digest != info.Digest {
		t.Errorf("Open info = %+v", st)
	}
	if _, err := f.Seek(7, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(f)
	if err != nil || string(rest) != "world\n" {
		t.Errorf("read from offset 7: %q, %v", rest, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(all, hello) {
		t.Errorf("read after seeking back: %q, %v", all, err)
	}
	for _, buf := range [][]byte{nil, make([]byte, 0, 3), []byte("prefix:")} {
		got, err := s.ReadFile(ctx, info.Digest, buf)
		if err != nil || string(got) != string(buf)+string(hello) {
			t.Errorf("ReadFile(%q) = %q, %v", buf, got, err)
		}
	}
}

// testWalkStops: Walk returns fn's error and stops.
func testWalkStops(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	for i := range 20 {
		if _, err := s.Put(ctx, strings.NewReader(fmt.Sprint(i)), blob.Digest{}, -1); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := s.Walk(ctx, func(blob.Info) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("Walk = %v after %d calls, want fn's error after 3", err, n)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Walk(canceled, func(blob.Info) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Walk with a canceled context = %v", err)
	}
}

// testWalkWhileDeleting: a walk whose fn deletes what it was given, in
// batches, as gc's sweep does, still reports every file once.
func testWalkWhileDeleting(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	const n = 45
	for i := range n {
		if _, err := s.Put(ctx, strings.NewReader(fmt.Sprint("file ", i)), blob.Digest{}, -1); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[blob.Digest]int{}
	var batch []blob.Digest
	del := func() error {
		for _, d := range batch {
			if err := s.Delete(ctx, d); err != nil {
				return err
			}
		}
		batch = batch[:0]
		return nil
	}
	err := s.Walk(ctx, func(i blob.Info) error {
		seen[i.Digest]++
		if batch = append(batch, i.Digest); len(batch) == 4 {
			return del()
		}
		return nil
	})
	if err == nil {
		err = del()
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Errorf("Walk reported %d of %d files while deleting them", len(seen), n)
	}
	for d, k := range seen {
		if k != 1 {
			t.Errorf("Walk reported %x %d times", d, k)
		}
	}
	if k := count(t, s); k != 0 {
		t.Errorf("%d files left after deleting every one reported", k)
	}
}

// testCleanTemp: cleaning leftovers of dead writers never touches stored files.
func testCleanTemp(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	if _, err := s.Put(ctx, bytes.NewReader(hello), blob.Digest{}, -1); err != nil {
		t.Fatal(err)
	}
	if err := s.CleanTemp(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, blob.Sum(hello)); err != nil {
		t.Fatalf("CleanTemp removed a stored file: %v", err)
	}
}

// endless is a reader that never ends, counting what it hands out.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	e.n += int64(len(p))
	return len(p), nil
}

// testEndlessBody: with a size, Put reads no more than one byte past it:
// a body that never ends is refused, not stored until the disk is full.
func testEndlessBody(t *testing.T, open Opener) {
	s := open(t)
	for _, want := range []blob.Digest{blob.Sum(hello), {}} {
		r := &endless{}
		_, err := s.Put(context.Background(), r, want, 700)
		if !errors.Is(err, blob.ErrMismatch) {
			t.Fatalf("Put of an endless body = %v, want ErrMismatch", err)
		}
		if r.n > 701 {
			t.Errorf("Put read %d bytes of a body listed at 700", r.n)
		}
	}
	if n := count(t, s); n != 0 {
		t.Fatalf("an endless body left %d stored files", n)
	}
}

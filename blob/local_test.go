package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestLocalPut(t *testing.T) {
	ctx := context.Background()
	hello := []byte("hello, world\n")
	tests := []struct {
		name    string
		r       io.Reader
		want    Digest
		size    int64
		wantErr error
	}{
		{"unchecked", bytes.NewReader(hello), Digest{}, -1, nil},
		{"checked", bytes.NewReader(hello), Sum(hello), int64(len(hello)), nil},
		{"checked any size", bytes.NewReader(hello), Sum(hello), -1, nil},
		{"wrong digest", bytes.NewReader(hello), Sum([]byte("other")), int64(len(hello)), ErrMismatch},
		{"wrong size", bytes.NewReader(hello), Sum(hello), 3, ErrMismatch},
		{"truncated", bytes.NewReader(hello[:5]), Sum(hello), int64(len(hello)), ErrMismatch},
		{"reader error", iotest.ErrReader(errors.New("connection reset")), Sum(hello), int64(len(hello)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := OpenLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			info, err := s.Put(ctx, tt.r, tt.want, tt.size)
			if tt.name == "reader error" {
				if err == nil || !strings.Contains(err.Error(), "connection reset") {
					t.Fatalf("Put = %v, want the reader's error", err)
				}
				assertEmpty(t, s)
				return
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Put error = %v, want %v", err, tt.wantErr)
				}
				assertEmpty(t, s)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Digest != Sum(hello) || info.Size != int64(len(hello)) {
				t.Fatalf("info = %+v", info)
			}
			f, st, err := s.Open(ctx, info.Digest)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, _ := io.ReadAll(f)
			if !bytes.Equal(got, hello) || st.Size != int64(len(hello)) {
				t.Fatalf("read back %q (size %d)", got, st.Size)
			}
			if _, ok := f.(*os.File); !ok {
				t.Errorf("Open returned %T, want *os.File for sendfile", f)
			}
			for _, buf := range [][]byte{nil, make([]byte, 0, 3), []byte("prefix:")} {
				got, err := s.ReadFile(ctx, info.Digest, buf)
				if err != nil || string(got) != string(buf)+string(hello) {
					t.Errorf("ReadFile(%q) = %q, %v", buf, got, err)
				}
			}
		})
	}
}

// assertEmpty checks that a failed Put left neither a stored file nor a temporary one.
func assertEmpty(t *testing.T, s *Local) {
	t.Helper()
	n := 0
	s.Walk(context.Background(), func(Info) error { n++; return nil })
	tmp, _ := os.ReadDir(filepath.Join(s.Root(), "tmp"))
	if n != 0 || len(tmp) != 0 {
		t.Fatalf("after a failed Put: %d stored files, %d temporary files", n, len(tmp))
	}
}

func TestLocalDedupWalkDelete(t *testing.T) {
	ctx := context.Background()
	s, err := OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"a", "b", "a"} {
		if _, err := s.Put(ctx, strings.NewReader(c), Digest{}, -1); err != nil {
			t.Fatal(err)
		}
	}
	var seen []Digest
	if err := s.Walk(ctx, func(i Info) error { seen = append(seen, i.Digest); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 {
		t.Fatalf("walk saw %d files, want 2 (content stored once)", len(seen))
	}
	if err := s.Delete(ctx, Sum([]byte("a"))); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, Sum([]byte("a"))); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.Stat(ctx, Sum([]byte("a"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat after delete = %v, want ErrNotFound", err)
	}
	if _, _, err := s.Open(ctx, Sum([]byte("a"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open after delete = %v, want ErrNotFound", err)
	}
	if _, err := s.ReadFile(ctx, Sum([]byte("a")), nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadFile after delete = %v, want ErrNotFound", err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestParseDigest(t *testing.T) {
	good := Sum([]byte("x")).String()
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{good, true},
		{strings.ToUpper(good), true},
		{good[:63], false},
		{good + "0", false},
		{"zz" + good[2:], false},
		{"", false},
		{"../../etc/passwd", false},
	} {
		d, err := ParseDigest(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseDigest(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if tt.ok && d.String() != good {
			t.Errorf("ParseDigest(%q) = %s", tt.in, d)
		}
	}
}

func TestCleanTemp(t *testing.T) {
	s, err := OpenLocal(t.TempDir())
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

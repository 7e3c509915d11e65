package gc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/blob/local"
	"github.com/aptsnap/aptsnap/gc"
	"github.com/aptsnap/aptsnap/internal/testenv"
)

// sweepStore is a local store whose Delete can fail on one file, or
// cancel the GC's context after some deletions.
type sweepStore struct {
	*local.Store
	fail   blob.Digest
	cancel func()
	after  int

	mu      sync.Mutex
	deleted int
}

func (s *sweepStore) Delete(ctx context.Context, d blob.Digest) error {
	if d == s.fail {
		return errors.New("disk on fire")
	}
	if err := s.Store.Delete(ctx, d); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleted++
	if s.cancel != nil && s.deleted == s.after {
		s.cancel()
	}
	return nil
}

// TestGCSweepStops: a sweep stops when its context ends (a server shutting
// down, an admin's request gone) or a deletion fails, and what GC reports
// deleted is what was.
func TestGCSweepStops(t *testing.T) {
	const files = 200
	for _, tc := range []struct {
		name    string
		fail    bool
		cancel  bool
		wantErr error
	}{
		{"canceled", false, true, context.Canceled},
		{"a delete fails", true, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			env := testenv.New(t)
			local := env.Store
			st := &sweepStore{Store: local}
			old := time.Now().Add(-time.Hour)
			var sizes int64
			for i := range files {
				data := fmt.Appendf(nil, "unreferenced file %d", i)
				info, err := local.Put(ctx, bytes.NewReader(data), blob.Digest{}, -1)
				if err != nil {
					t.Fatal(err)
				}
				os.Chtimes(local.Path(info.Digest), old, old)
				sizes += info.Size
				if tc.fail && i == files/2 {
					st.fail = info.Digest
				}
			}
			if tc.cancel {
				st.cancel, st.after = cancel, 10
			}
			c := gc.New(gc.Options{Catalog: env.Catalog, Store: st, Locker: env.Locker, Log: env.Log})
			res, err := c.Run(ctx, false)
			if err == nil {
				t.Fatalf("GC: no error; %d files, %d bytes", res.Files, res.Bytes)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("GC: %v, want %v", err, tc.wantErr)
			}
			left := 0
			local.Walk(context.Background(), func(blob.Info) error { left++; return nil })
			if tc.cancel && left < files/2 {
				t.Errorf("the sweep went on after its context ended: %d of %d files left", left, files)
			}
			if res.Files != st.deleted || res.Files != files-left {
				t.Errorf("GC reports %d files deleted; %d were, %d of %d left", res.Files, st.deleted, left, files)
			}
			if res.Files == files && res.Bytes != sizes {
				t.Errorf("GC reports %d bytes, %d deleted", res.Bytes, sizes)
			}
		})
	}
}

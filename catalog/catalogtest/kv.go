package catalogtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
)

// KVOpener returns an empty KV for one test (two calls within a test may
// share the store: RunKV opens once per case).
type KVOpener func(t *testing.T) catalog.KV

// RunKV runs the conformance suite of catalog.KV.
func RunKV(t *testing.T, open KVOpener) {
	t.Run("Values", func(t *testing.T) { testKVValues(t, open(t)) })
	t.Run("Locks", func(t *testing.T) { testKVLocks(t, open(t)) })
}

func testKVValues(t *testing.T, kv catalog.KV) {
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	for k, v := range map[string]string{"acme/a/cert": "1", "acme/a/key": "2", "acme/ab": "3", "other": "4"} {
		if err := kv.KVPut(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.KVPut(ctx, "acme/a/cert", []byte("1b")); err != nil {
		t.Fatal(err)
	}
	v, mod, err := kv.KVGet(ctx, "acme/a/cert")
	if err != nil || string(v) != "1b" || mod.Before(before) || mod.After(time.Now().Add(time.Second)) {
		t.Errorf("KVGet = %q, %v, %v", v, mod, err)
	}
	if _, _, err := kv.KVGet(ctx, "acme/a"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("KVGet of a directory: %v, want ErrNotFound", err)
	}
	if err := kv.KVPut(ctx, "big", bytes.Repeat([]byte("x"), catalog.MaxKV+1)); !errors.Is(err, errdefs.ErrTooLarge) {
		t.Errorf("a value over MaxKV: %v, want ErrTooLarge", err)
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"acme/", []string{"acme/a/cert", "acme/a/key", "acme/ab"}},
		{"acme/a/", []string{"acme/a/cert", "acme/a/key"}},
		{"acme/a%", nil}, // no pattern matching
		{"", []string{"acme/a/cert", "acme/a/key", "acme/ab", "other"}},
	} {
		if got, err := kv.KVList(ctx, tc.prefix); err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("KVList(%q) = %q, %v; want %q", tc.prefix, got, err, tc.want)
		}
	}
	// Deleting a directory deletes what is under it, not its siblings.
	if err := kv.KVDelete(ctx, "acme/a"); err != nil {
		t.Fatal(err)
	}
	if got, _ := kv.KVList(ctx, ""); !slices.Equal(got, []string{"acme/ab", "other"}) {
		t.Errorf("after KVDelete(acme/a): %q", got)
	}
	if err := kv.KVDelete(ctx, "nothing"); err != nil {
		t.Errorf("deleting nothing: %v", err)
	}
}

func testKVLocks(t *testing.T, kv catalog.KV) {
	ctx := context.Background()
	take := func(owner string, ttl time.Duration) bool {
		t.Helper()
		ok, err := kv.KVLock(ctx, "issue/example.org", owner, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !take("a", time.Minute) {
		t.Fatal("a free lock was not taken")
	}
	if take("b", time.Minute) {
		t.Error("a held lock was taken by another")
	}
	if !take("a", time.Minute) {
		t.Error("its owner could not extend a lock")
	}
	if err := kv.KVUnlock(ctx, "issue/example.org", "b"); err != nil {
		t.Fatal(err)
	}
	if take("b", time.Minute) {
		t.Error("another's unlock released a lock")
	}
	if err := kv.KVUnlock(ctx, "issue/example.org", "a"); err != nil {
		t.Fatal(err)
	}
	if !take("b", 50*time.Millisecond) {
		t.Fatal("a released lock was not taken")
	}
	time.Sleep(100 * time.Millisecond)
	if !take("c", time.Minute) {
		t.Error("an expired lock was not taken")
	}
	// At once: one owner gets it.
	var wg sync.WaitGroup
	var wins atomic.Int32
	for i := range 8 {
		wg.Go(func() {
			ok, err := kv.KVLock(ctx, "race", fmt.Sprint("owner", i), time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d owners took one lock at once", wins.Load())
	}
}

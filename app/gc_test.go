package app

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/internal/testenv"
	"github.com/aptsnap/aptsnap/repogen"
)

// TestGCInBackground: while a schedule runs, GC returns once the catalog
// is committed and records the sweep it leaves; nothing is deleted until
// the leader's background sweeper runs, which (as at a server's start
// after a kill) finds the sweep pending, deletes what the dry run
// promised, and clears the record.
func TestGCInBackground(t *testing.T) {
	ctx := context.Background()
	up := testenv.NewUpstream(t)
	suite := func(v string) repogen.Suite {
		return repogen.Suite{Name: "stable", Architectures: []string{"amd64"}, Date: time.Now().Add(-time.Hour),
			Components: map[string][]repogen.Package{"main": {{Name: "hello", Version: v, Arch: "amd64"}}}}
	}
	a := openOneArchive(t, ctx, up, "")
	up.Write(suite("1.0"))
	old, err := a.Pulse(ctx, "debian")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // a later Date, a second serial
	up.Write(suite("2.0"))
	if _, err := a.Pulse(ctx, "debian"); err != nil {
		t.Fatal(err)
	}
	// A month later: both have expired; the newest stays (stale).
	a.Now = func() time.Time { return time.Now().Add(30 * 24 * time.Hour) }
	time.Sleep(1100 * time.Millisecond) // the files older than any writer
	dry, err := a.GC(ctx, true)
	if err != nil || dry.Files == 0 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}

	a.sweeper.Store(true) // as serve with its schedule
	res, err := a.GC(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Background || len(res.Expired) != 1 || res.Files != 0 {
		t.Fatalf("gc while serving: %+v", res)
	}
	if _, err := a.Catalog.Snapshot(ctx, "debian", old.Serial); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("the collected snapshot is still in the catalog: %v", err)
	}
	if d, _ := a.GC(ctx, true); d.Files != dry.Files {
		t.Fatalf("files went before the sweep: dry run now %+v, before %+v", d, dry)
	}
	kv := a.Catalog.(catalog.KV)
	if _, _, err := kv.KVGet(ctx, sweepPendingKey); err != nil {
		t.Fatalf("no sweep recorded: %v", err)
	}

	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { a.sweepInBackground(sctx); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, err := a.GC(ctx, true)
		if err == nil && d.Files == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background sweep did not delete the files: %+v %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for time.Now().Before(deadline) {
		if _, _, err := kv.KVGet(ctx, sweepPendingKey); errors.Is(err, catalog.ErrNotFound) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, _, err := kv.KVGet(ctx, sweepPendingKey); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("the sweep record stays after the sweep: %v", err)
	}
	cancel()
	<-done
}

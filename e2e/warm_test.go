package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestServeWarmsPackageLists: a server started on snapshots that have no
// web UI package lists (made by an older build, or lists lost) writes them
// in the background, one per distinct Packages index.
func TestServeWarmsPackageLists(t *testing.T) {
	e := newEnv(t)
	e.mustPulse()
	e.up.write(1)
	e.mustPulse()
	dir := filepath.Join(e.cfg.DataDir, "cache", "packages")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.app.ServeListeners(ctx, ln, nil, false) }()
	var n int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ents, _ := os.ReadDir(dir)
		if n = len(ents); n >= 4 {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Two generations: bookworm's Packages changed (2 lists),
	// bookworm-updates' too (2 lists).
	if n != 4 {
		t.Errorf("%d package lists written at start, want 4", n)
	}
}

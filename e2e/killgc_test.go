package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/app"
	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/blob/local"
	"github.com/aptsnap/aptsnap/config"
)

// TestKillDuringGC kills `aptsnap gc` with SIGKILL at several points, then
// lets a last run finish: verify is clean, every live file is there, and
// the store holds no file that no snapshot needs.
func TestKillDuringGC(t *testing.T) {
	bin := aptsnapBinary(t)
	e := newEnv(t)
	e.pulseAt(time.Now().Add(-20 * 24 * time.Hour)) // expired
	e.up.write(1, manyPackages(30))
	e.pulseAt(time.Now().Add(-19 * 24 * time.Hour)) // expired
	e.up.write(2)
	live := e.mustPulse()
	livePrints := e.fingerprint(live.Serial)
	e.app.Close()
	cfgPath := e.writeConfig(t)

	// Leftovers of killed pulses, enough that a sweep takes a while.
	store, err := local.Open(filepath.Join(e.cfg.DataDir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		if _, err := store.Put(context.Background(), bytes.NewReader([]byte(fmt.Sprintf("garbage %d", i))), blob.Digest{}, -1); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	store.Walk(context.Background(), func(i blob.Info) error { return os.Chtimes(store.Path(i.Digest), old, old) })

	for _, delay := range []time.Duration{0, 2 * time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond, 80 * time.Millisecond, 200 * time.Millisecond} {
		cmd := exec.Command(bin, "--config", cfgPath, "gc")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	if out, err := exec.Command(bin, "--config", cfgPath, "gc").CombinedOutput(); err != nil {
		t.Fatalf("gc after kills: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "--config", cfgPath, "verify").CombinedOutput(); err != nil {
		t.Fatalf("verify after kills: %v\n%s", err, out)
	}

	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	dry, err := a.GC(context.Background(), true)
	if err != nil || dry.Files != 0 || len(dry.Expired) != 0 {
		t.Fatalf("after the last gc, a dry run would still delete %d files, %d snapshots (%v)", dry.Files, len(dry.Expired), err)
	}
	snaps, _ := a.Snapshots(context.Background(), "debian")
	if len(snaps) != 1 || snaps[0].Serial != live.Serial {
		t.Fatalf("snapshots left: %+v", snaps)
	}
	// The live snapshot serves exactly as before.
	e.app = a
	h := a.Handler()
	e.srv.Config.Handler = h
	for p, body := range livePrints {
		if code, got := e.get(pathFor(p, live.Serial)); code != 200 || got != body {
			t.Errorf("%s after gc kills: %d", p, code)
		}
	}
}

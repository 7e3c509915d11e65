package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/app"
	"github.com/aptsnap/aptsnap/config"
)

// TestGCSweepsInBackground: a GC asked of a server with its schedule
// answers once the catalog is committed: the collected snapshot is gone
// from serving at once, and the server's background sweep deletes its
// files soon after.
func TestGCSweepsInBackground(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := newUpstream(t)
	up.write(0)
	cfg, err := config.Parse(fmt.Appendf(nil, "data_dir = %q\nlisten = %q\n\n[[archive]]\nname = \"debian\"\nurl = %q\nkeyring = %q\n"+
		"suites = [\"bookworm\"]\ncomponents = [\"main\"]\narchitectures = [\"amd64\"]\n",
		filepath.Join(t.TempDir(), "data"), ln.Addr().String(), up.url(), up.keyring))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(ctx, cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.SweepPoll = 200 * time.Millisecond
	old, err := a.Pulse(ctx, "debian")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	up.write(1)
	if _, err := a.Pulse(ctx, "debian"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // files older than any writer
	a.Now = func() time.Time { return time.Now().Add(60 * 24 * time.Hour) }
	done := make(chan error, 1)
	go func() { done <- a.ServeListeners(ctx, ln, nil, true) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	inRelease := "http://" + ln.Addr().String() + "/debian/" + old.Serial + "/dists/bookworm/InRelease"
	status := func() int {
		resp, err := http.Get(inRelease)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 0; status() != 200; i++ {
		if i > 100 {
			t.Fatal("the old snapshot is not served")
		}
		time.Sleep(50 * time.Millisecond)
	}
	dry, err := a.GC(ctx, true)
	if err != nil || dry.Files == 0 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	res, err := a.GC(ctx, false)
	if err != nil || !res.Background || len(res.Expired) != 1 {
		t.Fatalf("gc: %+v %v", res, err)
	}
	if code := status(); code != 404 {
		t.Errorf("the collected snapshot answers %d right after gc", code)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		d, err := a.GC(ctx, true)
		if err == nil && d.Files == 0 && d.Kept > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not sweep: dry run %+v %v", d, err)
		}
	}
}

package e2e

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/demo"
	"github.com/aptsnap/aptsnap/internal/apttest"
)

// TestDemo runs what the README's first command runs (aptsnap demo) and
// points the real apt-get at it; a second run takes a new snapshot of the
// next upstream generation.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	var serials []string
	for run := range 2 {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- demo.Run(ctx, dir, addr, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
		var trace string
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			resp, err := http.Get("http://" + addr + "/demo/project/trace/demo")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					trace = string(b)
					break
				}
			}
		}
		serial, ok := strings.CutPrefix(strings.SplitN(trace, "\n", 2)[0], "Archive serial: ")
		if !ok {
			cancel()
			t.Fatalf("run %d: no trace: %q", run, trace)
		}
		serials = append(serials, serial)
		a := apttest.New(t, "deb [signed-by="+filepath.Join(dir, "aptsnap.asc")+"] http://"+addr+"/demo/"+serial+"/ stable main\n")
		if out, err := a.Run("update"); err != nil {
			t.Fatalf("apt-get update against the demo: %v\n%s", err, out)
		}
		out, _, err := a.Exec("apt-cache", "policy", "hello")
		if want := "Candidate: 2.10-" + string(rune('1'+run)); err != nil || !strings.Contains(out, want) {
			t.Fatalf("run %d: apt-cache policy hello: %v\n%s\nwant %s", run, err, out, want)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("demo.Run: %v", err)
		}
	}
	if serials[0] == serials[1] {
		t.Fatalf("second demo run served the same serial %s", serials[0])
	}
}

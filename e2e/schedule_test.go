package e2e

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestServeSchedulesFirstPulse: a server with no snapshot yet pulses at
// once, then serves the new serial.
func TestServeSchedulesFirstPulse(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.app.ServeListener(ctx, ln, true) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if s := e.serials(); len(s) == 1 {
			code, body := e.get("/debian/project/trace/debian")
			if code != 200 || !strings.Contains(body, s[0]) {
				t.Fatalf("trace: %d %q", code, body)
			}
			return
		}
	}
	t.Fatal("no scheduled pulse within 20s")
}

// TestFlakyUpstreamRetried: pool downloads that fail once (503, or a
// connection dropped mid-body) are retried and the pulse succeeds.
func TestFlakyUpstreamRetried(t *testing.T) {
	e := newEnv(t)
	e.mustPulse()
	e.up.write(1, manyPackages(10))
	var mu sync.Mutex
	failed := map[string]bool{}
	e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, ".deb") {
			return false
		}
		mu.Lock()
		first := !failed[r.URL.Path]
		failed[r.URL.Path] = true
		mu.Unlock()
		if !first {
			return false
		}
		if len(failed)%2 == 0 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		} else {
			w.Header().Set("Content-Length", "100000")
			w.Write([]byte("partial"))
		}
		return true
	})
	snap, err := e.pulse()
	if err != nil {
		t.Fatalf("pulse through transient failures: %v", err)
	}
	if len(failed) < 10 {
		t.Fatalf("only %d pool files were requested", len(failed))
	}
	e.fingerprint(snap.Serial)
	if v, err := e.app.Verify(t.Context(), "", ""); err != nil || len(v.Problems) > 0 {
		t.Fatalf("verify: %v %v", v.Problems, err)
	}
}

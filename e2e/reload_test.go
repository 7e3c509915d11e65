package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/api"
)

// syncBuffer is a bytes.Buffer safe to write from a process's output
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeReload: SIGHUP makes serve read its configuration again: a
// custom archive added is served, while clients on kept-alive connections
// see no error; a configuration that does not load, or that changes what
// only a restart changes, is refused and the one in use stays.
func TestServeReload(t *testing.T) {
	bin := aptsnapBinary(t)
	e := newEnv(t)
	cfg := e.writeConfig(t)
	c := &cli{t: t, bin: bin, config: cfg}
	c.local("pulse", "debian")
	base, _ := os.ReadFile(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	write := func(extra string) {
		if err := os.WriteFile(cfg, []byte("listen = \""+addr+"\"\n"+string(base)+extra), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	cmd := exec.Command(bin, "--config", cfg, "serve", "--no-schedule")
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	url := "http://" + addr
	archives := func() []string {
		t.Helper()
		resp, err := http.Get(url + "/api/v1/archives")
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var list []api.Archive
		json.NewDecoder(resp.Body).Decode(&list)
		var names []string
		for _, a := range list {
			names = append(names, a.Name)
		}
		return names
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for range 200 {
			if ok() {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: never\n%s", what, logs.String())
	}
	waitFor("serving debian", func() bool { return strings.Join(archives(), " ") == "debian" })

	// Clients on kept-alive connections, all along.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(url + "/debian/project/trace/debian")
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		})
	}

	// A custom archive added: served after SIGHUP.
	write(strings.ReplaceAll(customConfig(""), "{{PORT}}", addr[strings.LastIndex(addr, ":")+1:]))
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor("the custom archive served after a reload", func() bool { return strings.Join(archives(), " ") == "debian ours" })
	if !strings.Contains(logs.String(), "configuration reloaded") {
		t.Errorf("no reload line:\n%s", logs.String())
	}

	// A broken file, then a change of listen: refused, nothing changes.
	os.WriteFile(cfg, []byte("listen = \""+addr+"\"\n"+string(base)+"\n[[custom]]\nname = 7\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor("a broken configuration refused", func() bool { return strings.Count(logs.String(), "configuration not reloaded") == 1 })
	os.WriteFile(cfg, []byte("listen = \"127.0.0.1:1\"\n"+string(base)), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor("a change of listen refused", func() bool { return strings.Contains(logs.String(), "listen changed: that needs a restart") })
	if got := strings.Join(archives(), " "); got != "debian ours" {
		t.Errorf("after refused reloads the archives are %q", got)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Errorf("through the reloads: %d requests failed (first: %v), %d passed", failed.Load(), firstErr.Load(), ok.Load())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v\n%s", err, logs.String())
	}
}

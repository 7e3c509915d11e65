package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/repogen"
)

// aptsnapBin is the aptsnap binary built once for the tests that run it as
// a separate process.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func aptsnapBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "aptsnap-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "aptsnap")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/aptsnap").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// writeConfig writes e's configuration to a file for the binary.
func (e *env) writeConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "aptsnap.toml")
	text := fmt.Sprintf("data_dir = %q\npublic_url = %q\nparallel_downloads = 2\n\n[[archive]]\nname = \"debian\"\nurl = %q\nkeyring = %q\n"+
		"suites = [\"bookworm\", \"bookworm-updates\"]\ncomponents = [\"main\"]\narchitectures = [\"amd64\"]\n",
		e.cfg.DataDir, e.cfg.PublicURL, e.up.url(), e.up.keyring)
	if err := os.WriteFile(p, []byte(text+e.extra), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func manyPackages(n int) func(*repogen.Repo) {
	return func(r *repogen.Repo) {
		for i := range n {
			r.Suites[0].Components["main"] = append(r.Suites[0].Components["main"],
				repogen.Package{Name: fmt.Sprintf("filler%03d", i), Version: "1.0-1", Arch: "amd64"})
		}
	}
}

// TestKillDuringPulse kills aptsnap with SIGKILL in the middle of a pulse
// (while fetching indices, while downloading pool files), then runs the
// pulse again: it completes, and verify finds nothing corrupt.
func TestKillDuringPulse(t *testing.T) {
	bin := aptsnapBinary(t)
	for _, tt := range []struct {
		name  string
		block func(path string, n int) bool // block the n-th request for path?
	}{
		{"fetching indices", func(p string, n int) bool { return strings.Contains(p, "/binary-amd64/") }},
		{"downloading pool", func(p string, n int) bool { return strings.HasSuffix(p, ".deb") && n >= 7 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.app.Close() // the binary owns the data directory from here on
			cfg := e.writeConfig(t)
			run := func() (string, error) {
				out, err := exec.Command(bin, "--config", cfg, "pulse", "debian").CombinedOutput()
				return string(out), err
			}
			if out, err := run(); err != nil {
				t.Fatalf("first pulse: %v\n%s", err, out)
			}
			e.up.write(1, manyPackages(40))

			blocked := make(chan struct{}, 1)
			release := make(chan struct{})
			var mu sync.Mutex
			count := map[bool]int{}
			e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
				mu.Lock()
				isDeb := strings.HasSuffix(r.URL.Path, ".deb")
				count[isDeb]++
				n := count[isDeb]
				mu.Unlock()
				if tt.block(r.URL.Path, n) {
					select {
					case blocked <- struct{}{}:
					default:
					}
					<-release
					return true
				}
				return false
			})
			cmd := exec.Command(bin, "--config", cfg, "pulse", "debian")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-blocked:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatal("the pulse never reached the blocking point")
			}
			time.Sleep(100 * time.Millisecond) // let the other workers store what they have
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			close(release)
			e.up.setFault(nil)

			out, err := run()
			if err != nil {
				t.Fatalf("pulse after kill -9: %v\n%s", err, out)
			}
			vout, err := exec.Command(bin, "--config", cfg, "verify").CombinedOutput()
			if err != nil || !strings.Contains(string(vout), "checked: ok") {
				t.Fatalf("verify after kill -9: %v\n%s", err, vout)
			}
			lout, err := exec.Command(bin, "--config", cfg, "snapshot", "list", "debian").CombinedOutput()
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(lout), "\ndebian "); n != 2 {
				t.Fatalf("want 2 snapshots (before and after), got %d:\n%s", n, lout)
			}
		})
	}
}

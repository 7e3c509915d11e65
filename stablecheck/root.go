package stablecheck

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aptsnap/aptsnap/internal/aptroot"
	"github.com/aptsnap/aptsnap/stable"
)

// root is a throwaway APT installation: its own sources, lists, cache and
// an empty dpkg status, and none of the host's APT configuration (an
// APT_CONFIG file moves Dir::Etc before the host's is read). Valid-Until
// and Date are checked, as on a stock system.
type root struct {
	dir  string
	conf string
}

// newRoot makes a root in dir with sources (one-line format) and runs
// apt-get update in it.
func newRoot(ctx context.Context, dir, sources, arch string) (*root, error) {
	if err := aptroot.Prepare(dir); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/sources.list"), []byte(sources), 0o644); err != nil {
		return nil, err
	}
	r := &root{dir: dir, conf: filepath.Join(dir, "apt.conf")}
	conf := aptroot.Conf(dir, arch, "APT::Sandbox::User "+aptroot.Q(sandboxUser()), "quiet "+aptroot.Q("1"))
	if err := os.WriteFile(r.conf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	if out, err := r.run(ctx, 10*time.Minute, "apt-get", "update", "-o", "APT::Update::Error-Mode=any"); err != nil {
		return nil, fmt.Errorf("apt-get update (%s): %w\n%s", strings.TrimSpace(sources), err, out)
	}
	return r, nil
}

// sandboxUser is the user apt downloads as: ourselves, so that a root
// made by an unprivileged user is writable and root needs no _apt.
func sandboxUser() string {
	if u := os.Getenv("USER"); u != "" && os.Geteuid() != 0 {
		return u
	}
	return "root"
}

// run runs an apt command in the root and returns its combined output.
func (r *root) run(ctx context.Context, timeout time.Duration, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "APT_CONFIG="+r.conf, "LC_ALL=C.UTF-8", "DEBIAN_FRONTEND=noninteractive")
	cmd.Dir = r.dir
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if len(out) > 4*stable.MaxLog {
		out = out[len(out)-4*stable.MaxLog:]
	}
	return out, err
}

// Package apttest runs the real apt-get (and apt-cache, apt-config) in a
// throwaway root for tests: its own sources, lists, cache and dpkg status,
// and none of the host's APT configuration.
//
// Isolation works through an APT_CONFIG file (<root>/apttest.conf) that apt
// reads before anything else; it moves Dir::Etc to <root>/etc, so the host's
// /etc/apt/apt.conf and /etc/apt/apt.conf.d/* (which on some hosts disable
// Valid-Until and Date checks) are never read. Acquire::Check-Valid-Until and
// Acquire::Check-Date are explicitly on, so tests of expiry behave as on a
// stock Debian system.
//
// Layout of the root:
//
//	apttest.conf                the APT_CONFIG file
//	etc/sources.list            one-line sources (see New)
//	etc/sources.list.d/         deb822 sources (apttest.sources)
//	etc/apt.conf, etc/apt.conf.d/   extra configuration a test may add
//	etc/preferences, etc/preferences.d/   pins a test may add
//	etc/trusted.gpg.d/          keys for sources without signed-by
//	state/lists/, cache/archives/, status, log/
//	download/                   working directory of every command
package apttest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/internal/aptroot"
)

// Timeout bounds every apt command a test runs.
var Timeout = 2 * time.Minute

// APT is a throwaway APT installation rooted in a temporary directory.
type APT struct {
	t     testing.TB
	root  string
	conf  string
	extra []string
}

// New makes a throwaway APT root for the test, with sourcesList as its
// sources: one-line format ("deb [signed-by=...] http://127.0.0.1:PORT/ suite
// main"), written to <root>/etc/sources.list, or deb822 (starting with
// "Types:"), written to <root>/etc/sources.list.d/apttest.sources. "$ROOT" in
// sourcesList is replaced by the root directory. extraOpts are further
// options for every command, "Name=value" (passed as -o Name=value) or
// already-formed arguments starting with "-".
//
// The test is skipped if /usr/bin/apt-get is not installed. apt runs as the
// current user (root on the project's machines) with APT::Sandbox::User=root,
// so it never switches to _apt.
func New(t testing.TB, sourcesList string, extraOpts ...string) *APT {
	t.Helper()
	if _, err := os.Stat("/usr/bin/apt-get"); err != nil {
		t.Skip("apt-get not installed")
	}
	root := t.TempDir()
	a := &APT{t: t, root: root, conf: filepath.Join(root, "apttest.conf")}
	if err := aptroot.Prepare(root); err != nil {
		t.Fatalf("apttest: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(root, "download"), 0o755); err != nil {
		t.Fatalf("apttest: %v", err)
	}
	a.SetSources(sourcesList)

	arch := "amd64"
	if out, err := exec.Command("dpkg", "--print-architecture").Output(); err == nil {
		arch = strings.TrimSpace(string(out))
	}
	q := aptroot.Q
	conf := aptroot.Conf(root, arch,
		// Run as we are, without the _apt sandbox user.
		"APT::Sandbox::User "+q("root"),
		// Only what a test repository has, fetched directly, quickly.
		"Acquire::Retries "+q("0"),
		"Acquire::http::Proxy "+q("DIRECT"),
		"Acquire::https::Proxy "+q("DIRECT"),
		"Acquire::http::Timeout "+q("30"),
		"APT::Get::Assume-Yes "+q("true"),
		"quiet "+q("1"),
	)
	a.WriteFile("apttest.conf", []byte(conf))
	for _, o := range extraOpts {
		if strings.HasPrefix(o, "-") {
			a.extra = append(a.extra, o)
		} else {
			a.extra = append(a.extra, "-o", o)
		}
	}
	return a
}

// Root returns the root directory (also "$ROOT" in the sources).
func (a *APT) Root() string { return a.root }

// ConfigFile returns the path of the APT_CONFIG file every command uses.
func (a *APT) ConfigFile() string { return a.conf }

// WriteFile writes data to name relative to the root (creating
// directories) and returns its absolute path; handy for a signed-by key.
func (a *APT) WriteFile(name string, data []byte) string {
	a.t.Helper()
	p := filepath.Join(a.root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		a.t.Fatalf("apttest: %v", err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		a.t.Fatalf("apttest: %v", err)
	}
	return p
}

// SetSources replaces the sources (see New for the format).
func (a *APT) SetSources(sourcesList string) {
	a.t.Helper()
	sourcesList = strings.ReplaceAll(sourcesList, "${ROOT}", a.root)
	sourcesList = strings.ReplaceAll(sourcesList, "$ROOT", a.root)
	if !strings.HasSuffix(sourcesList, "\n") {
		sourcesList += "\n"
	}
	deb822 := strings.HasPrefix(strings.TrimSpace(sourcesList), "Types:")
	list, parts := sourcesList, ""
	if deb822 {
		list, parts = "", sourcesList
	}
	a.WriteFile("etc/sources.list", []byte(list))
	p := filepath.Join(a.root, "etc", "sources.list.d", "apttest.sources")
	if parts == "" {
		os.Remove(p)
	} else {
		a.WriteFile("etc/sources.list.d/apttest.sources", []byte(parts))
	}
}

// Run runs apt-get with args and returns its standard output. A failure
// (including a non-zero exit) is returned as an error carrying the command,
// the exit status and apt's standard error, e.g. to check for "expired".
// Commands run in <root>/download, where "apt-get download" puts files.
func (a *APT) Run(args ...string) (stdout string, err error) {
	stdout, _, err = a.Exec("apt-get", args...)
	return stdout, err
}

// RunWithStderr is Run that also returns apt's standard error, where apt
// prints warnings ("W: ...") even when it succeeds.
func (a *APT) RunWithStderr(args ...string) (stdout, stderr string, err error) {
	return a.Exec("apt-get", args...)
}

// Exec runs another APT tool (apt-cache, apt-config, apt) with the same
// configuration, and returns its standard output and standard error; on
// failure the error also carries the standard error.
func (a *APT) Exec(tool string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	full := append(append([]string{}, a.extra...), args...)
	cmd := exec.CommandContext(ctx, tool, full...)
	cmd.Dir = filepath.Join(a.root, "download")
	cmd.Env = a.env()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w: %s", tool, strings.Join(full, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), errb.String(), err
}

// env returns the environment for apt: the test's, without proxies or an
// APT_CONFIG of its own, with a neutral locale.
func (a *APT) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "apt_config", "http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "no_proxy", "lang", "language":
			continue
		}
		if strings.HasPrefix(k, "LC_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "APT_CONFIG="+a.conf, "LC_ALL=C.UTF-8", "DEBIAN_FRONTEND=noninteractive")
}

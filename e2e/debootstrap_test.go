package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/aptsnap/aptsnap/app"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/deb822"
	"github.com/aptsnap/aptsnap/debpkg"
	"github.com/aptsnap/aptsnap/internal/apttest"
	"github.com/aptsnap/aptsnap/internal/pgtest"
	"github.com/aptsnap/aptsnap/internal/s3test"
	"github.com/aptsnap/aptsnap/release"
	"github.com/aptsnap/aptsnap/repogen"
)

// TestDebootstrap: the real debootstrap (--variant=minbase, bookworm,
// amd64) makes a system from a snapshot served by the embedded setup
// (SQLite and data_dir) and by the distributed one (PostgreSQL and S3),
// the same way. The upstream is a signed repogen repository holding the
// real packages of the minbase set, as Debian serves them (its pool
// layout, its Priority and Section overrides), downloaded once from the
// real Debian archive (APTSNAP_DEBIAN_URL) and kept in a cache reused
// across runs: $APTSNAP_DEBOOTSTRAP_CACHE, else <user cache
// dir>/aptsnap-debootstrap (delete it to take the current set).
//
// It runs as root, with debootstrap installed (apt-get install
// debootstrap), when APTSNAP_DEBIAN_URL is set; it skips otherwise.
// Each debootstrap takes about a minute.
func TestDebootstrap(t *testing.T) {
	mirror := strings.TrimSuffix(os.Getenv("APTSNAP_DEBIAN_URL"), "/")
	if mirror == "" {
		t.Skip("APTSNAP_DEBIAN_URL unset: the real Debian archive is not reachable, and the minbase set comes from it (scripts/test sets it when it is)")
	}
	bin := debootstrapBinary()
	if bin == "" {
		t.Skip("debootstrap not installed (apt-get install debootstrap)")
	}
	if os.Geteuid() != 0 {
		t.Skip("debootstrap needs root")
	}
	if out, err := exec.Command("dpkg", "--print-architecture").Output(); err != nil || strings.TrimSpace(string(out)) != "amd64" {
		t.Skipf("the minbase system is amd64; this machine is %q (%v)", strings.TrimSpace(string(out)), err)
	}
	keyring := os.Getenv("APTSNAP_DEBIAN_KEYRING")
	if keyring == "" {
		keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
	}
	if _, err := os.Stat(keyring); err != nil {
		t.Skipf("no Debian archive keyring (APTSNAP_DEBIAN_KEYRING, or %s): %v", keyring, err)
	}

	set := minbaseSet(t, bin, mirror, keyring)
	want := map[string]string{} // package -> version
	var pkgs []repogen.Package
	var size int
	for _, p := range set {
		c, err := debpkg.ReadControl(bytes.NewReader(p.Deb), int64(len(p.Deb)))
		if err != nil {
			t.Fatal(err)
		}
		b, err := debpkg.ParseControl(c)
		if err != nil {
			t.Fatal(err)
		}
		want[b.Package] = b.Version
		pkgs = append(pkgs, p)
		size += len(p.Deb)
	}

	// The upstream: its bookworm holds the real minbase set.
	e := newEnv(t)
	e.up.write(1, func(r *repogen.Repo) {
		r.Suites[0].Components = map[string][]repogen.Package{"main": pkgs}
		r.Suites[0].Date = time.Now().Add(-time.Hour)
	})
	upstreamPackages, err := os.ReadFile(filepath.Join(e.up.dir, "repo/dists/bookworm/main/binary-amd64/Packages"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("upstream: %d real packages (%.1f MiB)", len(pkgs), float64(size)/(1<<20))

	type result struct {
		files     map[string]release.File // what dists/bookworm/Release lists
		installed map[string]string
	}
	var resultsMu sync.Mutex
	results := map[string]*result{}
	// check pulses, has the real debootstrap make a system from the
	// snapshot served at base, and checks it.
	check := func(t *testing.T, setup, base string) {
		rel, err := release.Parse([]byte(get(t, base+"dists/bookworm/Release")))
		if err != nil {
			t.Fatal(err)
		}
		if p := get(t, base+"dists/bookworm/main/binary-amd64/Packages"); p != string(upstreamPackages) {
			t.Errorf("%s: Packages is not upstream's byte for byte", setup)
		}
		root, took := debootstrap(t, bin, base, []byte(get(t, base[:strings.Index(base, "/debian/")]+"/keys/aptsnap.asc")))
		installed := checkSystem(t, root, base)
		t.Logf("%s: debootstrap in %s: %d packages installed", setup, took.Round(time.Second), len(installed))
		for name, v := range installed {
			if want[name] != v {
				t.Errorf("%s: installed %s %s, not from the snapshot (which has %q)", setup, name, v, want[name])
			}
		}
		for name := range want {
			if _, ok := installed[name]; !ok {
				t.Errorf("%s: %s of the minbase set not installed", setup, name)
			}
		}
		resultsMu.Lock()
		results[setup] = &result{rel.Files, installed}
		resultsMu.Unlock()
	}

	// The two setups at once: each debootstrap takes a core for a minute
	// or more, and the test suite has two.
	t.Run("setups", func(t *testing.T) {
		t.Run("embedded", func(t *testing.T) {
			t.Parallel()
			snap := e.mustPulse()
			check(t, "embedded", e.srv.URL+"/debian/"+snap.Serial+"/")
		})

		t.Run("distributed", func(t *testing.T) {
			t.Parallel()
			dsn := pgtest.Start(t)
			ep := s3test.Start(t)
			cfg, err := config.Load(clusterConfig(t, dsn, ep, e.up, "127.0.0.1:0"))
			if err != nil {
				t.Fatal(err)
			}
			a, err := app.Open(t.Context(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close() })
			snap, err := a.Pulse(t.Context(), "debian")
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.ServeListeners(ctx, ln, nil, false) }()
			t.Cleanup(func() { cancel(); <-done })
			base := "http://" + ln.Addr().String() + "/debian/" + snap.Serial + "/"
			waitUntil(t, "the snapshot served", func() bool {
				resp, err := http.Get(base + "dists/bookworm/InRelease")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == 200
			})
			check(t, "distributed", base)
		})
	})

	// The same snapshot, the same system.
	em, di := results["embedded"], results["distributed"]
	if em == nil || di == nil {
		return
	}
	if !maps.Equal(em.files, di.files) {
		t.Errorf("the two setups' Releases list different files:\nembedded:    %v\ndistributed: %v", em.files, di.files)
	}
	if !maps.Equal(em.installed, di.installed) {
		t.Errorf("the two setups' systems differ:\nembedded:    %v\ndistributed: %v", em.installed, di.installed)
	}
}

// debootstrapBinary returns debootstrap's path, or "" (it lives in
// /usr/sbin, which a non-root PATH may lack).
func debootstrapBinary() string {
	if p, err := exec.LookPath("debootstrap"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/debootstrap"); err == nil {
		return "/usr/sbin/debootstrap"
	}
	return ""
}

// minbaseList is the cache's list of the set: "<file> <priority>
// <section>" lines, written once every file is there.
const minbaseList = "minbase.list"

// minbaseSet returns the real packages of debootstrap's minbase set for
// bookworm amd64, with the Priority and Section the archive gives them
// (its override file's, which the .deb's control file may not agree
// with, and by which debootstrap picks the required packages). They come
// from the cache when it holds a whole set; else the set is listed by
// `debootstrap --print-debs`, downloaded with the real apt-get from
// mirror (checked against keyring) and cached.
func minbaseSet(t *testing.T, bin, mirror, keyring string) []repogen.Package {
	t.Helper()
	cache := os.Getenv("APTSNAP_DEBOOTSTRAP_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			t.Fatalf("no cache directory (set APTSNAP_DEBOOTSTRAP_CACHE): %v", err)
		}
		cache = filepath.Join(dir, "aptsnap-debootstrap")
	}
	dir := filepath.Join(cache, "bookworm-amd64-minbase")
	if set, err := readMinbaseSet(dir); err == nil {
		t.Logf("minbase set: %d packages from the cache %s", len(set), dir)
		return set
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Logf("the cache %s is unusable (%v): downloading the set again", dir, err)
	}

	start := time.Now()
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--print-debs", "--variant=minbase", "--arch=amd64", "--keyring="+keyring,
		"bookworm", filepath.Join(t.TempDir(), "target"), mirror)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("debootstrap --print-debs: %v\n%s", err, lastLines(stderr.String(), 20))
	}
	names := strings.Fields(string(out))
	if len(names) < 50 || !slices.Contains(names, "base-files") {
		t.Fatalf("debootstrap --print-debs lists %d packages: %q", len(names), names)
	}

	a := apttest.New(t, fmt.Sprintf("deb [signed-by=%s] %s bookworm main\n", keyring, mirror),
		"APT::Architecture=amd64", "APT::Architectures=amd64")
	if _, err := a.Run("update"); err != nil {
		t.Fatal(err)
	}
	show, _, err := a.Exec("apt-cache", append([]string{"show", "--no-all-versions"}, names...)...)
	if err != nil {
		t.Fatal(err)
	}
	overrides := map[string][2]string{} // package -> priority, section
	rd := deb822.NewReader(strings.NewReader(show))
	for {
		p, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("apt-cache show: %v", err)
		}
		overrides[p.Get("Package")] = [2]string{p.Get("Priority"), p.Get("Section")}
	}
	if _, err := a.Run(append([]string{"download"}, names...)...); err != nil {
		t.Fatal(err)
	}

	// A whole set in a new directory, then in place of the old.
	tmp, err := os.MkdirTemp(cache, ".download-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(a.Root(), "download", "*.deb"))
	if err != nil {
		t.Fatal(err)
	}
	var list strings.Builder
	for _, f := range files {
		deb, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := debpkg.ReadControl(bytes.NewReader(deb), int64(len(deb)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		b, err := debpkg.ParseControl(c)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		o, ok := overrides[b.Package]
		if !ok || o[0] == "" || o[1] == "" {
			t.Fatalf("apt-cache show gave no Priority and Section for %s", b.Package)
		}
		if err := os.WriteFile(filepath.Join(tmp, filepath.Base(f)), deb, 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&list, "%s %s %s\n", filepath.Base(f), o[0], o[1])
	}
	if len(files) != len(names) {
		t.Fatalf("apt-get download fetched %d files for %d packages", len(files), len(names))
	}
	if err := os.WriteFile(filepath.Join(tmp, minbaseList), []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	set, err := readMinbaseSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("minbase set: %d packages downloaded from %s in %s, cached in %s", len(set), mirror, time.Since(start).Round(time.Millisecond), dir)
	return set
}

// readMinbaseSet reads the set cached in dir; an error wrapping
// fs.ErrNotExist when there is none.
func readMinbaseSet(dir string) ([]repogen.Package, error) {
	list, err := os.ReadFile(filepath.Join(dir, minbaseList))
	if err != nil {
		return nil, err
	}
	var set []repogen.Package
	sc := bufio.NewScanner(bytes.NewReader(list))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || filepath.Base(f[0]) != f[0] {
			return nil, fmt.Errorf("%s: bad line %q", minbaseList, sc.Text())
		}
		deb, err := os.ReadFile(filepath.Join(dir, f[0]))
		if err != nil {
			return nil, fmt.Errorf("%s lists %s: %v", minbaseList, f[0], err) // not ErrNotExist: the set is broken
		}
		set = append(set, repogen.Package{Deb: deb, Priority: f[1], Section: f[2]})
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("%s lists nothing", minbaseList)
	}
	return set, nil
}

// debootstrap runs the real debootstrap --variant=minbase of bookworm from
// mirror, trusting the armored key, into a new directory it returns (with
// how long it took); the directory goes when the test ends.
func debootstrap(t *testing.T, bin, mirror string, armoredKey []byte) (string, time.Duration) {
	t.Helper()
	// debootstrap hands --keyring to gpgv, which reads binary keyrings.
	block, err := armor.Decode(bytes.NewReader(armoredKey))
	if err != nil {
		t.Fatalf("aptsnap's key: %v", err)
	}
	key, err := io.ReadAll(block.Body)
	if err != nil {
		t.Fatal(err)
	}
	keyring := filepath.Join(t.TempDir(), "aptsnap.gpg")
	if err := os.WriteFile(keyring, key, 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := os.MkdirTemp("", "aptsnap-debootstrap-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeRoot(t, root) })

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--variant=minbase", "--arch=amd64", "--keyring="+keyring, "bookworm", root, mirror)
	cmd.Env = withoutProxies()
	// On timeout, the whole process group: dpkg and maintainer scripts too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(root, "debootstrap", "debootstrap.log"))
		t.Fatalf("debootstrap from %s: %v after %s\n%s\ndebootstrap.log:\n%s", mirror, err, took.Round(time.Second), lastLines(string(out), 20), lastLines(string(log), 40))
	}
	return root, took
}

// checkSystem checks the system debootstrap made in root from mirror: a
// shell that runs in it, Debian 12, APT pointing at mirror; and returns
// the packages dpkg says are installed, with their versions.
func checkSystem(t *testing.T, root, mirror string) map[string]string {
	t.Helper()
	for _, p := range []string{"bin/sh", "etc/debian_version", "var/lib/dpkg/status", "usr/bin/apt-get"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("the new system lacks /%s: %v", p, err)
		}
	}
	if v, err := os.ReadFile(filepath.Join(root, "etc/debian_version")); err != nil || !strings.HasPrefix(string(v), "12.") {
		t.Errorf("/etc/debian_version: %q, %v; want 12.x", v, err)
	}
	if s, err := os.ReadFile(filepath.Join(root, "etc/apt/sources.list")); err != nil || !strings.Contains(string(s), "deb "+strings.TrimSuffix(mirror, "/")+" bookworm main\n") {
		t.Errorf("/etc/apt/sources.list does not name %s: %q, %v", mirror, s, err)
	}
	cmd := exec.Command("chroot", root, "/bin/sh", "-c", `. /etc/os-release && echo "$VERSION_CODENAME" && dpkg-query -W -f='${Status}\n' base-files`)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "bookworm\ninstall ok installed\n" {
		t.Errorf("a shell in the new system: %q, %v", out, err)
	}

	status, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	installed := map[string]string{}
	rd := deb822.NewReader(bytes.NewReader(status))
	for {
		p, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("dpkg status: %v", err)
		}
		if p.Get("Status") == "install ok installed" {
			installed[p.Get("Package")] = p.Get("Version")
		}
	}
	for _, p := range []string{"base-files", "dpkg", "apt", "bash", "libc6"} {
		if _, ok := installed[p]; !ok {
			t.Errorf("dpkg status lists no installed %s", p)
		}
	}
	return installed
}

// removeRoot removes a system debootstrap made, once nothing is mounted
// in it (debootstrap unmounts /proc and /sys when it ends; were one left,
// removing the tree would go into it): it unmounts what is left, and
// leaves the tree in place if it cannot.
func removeRoot(t *testing.T, root string) {
	for range 3 {
		mounts := mountsUnder(t, root)
		if len(mounts) == 0 {
			if err := os.RemoveAll(root); err != nil {
				t.Errorf("remove %s: %v", root, err)
			}
			return
		}
		t.Logf("unmounting what debootstrap left mounted: %v", mounts)
		// Deepest first.
		slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
		for _, m := range mounts {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
				t.Logf("umount %s: %v", m, err)
			}
		}
	}
	t.Errorf("%s still has mounts (%v): left in place", root, mountsUnder(t, root))
}

// mountsUnder lists the mount points below dir.
func mountsUnder(t *testing.T, dir string) []string {
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatalf("cannot tell what is mounted under %s: %v", dir, err)
	}
	var out []string
	for _, line := range strings.Split(string(info), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// withoutProxies is the environment without proxy settings: loopback and
// the mirror are reached directly.
func withoutProxies() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "no_proxy":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

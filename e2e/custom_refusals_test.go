package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/datadir"
	"github.com/aptsnap/aptsnap/lock"
)

// TestCustomSamePoolPathOtherContent: every suite of a custom archive
// shares one pool, so a package version already in one suite cannot come
// into another with other content (the file at its pool path would be
// two different files in one snapshot, and one suite's clients would get
// the other's). Refused by upload and by copy; nothing changes.
func TestCustomSamePoolPathOtherContent(t *testing.T) {
	e := newEnvWith(t, customConfig(""))
	ctx := context.Background()
	dir, other := t.TempDir(), t.TempDir()
	add := func(suite string, files ...string) (api.RepoResult, error) {
		return e.app.RepoAdd(ctx, api.AddRequest{Archive: "ours", Suite: suite, Files: files})
	}
	first := buildDeb(t, dir, "tool", "1.0", "amd64", "gzip", "first build\n")
	if _, err := add("stable", first); err != nil {
		t.Fatal(err)
	}
	before := e.latest("ours")

	// The same name and version, rebuilt, into testing.
	rebuilt := buildDeb(t, other, "tool", "1.0", "amd64", "gzip", "another build\n")
	if _, err := add("testing", rebuilt); !errors.Is(err, api.ErrExists) {
		t.Errorf("same version, other content, into another suite: err %v, want ErrExists", err)
	}
	if got := e.latest("ours"); got != before {
		t.Errorf("the refused upload made snapshot %s", got)
	}
	// The identical file into testing is fine (one pool file, two suites).
	if _, err := add("testing", first); err != nil {
		t.Errorf("the identical file into testing: %v", err)
	}
	// Copy from another archive (here the mirror) with a clashing path:
	// the mirror's hello 2.10-1 is at pool/main/h/hello/hello_2.10-1_amd64.deb.
	hello := buildDeb(t, other, "hello", "2.10-1", "amd64", "gzip", "our own hello\n")
	if _, err := add("stable", hello); err != nil {
		t.Fatal(err)
	}
	e.mustPulse()
	before = e.latest("ours")
	_, err := e.app.RepoCopy(ctx, api.CopyRequest{Archive: "ours", Suite: "testing", FromArchive: "debian", Package: "hello", Version: "2.10-1"})
	if !errors.Is(err, api.ErrExists) {
		t.Errorf("copy of another hello 2.10-1 into testing: err %v, want ErrExists", err)
	} else if !strings.Contains(err.Error(), "hello_2.10-1_amd64.deb") {
		t.Errorf("the refusal does not name the file: %v", err)
	}
	if got := e.latest("ours"); got != before {
		t.Errorf("the refused copy made snapshot %s", got)
	}
}

// TestCustomCopyRacingGC: a copy from another archive's snapshot checks
// that the files it brings are stored, then commits. A GC sweep between
// the two (the source snapshot expired, its files unreferenced) must not
// leave the new snapshot referencing files that are gone.
func TestCustomCopyRacingGC(t *testing.T) {
	e := newEnvWith(t, customConfig(""))
	ctx := context.Background()
	serial := e.mustPulse().Serial
	_, body := e.get("/debian/" + serial + "/dists/bookworm/main/binary-amd64/Packages")
	m := regexp.MustCompile(`(?m)^Package: hello\n(?:.+\n)*?SHA256: ([0-9a-f]{64})$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no hello in Packages:\n%s", body)
	}
	d, err := blob.ParseDigest(m[1])
	if err != nil {
		t.Fatal(err)
	}
	locks := lock.NewFlock(datadir.Dir(e.app.Config.DataDir).Locks())
	// GC is sweeping: it holds the sweep lock.
	sweep, err := locks.Sweep(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := e.app.RepoCopy(ctx, api.CopyRequest{Archive: "ours", Suite: "stable", FromArchive: "debian", Package: "hello"})
		done <- err
	}()
	// The copy has taken its archive's pulse lock: it waits for the sweep.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if running, _ := locks.Writers(context.Background()); len(running) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the copy never took its lock")
		}
	}
	time.Sleep(100 * time.Millisecond)
	// The sweep deletes hello's .deb (its snapshot expired and was collected).
	if err := e.app.Store.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	sweep.Release()
	err = <-done
	if err == nil {
		if _, serr := e.app.Store.Stat(ctx, d); serr != nil {
			t.Errorf("the copy committed a snapshot referencing a file GC swept: %v", serr)
		}
	}
}

// TestCustomCopyFromWiderArchive: copying from an archive with more
// architectures than the custom archive brings the binaries of the
// architectures it serves (and arch: all ones), not a refusal.
func TestCustomCopyFromWiderArchive(t *testing.T) {
	e := newEnvWith(t, customConfig("")+`
[[custom]]
name = "wide"
suites = ["stable"]
architectures = ["amd64", "i386"]
`)
	ctx := context.Background()
	dir := t.TempDir()
	_, err := e.app.RepoAdd(ctx, api.AddRequest{Archive: "wide", Suite: "stable", Files: []string{
		buildDeb(t, dir, "tool", "1.0", "amd64", "gzip", "amd64\n"),
		buildDeb(t, dir, "tool", "1.0", "i386", "gzip", "i386\n"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.app.RepoCopy(ctx, api.CopyRequest{Archive: "ours", Suite: "stable", FromArchive: "wide", Package: "tool"})
	if err != nil {
		t.Fatalf("copy from wide: %v", err)
	}
	if len(res.Added) != 1 || res.Added[0].Arch != "amd64" {
		t.Errorf("copy added %+v, want tool 1.0 amd64 only", res.Added)
	}
	// Nothing for the archive's architectures: refused, nothing changes.
	if _, err := e.app.RepoAdd(ctx, api.AddRequest{Archive: "wide", Suite: "stable", Files: []string{
		buildDeb(t, dir, "only32", "1.0", "i386", "gzip", "i386\n"),
	}}); err != nil {
		t.Fatal(err)
	}
	before := e.latest("ours")
	if _, err := e.app.RepoCopy(ctx, api.CopyRequest{Archive: "ours", Suite: "stable", FromArchive: "wide", Package: "only32"}); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("copy of an i386-only package: err %v, want not found", err)
	}
	if got := e.latest("ours"); got != before {
		t.Errorf("the refused copy made snapshot %s", got)
	}
}

// TestCustomCopyNewestAcrossSuites: a copy from a snapshot without a suite
// takes the newest version among its suites (as a grant from debian takes
// bookworm-updates' over bookworm's), not the first suite's.
func TestCustomCopyNewestAcrossSuites(t *testing.T) {
	e := newEnvWith(t, customConfig("")+`
[[custom]]
name = "src"
suites = ["a-old", "b-new", "c-older"]
`)
	ctx := context.Background()
	dir := t.TempDir()
	for suite, ver := range map[string]string{"a-old": "1.0", "b-new": "2.0", "c-older": "0.9"} {
		if _, err := e.app.RepoAdd(ctx, api.AddRequest{Archive: "src", Suite: suite, Files: []string{
			buildDeb(t, dir, "tool", ver, "amd64", "gzip", ver+"\n"),
		}}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := e.app.RepoCopy(ctx, api.CopyRequest{Archive: "ours", Suite: "stable", FromArchive: "src", FromSerial: e.latest("src"), Package: "tool"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Added) != 1 || res.Added[0].Version != "2.0" {
		t.Errorf("copy added %+v, want tool 2.0 from b-new", res.Added)
	}
	res, err = e.app.RepoCopy(ctx, api.CopyRequest{Archive: "ours", Suite: "testing", FromArchive: "src", FromSuite: "c-older", Package: "tool"})
	if err != nil || len(res.Added) != 1 || res.Added[0].Version != "0.9" {
		t.Errorf("copy from c-older: %+v %v, want tool 0.9", res.Added, err)
	}
}

// TestCustomPathBackWithOtherContent: a pool path removed and re-imported
// with other content by another process (the local CLI) while the server
// runs is served with the new content at once, not a cached 404.
func TestCustomPathBackWithOtherContent(t *testing.T) {
	bin := aptsnapBinary(t)
	e := newEnvWith(t, customConfig(""))
	c := &cli{t: t, bin: bin, config: e.writeConfig(t), server: e.srv.URL}
	first := buildDeb(t, t.TempDir(), "tool", "1.0", "amd64", "gzip", "first\n")
	c.local("repo", "add", "ours", "stable", first)
	const pool = "/pool/main/t/tool/tool_1.0_amd64.deb"
	if code, body := e.get("/ours/" + e.latest("ours") + pool); code != 200 || body != string(mustRead(t, first)) {
		t.Fatalf("first build: %d", code)
	}
	c.local("repo", "remove", "ours", "stable", "tool")
	second := buildDeb(t, t.TempDir(), "tool", "1.0", "amd64", "gzip", "second, other content\n")
	c.local("repo", "add", "ours", "stable", second)
	if code, body := e.get("/ours/" + e.latest("ours") + pool); code != 200 || body != string(mustRead(t, second)) {
		t.Errorf("second build right after its import: %d, same as the second: %v", code, body == string(mustRead(t, second)))
	}
}

// TestCustomImportKilled: an import killed with SIGKILL while it holds its
// archive's locks (waiting for a GC sweep) leaves no snapshot and no stuck
// lock: the next import succeeds.
func TestCustomImportKilled(t *testing.T) {
	bin := aptsnapBinary(t)
	e := newEnvWith(t, customConfig(""))
	c := &cli{t: t, bin: bin, config: e.writeConfig(t), server: e.srv.URL}
	deb := buildDeb(t, t.TempDir(), "tool", "1.0", "amd64", "gzip", "tool\n")
	locks := lock.NewFlock(datadir.Dir(e.app.Config.DataDir).Locks())
	sweep, err := locks.Sweep(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", c.config, "repo", "add", "ours", "stable", deb)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if running, _ := locks.Writers(context.Background()); len(running) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the import never took its lock")
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	sweep.Release()
	if s := e.serialsOf("ours"); len(s) != 0 {
		t.Fatalf("the killed import left snapshot(s) %v", s)
	}
	done := make(chan string, 1)
	go func() {
		out, stderr, err := c.run("", "--config", c.config, "repo", "add", "ours", "stable", deb)
		done <- fmt.Sprint(out, stderr, err)
	}()
	select {
	case out := <-done:
		if !strings.Contains(out, "added tool 1.0 amd64") || !strings.HasSuffix(out, "<nil>") {
			t.Errorf("import after the kill:\n%s", out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the import after the kill is stuck on a lock")
	}
	if v, err := e.app.Verify(context.Background(), "", ""); err != nil || len(v.Problems) != 0 {
		t.Errorf("verify: %v %v", v.Problems, err)
	}
}

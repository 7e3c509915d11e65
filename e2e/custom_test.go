package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/internal/apttest"
	"github.com/aptsnap/aptsnap/pgp"
)

// buildDeb builds a real binary package with dpkg-deb, its data and
// control members compressed with comp (gzip, xz, zstd or none), and
// returns its path in dir.
// extra are more control lines ("Source: foo\n").
func buildDeb(t *testing.T, dir, pkg, version, arch, comp, payload string, extra ...string) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed")
	}
	tree := filepath.Join(t.TempDir(), pkg)
	os.MkdirAll(filepath.Join(tree, "DEBIAN"), 0o755)
	os.MkdirAll(filepath.Join(tree, "usr/share/doc", pkg), 0o755)
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: Release Team <rt@example.invalid>\n"+
		"Installed-Size: 1\nSection: misc\nPriority: optional\nDescription: %s test package\n a package built by the test\n .\n with a long description\n",
		pkg, version, arch, pkg) + strings.Join(extra, "")
	if err := os.WriteFile(filepath.Join(tree, "DEBIAN/control"), []byte(control), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(tree, "usr/share/doc", pkg, "README"), []byte(payload), 0o644)
	out := filepath.Join(dir, fmt.Sprintf("%s_%s_%s.deb", pkg, version, arch))
	if b, err := exec.Command("dpkg-deb", "--root-owner-group", "-Z"+comp, "--build", tree, out).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, b)
	}
	return out
}

// buildSource makes a native source package with dpkg-source and returns
// the .dsc's path and the files it lists.
func buildSource(t *testing.T, dir, src, version string) (string, []string) {
	t.Helper()
	if _, err := exec.LookPath("dpkg-source"); err != nil {
		t.Skip("dpkg-source not installed")
	}
	tree := filepath.Join(dir, src+"-"+version)
	os.MkdirAll(filepath.Join(tree, "debian/source"), 0o755)
	files := map[string]string{
		"debian/source/format": "3.0 (native)\n",
		"debian/control": fmt.Sprintf("Source: %s\nSection: misc\nPriority: optional\nMaintainer: Release Team <rt@example.invalid>\n"+
			"Build-Depends: debhelper-compat (= 13)\nStandards-Version: 4.6.2\n\nPackage: %s\nArchitecture: amd64\nDescription: test\n test package\n", src, src),
		"debian/changelog": fmt.Sprintf("%s (%s) unstable; urgency=medium\n\n  * Test.\n\n -- Release Team <rt@example.invalid>  Mon, 30 Nov 2026 10:00:00 +0000\n", src, version),
		"debian/rules":     "#!/usr/bin/make -f\n%:\n\tdh $@\n",
		"hello.c":          "int main(void) { return 0; }\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(tree, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("dpkg-source", "-b", filepath.Base(tree))
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dpkg-source: %v\n%s", err, b)
	}
	dsc := filepath.Join(dir, fmt.Sprintf("%s_%s.dsc", src, version))
	return dsc, []string{filepath.Join(dir, fmt.Sprintf("%s_%s.tar.xz", src, version))}
}

// changesFor writes a .changes listing files, clearsigned by signer.
func changesFor(t *testing.T, dir, src, version string, signer *pgp.Signer, files ...string) string {
	t.Helper()
	var md, sha strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, s := md5.Sum(data), sha256.Sum256(data)
		fmt.Fprintf(&md, " %s %d misc optional %s\n", hex.EncodeToString(m[:]), len(data), filepath.Base(f))
		fmt.Fprintf(&sha, " %s %d %s\n", hex.EncodeToString(s[:]), len(data), filepath.Base(f))
	}
	body := fmt.Sprintf("Format: 1.8\nDate: Mon, 30 Nov 2026 10:00:00 +0000\nSource: %s\nBinary: %s\nArchitecture: source amd64\n"+
		"Version: %s\nDistribution: stable\nUrgency: medium\nMaintainer: Release Team <rt@example.invalid>\n"+
		"Changed-By: Release Team <rt@example.invalid>\nDescription:\n %s - test\nChanges:\n %s (%s) stable; urgency=medium\n .\n   * Test.\n"+
		"Checksums-Sha256:\n%sFiles:\n%s", src, src, version, src, src, version, sha.String(), md.String())
	signed, err := signer.ClearSign([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, fmt.Sprintf("%s_%s_amd64.changes", src, version))
	if err := os.WriteFile(p, signed, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func newSigner(t *testing.T, name string) *pgp.Signer {
	t.Helper()
	key, err := pgp.GenerateKey(name, "uploader@example.invalid", "ed25519")
	if err != nil {
		t.Fatal(err)
	}
	s, err := pgp.ParseSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// customConfig is a [[custom]] archive "ours" served as localhost (the
// mirrored archives are served as 127.0.0.1), so that APT can tell them
// apart by origin.
func customConfig(keyring string) string {
	return fmt.Sprintf(`
[[custom]]
name = "ours"
suites = ["stable", "testing"]
components = ["main"]
architectures = ["amd64"]
keyring = %q
public_url = "http://localhost:{{PORT}}"
`, keyring)
}

// TestCustomArchive imports real packages built by dpkg-deb and
// dpkg-source into a custom archive, locally and through the API, checks
// the refusals (a .changes signed by an unknown key, a same-version
// upload with other content: nothing changes), copies and removes, and
// has the real apt-get fetch from the archive's snapshot.
func TestCustomArchive(t *testing.T) {
	bin := aptsnapBinary(t)
	uploader, stranger := newSigner(t, "Uploader"), newSigner(t, "Stranger")
	keyring := filepath.Join(t.TempDir(), "uploaders.asc")
	os.WriteFile(keyring, uploader.PublicKey(), 0o644)
	e := newEnvWith(t, customConfig(keyring))
	c := &cli{t: t, bin: bin, config: e.writeConfig(t), server: e.srv.URL}
	rm := createToken(t, c, "release-manager", "rm")

	dir := t.TempDir()
	tool := buildDeb(t, dir, "ourtool", "1.0-1", "amd64", "gzip", "first build\n")
	docs := buildDeb(t, dir, "ourdocs", "2:1.5", "all", "xz", "docs\n")
	udeb := strings.TrimSuffix(buildDeb(t, dir, "ourinst", "1.0", "amd64", "xz", "d-i\n"), ".deb") + ".udeb"
	os.Rename(strings.TrimSuffix(udeb, ".udeb")+".deb", udeb)

	// Locally: two binaries, one with an epoch, one arch: all; a udeb.
	out := c.local("repo", "add", "ours", "stable", tool, docs, udeb)
	if !strings.Contains(out, "added ourtool 1.0-1 amd64") || !strings.Contains(out, "added ourdocs 2:1.5 all") ||
		!strings.Contains(out, "added ourinst 1.0 amd64") ||
		!regexp.MustCompile(`ours stable: snapshot \d{10}\n`).MatchString(out) {
		t.Fatalf("repo add:\n%s", out)
	}

	// Remotely, a signed .changes with a source package and a zstd binary.
	dsc, srcFiles := buildSource(t, dir, "ourlib", "3.0")
	libdeb := buildDeb(t, dir, "ourlib", "3.0", "amd64", "zstd", "lib\n")
	good := changesFor(t, dir, "ourlib", "3.0", uploader, append([]string{dsc, libdeb}, srcFiles...)...)
	if _, _, err := c.remoteErr("", "repo", "add", "ours", "stable", good); err == nil {
		t.Fatal("repo add without a token succeeded")
	}
	out = c.remote(rm, "repo", "add", "ours", "stable", good)
	if !strings.Contains(out, "added ourlib 3.0 amd64") || !strings.Contains(out, "added ourlib 3.0 source") {
		t.Fatalf("repo add .changes:\n%s", out)
	}
	before := c.same("", "repo", "list", "ours", "stable")
	for _, want := range []string{"ourdocs  2:1.5", "ourlib   3.0      amd64", "ourlib   3.0      source", "ourtool  1.0-1    amd64"} {
		if !strings.Contains(before, want) {
			t.Errorf("repo list lacks %q:\n%s", want, before)
		}
	}
	snapsBefore := len(e.serialsOf("ours"))

	// Refused: a .changes signed by a key not in the keyring; a .changes
	// whose file does not match; a same-version re-upload with other
	// content. Nothing changes.
	otherDir := t.TempDir()
	dsc2, src2 := buildSource(t, otherDir, "ourlib", "3.1")
	deb2 := buildDeb(t, otherDir, "ourlib", "3.1", "amd64", "zstd", "lib 3.1\n")
	bad := changesFor(t, otherDir, "ourlib", "3.1", stranger, append([]string{dsc2, deb2}, src2...)...)
	if _, stderr, err := c.remoteErr(rm, "repo", "add", "ours", "stable", bad); err == nil || !strings.Contains(strings.ToLower(stderr), "signature") {
		t.Errorf("a .changes signed by an unknown key: err %v, %s", err, stderr)
	}
	tampered := changesFor(t, otherDir, "ourlib", "3.1", uploader, append([]string{dsc2, deb2}, src2...)...)
	os.WriteFile(deb2, append(mustRead(t, deb2), 0), 0o644)
	if _, stderr, err := c.remoteErr(rm, "repo", "add", "ours", "stable", tampered); err == nil || !strings.Contains(stderr, "ourlib_3.1_amd64.deb") {
		t.Errorf("a .changes with a file that does not match: err %v, %s", err, stderr)
	}
	conflict := buildDeb(t, t.TempDir(), "ourtool", "1.0-1", "amd64", "gzip", "a different build\n")
	if _, stderr, err := c.remoteErr(rm, "repo", "add", "ours", "stable", conflict); err == nil || !strings.Contains(stderr, "already in stable") {
		t.Errorf("a conflicting re-upload: err %v, %s", err, stderr)
	}
	if after := c.local("repo", "list", "ours", "stable"); after != before {
		t.Errorf("refused uploads changed the suite:\n%s\nwas\n%s", after, before)
	}
	if n := len(e.serialsOf("ours")); n != snapsBefore {
		t.Errorf("refused uploads made %d snapshot(s)", n-snapsBefore)
	}
	// The same file again: nothing to do.
	if out := c.local("repo", "add", "ours", "stable", tool); !strings.Contains(out, "unchanged ourtool") || !strings.Contains(out, "nothing changed") {
		t.Errorf("identical re-upload:\n%s", out)
	}

	// Copy to testing, remove from testing.
	if out := c.remote(rm, "repo", "copy", "ours", "stable", "testing", "ourlib"); !strings.Contains(out, "added ourlib 3.0 amd64") || !strings.Contains(out, "added ourlib 3.0 source") {
		t.Errorf("repo copy:\n%s", out)
	}
	if out := c.remote(rm, "repo", "remove", "ours", "testing", "ourlib=3.0"); strings.Count(out, "removed ourlib 3.0") != 2 {
		t.Errorf("repo remove:\n%s", out)
	}
	if out := c.local("repo", "list", "ours", "testing"); strings.Contains(out, "ourlib") {
		t.Errorf("testing still lists ourlib:\n%s", out)
	}

	// The real apt-get on the newest snapshot: update verifies our
	// signature and the indices, download verifies the package.
	serial := e.latest("ours")
	code, body := e.get("/ours/" + serial + "/dists/stable/main/binary-amd64/Packages")
	if code != 200 || !strings.Contains(body, "Filename: pool/main/o/ourtool/ourtool_1.0-1_amd64.deb\n") ||
		!strings.Contains(body, "Filename: pool/main/o/ourdocs/ourdocs_1.5_all.deb\n") {
		t.Fatalf("Packages (%d):\n%s", code, body)
	}
	if code, body := e.get("/ours/" + serial + "/dists/stable/main/debian-installer/binary-amd64/Packages"); code != 200 ||
		!strings.Contains(body, "Filename: pool/main/o/ourinst/ourinst_1.0_amd64.udeb\n") || strings.Contains(body, "ourtool") {
		t.Fatalf("debian-installer Packages (%d):\n%s", code, body)
	}
	if strings.Contains(body, "ourinst") {
		t.Errorf("the udeb is in the deb Packages:\n%s", body)
	}
	if code, body := e.get("/ours/" + serial + "/dists/stable/main/source/Sources"); code != 200 || !strings.Contains(body, "Package: ourlib\n") ||
		!strings.Contains(body, "Directory: pool/main/o/ourlib\n") {
		t.Fatalf("Sources (%d):\n%s", code, body)
	}
	apt := apttest.New(t, fmt.Sprintf("deb [signed-by=$ROOT/key.asc] http://localhost:%s/ours/%s/ stable main\n",
		e.srv.URL[strings.LastIndex(e.srv.URL, ":")+1:], serial))
	apt.WriteFile("key.asc", e.app.Signer.PublicKey())
	if out, err := apt.Run("update"); err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	if out, stderr, err := apt.Exec("apt-get", "download", "ourtool", "ourdocs"); err != nil {
		t.Fatalf("apt-get download: %v\n%s%s", err, out, stderr)
	}
	got, err := os.ReadFile(filepath.Join(apt.Root(), "download", "ourtool_1.0-1_amd64.deb"))
	if err != nil || !bytes.Equal(got, mustRead(t, tool)) {
		t.Errorf("downloaded ourtool differs from the upload (%v)", err)
	}
	if out := c.local("verify"); !strings.HasSuffix(out, " checked: ok\n") {
		t.Errorf("verify: %q", out)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// createToken makes an API token locally and returns its secret.
func createToken(t *testing.T, c *cli, role, name string) string {
	t.Helper()
	out := c.local("token", "create", "--role", role, "--name", name)
	return strings.TrimSpace(out)
}

func (e *env) serialsOf(archive string) []string {
	e.t.Helper()
	snaps, err := e.app.Catalog.Snapshots(context.Background(), archive)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, s := range snaps {
		out = append(out, s.Serial)
	}
	return out
}

func (e *env) latest(archive string) string {
	e.t.Helper()
	s := e.serialsOf(archive)
	if len(s) == 0 {
		e.t.Fatalf("%s has no snapshot", archive)
	}
	return s[len(s)-1]
}

// TestCustomArchiveThroughExpiryAndGC: a custom archive's contents live in
// its newest snapshot, so GC never collects that one even when expired;
// older ones go. A truncated or foreign file is refused and changes
// nothing. A scheduled re-snapshot (its pulse) makes a fresh, valid one
// with the same packages.
func TestCustomArchiveThroughExpiryAndGC(t *testing.T) {
	e := newEnvWith(t, customConfig(""))
	ctx := context.Background()
	dir := t.TempDir()
	add := func(files ...string) error {
		_, err := e.app.RepoAdd(ctx, api.AddRequest{Archive: "ours", Suite: "stable", Files: files})
		return err
	}
	if err := add(buildDeb(t, dir, "one", "1.0", "amd64", "xz", "1\n")); err != nil {
		t.Fatal(err)
	}
	if err := add(buildDeb(t, dir, "two", "1.0", "amd64", "gzip", "2\n")); err != nil {
		t.Fatal(err)
	}
	first, newest := e.serialsOf("ours")[0], e.latest("ours")

	// Bad input: a truncated .deb, a file that is no package at all.
	full := mustRead(t, buildDeb(t, dir, "three", "1.0", "amd64", "gzip", "3\n"))
	trunc := filepath.Join(dir, "three_1.0_amd64.deb")
	os.WriteFile(trunc, full[:len(full)/2], 0o644)
	notDeb := filepath.Join(dir, "four_1.0_amd64.deb")
	os.WriteFile(notDeb, []byte("<html>proxy error</html>\n"), 0o644)
	stray := filepath.Join(dir, "notes.txt")
	os.WriteFile(stray, []byte("hello\n"), 0o644)
	for _, f := range []string{trunc, notDeb, stray} {
		err := add(f)
		if err == nil {
			t.Errorf("%s: imported", filepath.Base(f))
		} else if !errors.Is(err, api.ErrInvalid) {
			t.Errorf("%s: %v, want an invalid-input error", filepath.Base(f), err)
		}
	}
	if got := e.latest("ours"); got != newest {
		t.Fatalf("refused imports made snapshot %s", got)
	}

	// Twenty days later everything has expired; GC keeps the newest.
	e.clock.Shift(20 * 24 * time.Hour)
	res, err := e.app.GC(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	var expired []string
	for _, s := range res.Expired {
		if s.Archive == "ours" {
			expired = append(expired, s.Serial)
		}
	}
	if len(expired) != 1 || expired[0] != first {
		t.Errorf("GC expired %v of ours, want only %s", expired, first)
	}
	if code, _ := e.get("/ours/" + newest + "/dists/stable/InRelease"); code != 200 {
		t.Errorf("newest custom snapshot answers %d after GC", code)
	}
	if code, _ := e.get("/ours/" + first + "/dists/stable/InRelease"); code != 404 {
		t.Errorf("older custom snapshot answers %d after GC", code)
	}
	pkgs, err := e.app.RepoList(ctx, "ours", "stable")
	if err != nil || len(pkgs) != 2 {
		t.Fatalf("after GC: %v %v", pkgs, err)
	}
	// The scheduled re-snapshot: a new serial, valid again, same packages.
	snap, err := e.app.Pulse(ctx, "ours")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Serial == newest || !snap.ValidUntil.After(e.clock.Now()) {
		t.Errorf("re-snapshot %s valid until %s", snap.Serial, snap.ValidUntil)
	}
	if again, _ := e.app.RepoList(ctx, "ours", "stable"); len(again) != 2 {
		t.Errorf("re-snapshot lost packages: %v", again)
	}
	if v, err := e.app.Verify(ctx, "", ""); err != nil || len(v.Problems) != 0 {
		t.Errorf("verify: %v %v", v.Problems, err)
	}
}

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/api"
)

// TestBranchGrantRefusedChangesNothing: exception grant must not copy the
// package when it cannot pin it: an earlier entry that names the package
// from the same origin wins over an appended exception in APT (the first
// specific pin applies), and a preferences file that cannot be read can
// take no pin. The archive gets no snapshot, the file stays byte for byte.
func TestBranchGrantRefusedChangesNothing(t *testing.T) {
	bin := aptsnapBinary(t)
	e := newEnvWith(t, customConfig(""))
	c := &cli{t: t, bin: bin, config: e.writeConfig(t), server: e.srv.URL}
	rm := createToken(t, c, "release-manager", "rm")
	e.mustPulse()
	if _, err := e.app.Pulse(t.Context(), "ours"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, prefs, want string }{
		{"unreadable preferences", "Package: hello\nPin-Priority: 999\n", "Pin"},
		{"an earlier pin of the package", branchPrefs + "\nPackage: hello\nPin: origin localhost\nPin-Priority: 100\n", "100"},
		{"an earlier glob", "Package: hel*\nPin: origin localhost\nPin-Priority: -1\n", "-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := branchTree(t, e.srv.URL, tc.prefs)
			before := e.latest("ours")
			out, stderr, err := c.run(rm, "exception", "grant", "hello", "--suite", "stable", "--from", "debian", "--tree", root)
			if err == nil || !strings.Contains(stderr, tc.want) {
				t.Errorf("grant: err %v, want a refusal mentioning %q\n%s%s", err, tc.want, out, stderr)
			}
			if got := e.latest("ours"); got != before {
				t.Errorf("the refused grant copied the package (snapshot %s)", got)
			}
			if got := string(mustRead(t, filepath.Join(root, "config/chroot_apt/preferences"))); got != tc.prefs {
				t.Errorf("preferences changed:\n%s", got)
			}
			if _, err := os.Stat(filepath.Join(root, "config/chroot_apt/preferences.tmp")); err == nil {
				t.Error("a temporary file was left behind")
			}
		})
	}
}

// TestBranchGrantSourcePackage: APT pins binary packages, so granting a
// source package pins every binary copied with it.
func TestBranchGrantSourcePackage(t *testing.T) {
	bin := aptsnapBinary(t)
	e := newEnvWith(t, customConfig("")+"\n[[custom]]\nname = \"src\"\nsuites = [\"main\"]\n")
	c := &cli{t: t, bin: bin, config: e.writeConfig(t), server: e.srv.URL}
	rm := createToken(t, c, "release-manager", "rm")
	e.mustPulse()
	dir := t.TempDir()
	dsc, srcFiles := buildSource(t, dir, "ourlib", "3.0")
	files := append([]string{dsc,
		buildDeb(t, dir, "libour1", "3.0", "amd64", "gzip", "lib\n", "Source: ourlib\n"),
		buildDeb(t, dir, "libour-dev", "3.0", "amd64", "gzip", "dev\n", "Source: ourlib\n")}, srcFiles...)
	if _, err := e.app.RepoAdd(t.Context(), api.AddRequest{Archive: "src", Suite: "main", Files: files}); err != nil {
		t.Fatal(err)
	}
	root := branchTree(t, e.srv.URL, branchPrefs)
	out, stderr, err := c.run(rm, "exception", "grant", "ourlib", "--suite", "stable", "--from", "src", "--tree", root)
	if err != nil {
		t.Fatalf("grant: %v\n%s%s", err, out, stderr)
	}
	want := branchPrefs +
		"\nExplanation: freeze exception\nPackage: libour-dev\nPin: origin localhost\nPin-Priority: 999\n" +
		"\nExplanation: freeze exception\nPackage: libour1\nPin: origin localhost\nPin-Priority: 999\n"
	if got := string(mustRead(t, filepath.Join(root, "config/chroot_apt/preferences"))); got != want {
		t.Errorf("preferences after granting a source package:\n%s\nwant\n%s\n(output %s)", got, want, out)
	}
	if strings.Contains(stderr, "warning") {
		t.Errorf("grant into an archive with its own host warned: %s", stderr)
	}
	// An exceptions archive on the mirrors' host: its origin pin pins them too.
	_, stderr, err = c.run(rm, "exception", "grant", "hello", "--suite", "main", "--from", "debian", "--to", "src",
		"--tree", branchTree(t, e.srv.URL, ""))
	if err != nil || !strings.Contains(stderr, "warning: debian is served from 127.0.0.1 too") {
		t.Errorf("grant into an archive sharing the mirrors' host: %v, stderr %q", err, stderr)
	}
}

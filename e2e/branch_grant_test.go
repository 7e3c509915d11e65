package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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

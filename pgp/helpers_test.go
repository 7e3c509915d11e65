package pgp_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aptsnap/aptsnap/pgp"
)

// sampleRelease is a small Release file, as the Signer gets it.
const sampleRelease = `Origin: Debian
Label: Debian
Suite: stable
Codename: bookworm
Date: Sat, 22 Nov 2026 08:14:46 UTC
Architectures: amd64
Components: main
Description: Debian 12
MD5Sum:
 0ed6d4c8891eb86358b94bb35d9e4da4  1484322 main/binary-amd64/Packages
SHA256:
 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  1484322 main/binary-amd64/Packages
`

// releaseAsSigned is what VerifyClearsigned returns for sampleRelease.
var releaseAsSigned = strings.TrimSuffix(sampleRelease, "\n")

var (
	keyMu    sync.Mutex
	keyCache = map[string]*pgp.Signer{}
)

// testSigner returns a Signer of the given algorithm, generated once per test
// binary (RSA 4096 takes a while), or a fresh one when fresh is set.
func testSigner(t testing.TB, algo string, fresh bool) *pgp.Signer {
	t.Helper()
	keyMu.Lock()
	defer keyMu.Unlock()
	if s, ok := keyCache[algo]; ok && !fresh {
		return s
	}
	priv, err := pgp.GenerateKey("aptsnap test "+algo, "test@aptsnap.invalid", algo)
	if err != nil {
		t.Fatalf("GenerateKey(%s): %v", algo, err)
	}
	s, err := pgp.ParseSigner(priv)
	if err != nil {
		t.Fatalf("ParseSigner(%s): %v", algo, err)
	}
	if !fresh {
		keyCache[algo] = s
	}
	return s
}

// needTools skips the test unless the named programs are installed.
func needTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

// gnupg is a throwaway GnuPG home directory.
type gnupg struct {
	t    testing.TB
	home string
}

// newGnuPG makes a GnuPG home in a temporary directory; the agent it may start
// is killed at cleanup.
func newGnuPG(t testing.TB) *gnupg {
	t.Helper()
	needTools(t, "gpg", "gpgv")
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run()
		os.RemoveAll(home)
	})
	return &gnupg{t: t, home: home}
}

// gpg runs gpg in the home with args and returns its standard output.
func (g *gnupg) gpg(stdin []byte, args ...string) []byte {
	g.t.Helper()
	full := append([]string{"--homedir", g.home, "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)
	cmd := exec.Command("gpg", full...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		g.t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes()
}

// file writes data to name in the home and returns its path.
func (g *gnupg) file(name string, data []byte) string {
	g.t.Helper()
	p := filepath.Join(g.home, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		g.t.Fatal(err)
	}
	return p
}

// genKey makes a key with gpg --quick-gen-key and returns its fingerprint.
func (g *gnupg) genKey(uid, algo, expire string, extra ...string) string {
	g.t.Helper()
	args := append(append([]string{}, extra...), "--quick-gen-key", uid, algo, "sign", expire)
	g.gpg(nil, args...)
	return g.fingerprint(uid)
}

// fingerprint returns the primary fingerprint of the key for uid.
func (g *gnupg) fingerprint(uid string) string {
	g.t.Helper()
	out := g.gpg(nil, "--with-colons", "--list-keys", uid)
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" {
			return f[9]
		}
	}
	g.t.Fatalf("no fingerprint for %s in\n%s", uid, out)
	return ""
}

// gpgv runs the real gpgv with keyring on args and reports success and
// its combined output.
func gpgv(t testing.TB, keyring string, args ...string) (bool, string) {
	t.Helper()
	cmd := exec.Command("gpgv", append([]string{"--status-fd", "1", "--keyring", keyring}, args...)...)
	out, err := cmd.CombinedOutput()
	return err == nil, string(out)
}

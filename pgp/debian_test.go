package pgp_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/pgp"
)

// testdata/debian-bookworm-updates.InRelease is Debian's real InRelease of
// 2026-05-20, signed by two keys (12/bookworm and 13/trixie automatic
// signing keys, RSA 4096, SHA-256) in one signature block; the keyrings are
// from the debian-archive-keyring package.
const (
	debianInRelease    = "testdata/debian-bookworm-updates.InRelease"
	debianBookwormKey  = "4CB50190207B4758A3F73A796ED0E7B82643E131" // used by the first signature
	debianTrixieSubkey = "B8E5F13176D2A7A75220028078DBA3BC47EF2265"
)

func TestRealDebianInRelease(t *testing.T) {
	in, err := os.ReadFile(debianInRelease)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		keyring  string
		in       []byte
		wantKind error
		wantMsg  string
	}{
		{"full archive keyring", "testdata/debian-archive-keyring.gpg", in, nil, ""},
		{"only the bookworm key", "testdata/debian-archive-bookworm-automatic.gpg", in, nil, ""},
		{"neither signing key", "testdata/debian-archive-bullseye-stable.gpg", in, pgp.ErrUnknownKey,
			"pgp: InRelease: signatures by unknown keys 0x" + debianBookwormKey + ", 0x" + debianTrixieSubkey},
		{"tampered", "testdata/debian-archive-keyring.gpg", bytes.Replace(in, []byte("Suite: oldstable-updates"), []byte("Suite: stable-updates"), 1),
			pgp.ErrBadSignature, "pgp: InRelease: bad signature by key 0x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := pgp.LoadKeyring(tt.keyring)
			if err != nil {
				t.Fatal(err)
			}
			text, signer, err := kr.VerifyClearsigned(tt.in)
			if tt.wantKind != nil {
				if !errors.Is(err, tt.wantKind) || !strings.HasPrefix(err.Error(), tt.wantMsg) {
					t.Fatalf("err = %v, want %v starting %q", err, tt.wantKind, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(text), "Origin: Debian\nLabel: Debian\nSuite: oldstable-updates\n") || strings.HasSuffix(string(text), "\n") {
				t.Fatalf("plaintext starts %q", text[:60])
			}
			if signer == "" {
				t.Fatal("no signer")
			}
			// The real gpgv extracts the same text (plus the final newline).
			if _, err := exec.LookPath("gpgv"); err == nil {
				out := filepath.Join(t.TempDir(), "Release")
				cmd := exec.Command("gpgv", "--keyring", "testdata/debian-archive-keyring.gpg", "--output", out, debianInRelease)
				if msg, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("gpgv: %v\n%s", err, msg)
				}
				want, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if string(text)+"\n" != string(want) {
					t.Fatal("plaintext differs from what gpgv extracts")
				}
			}
		})
	}
}

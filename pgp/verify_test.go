package pgp_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/pgp"
)

// TestVerifyGPGSignatures checks that keys and signatures made by the real
// gpg (ed25519 and rsa4096 keys, exported binary and armored) verify.
func TestVerifyGPGSignatures(t *testing.T) {
	for _, algo := range algos {
		t.Run(algo, func(t *testing.T) {
			g := newGnuPG(t)
			fpr := g.genKey("Upstream <upstream@example.org>", algo, "never")
			release := g.file("Release", []byte(sampleRelease))
			inRelease := g.gpg(nil, "--clearsign", "-o", "-", release)
			detArmored := g.gpg(nil, "--detach-sign", "--armor", "-o", "-", release)
			detBinary := g.gpg(nil, "--detach-sign", "-o", "-", release)
			keyrings := map[string][]byte{
				"binary":  g.gpg(nil, "--export"),
				"armored": g.gpg(nil, "--export", "--armor"),
			}
			t.Run("gpg secret key as Signer", func(t *testing.T) {
				s, err := pgp.ParseSigner(g.gpg(nil, "--export-secret-keys", "--armor"))
				if err != nil {
					t.Fatal(err)
				}
				if s.Fingerprint() != fpr {
					t.Fatalf("Fingerprint() = %s, want %s", s.Fingerprint(), fpr)
				}
				in, err := s.ClearSign([]byte(sampleRelease))
				if err != nil {
					t.Fatal(err)
				}
				if ok, out := gpgv(t, g.file("keyring.gpg", keyrings["binary"]), g.file("InRelease.ours", in)); !ok {
					t.Fatalf("gpgv refused a signature by the gpg-made key:\n%s", out)
				}
			})
			for format, data := range keyrings {
				path := g.file("keyring."+format, data)
				kr, err := pgp.LoadKeyring(path)
				if err != nil {
					t.Fatalf("LoadKeyring(%s): %v", format, err)
				}
				if got := kr.Fingerprints(); len(got) != 1 || got[0] != fpr {
					t.Fatalf("%s keyring fingerprints %v, want [%s]", format, got, fpr)
				}
				tests := []struct {
					name string
					sig  []byte // nil: clearsigned
				}{
					{"clearsigned", nil},
					{"detached armored", detArmored},
					{"detached binary", detBinary},
				}
				for _, tt := range tests {
					t.Run(format+"/"+tt.name, func(t *testing.T) {
						var signer string
						if tt.sig == nil {
							var text []byte
							text, signer, err = kr.VerifyClearsigned(inRelease)
							if err == nil && string(text) != releaseAsSigned {
								t.Errorf("plaintext = %q, want %q", text, releaseAsSigned)
							}
						} else {
							signer, err = kr.VerifyDetached([]byte(sampleRelease), tt.sig)
						}
						if err != nil {
							t.Fatalf("verify: %v", err)
						}
						if signer != fpr {
							t.Errorf("signer = %s, want %s", signer, fpr)
						}
					})
				}
			}
		})
	}
}

// refusalFixture holds material made by the real gpg for the refusal tests.
type refusalFixture struct {
	g                                  *gnupg
	good, other, rsa, expired, revoked string // fingerprints
	release                            string // path of sampleRelease
}

func newRefusalFixture(t *testing.T) *refusalFixture {
	g := newGnuPG(t)
	f := &refusalFixture{g: g}
	f.good = g.genKey("Good <good@example.org>", "ed25519", "never")
	f.other = g.genKey("Other <other@example.org>", "ed25519", "never")
	f.rsa = g.genKey("Rsa <rsa@example.org>", "rsa2048", "never")
	// A key that lived one day in 2020, with a signature from that day.
	f.expired = g.genKey("Expired <expired@example.org>", "ed25519", "1d", "--faked-system-time", "20200101T000000!")
	f.revoked = g.genKey("Revoked <revoked@example.org>", "ed25519", "never")
	f.release = g.file("Release", []byte(sampleRelease))
	return f
}

// revoke imports the revocation certificate gpg stored for fpr.
func (f *refusalFixture) revoke(t *testing.T, fpr string) {
	rev, err := os.ReadFile(filepath.Join(f.g.home, "openpgp-revocs.d", fpr+".rev"))
	if err != nil {
		t.Fatal(err)
	}
	rev = bytes.ReplaceAll(rev, []byte("\n:-----"), []byte("\n-----"))
	f.g.gpg(rev, "--import")
}

func (f *refusalFixture) exportKeyring(t *testing.T, fprs ...string) *pgp.Keyring {
	kr, err := pgp.ParseKeyring(f.g.gpg(nil, append([]string{"--export"}, fprs...)...))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestRefusals(t *testing.T) {
	f := newRefusalFixture(t)
	g := f.g
	clear := func(signer string, extra ...string) []byte {
		args := append([]string{"-u", signer}, extra...)
		return g.gpg(nil, append(args, "--clearsign", "-o", "-", f.release)...)
	}
	detach := func(signer string, armored bool, extra ...string) []byte {
		args := append([]string{"-u", signer}, extra...)
		if armored {
			args = append(args, "--armor")
		}
		return g.gpg(nil, append(args, "--detach-sign", "-o", "-", f.release)...)
	}
	good := clear(f.good)
	goodDetached := detach(f.good, true)
	expiredSig := clear(f.expired, "--faked-system-time", "20200101T120000!")
	revokedSig := clear(f.revoked)
	f.revoke(t, f.revoked)
	// An RSA signature over other data, to pair with a good one.
	otherData := g.file("Other", []byte("other data\n"))
	rsaOverOther := g.gpg(nil, "-u", f.rsa, "--detach-sign", "-o", "-", otherData)

	kr := f.exportKeyring(t, f.good, f.rsa, f.expired, f.revoked)

	tests := []struct {
		name     string
		in       []byte // clearsigned input, or detached signature when data != nil
		data     []byte
		wantKind error // nil: must verify
		wantMsg  string
	}{
		{"good", good, nil, nil, ""},
		{"white space around", append(append([]byte("\n  \n\t\n"), good...), "\n \n"...), nil, nil, ""},
		{"tampered content", bytes.Replace(good, []byte("Codename: bookworm"), []byte("Codename: bookwork"), 1), nil,
			pgp.ErrBadSignature, "pgp: InRelease: bad signature by key 0x" + f.good},
		{"unknown key", clear(f.other), nil,
			pgp.ErrUnknownKey, "pgp: InRelease: signature by unknown key 0x" + f.other},
		{"garbage before BEGIN", append([]byte("Origin: Evil\n"), good...), nil,
			pgp.ErrMalformed, "pgp: InRelease: unsigned data before the -----BEGIN PGP SIGNED MESSAGE----- line"},
		{"text appended after signature", append(bytes.Clone(good), "Origin: Evil\n"...), nil,
			pgp.ErrMalformed, "pgp: InRelease: unsigned data after the signature block"},
		{"SHA1 signature", clear(f.rsa, "--digest-algo", "SHA1"), nil,
			pgp.ErrWeakDigest, "pgp: InRelease: signature by key 0x" + f.rsa + " uses the weak digest SHA1"},
		{"SHA1 detached signature", detach(f.rsa, true, "--digest-algo", "SHA1"), []byte(sampleRelease),
			pgp.ErrWeakDigest, "pgp: Release.gpg: signature by key 0x" + f.rsa + " uses the weak digest SHA1"},
		{"expired key", expiredSig, nil,
			pgp.ErrKeyExpired, "pgp: InRelease: signature by key 0x" + f.expired + ", which expired on 2020-01-02T00:00:00Z"},
		{"revoked key", revokedSig, nil,
			pgp.ErrKeyRevoked, "pgp: InRelease: signature by key 0x" + f.revoked + ", which has been revoked"},
		{"undashed dash line", bytes.Replace(good, []byte("\nOrigin: Debian\n"), []byte("\n-Origin: Debian\n"), 1), nil,
			pgp.ErrMalformed, "pgp: InRelease: line 4 starts with a dash but is not dash-escaped"},
		{"unknown armor header", bytes.Replace(good, []byte("Hash: SHA256\n"), []byte("Hash: SHA256\nComment: hi\n"), 1), nil,
			pgp.ErrMalformed, `pgp: InRelease: unexpected armor header "Comment: hi"`},
		{"digest not announced", bytes.Replace(good, []byte("Hash: SHA256\n"), []byte("Hash: SHA512\n"), 1), nil,
			pgp.ErrMalformed, "pgp: InRelease: signature digest SHA256 not announced in the Hash header"},
		{"no signature", []byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: x\n"), nil,
			pgp.ErrMalformed, "pgp: InRelease: no -----BEGIN PGP SIGNATURE----- line"},
		{"plain Release", []byte(sampleRelease), nil,
			pgp.ErrMalformed, "pgp: InRelease: not a clearsigned message"},
		{"detached good", goodDetached, []byte(sampleRelease), nil, ""},
		{"detached binary good", detach(f.good, false), []byte(sampleRelease), nil, ""},
		{"detached tampered", goodDetached, []byte(strings.Replace(sampleRelease, "bookworm", "trixie", 1)),
			pgp.ErrBadSignature, "pgp: Release.gpg: bad signature by key 0x" + f.good},
		{"detached unknown key", detach(f.other, true), []byte(sampleRelease),
			pgp.ErrUnknownKey, "pgp: Release.gpg: signature by unknown key 0x" + f.other},
		{"detached garbage before", append([]byte("junk\n"), goodDetached...), []byte(sampleRelease),
			pgp.ErrMalformed, "pgp: Release.gpg: unsigned data before the -----BEGIN PGP SIGNATURE----- line"},
		{"detached text after", append(bytes.Clone(goodDetached), "junk\n"...), []byte(sampleRelease),
			pgp.ErrMalformed, "pgp: Release.gpg: unsigned data after the signature block"},
		{"good plus bad signature", append(detach(f.good, false), rsaOverOther...), []byte(sampleRelease),
			pgp.ErrBadSignature, "pgp: Release.gpg: bad signature by key 0x" + f.rsa},
		{"good plus unknown signature", append(detach(f.good, false), detach(f.other, false)...), []byte(sampleRelease), nil, ""},
		{"two unknown signatures", append(detach(f.other, false), g.gpg(nil, "-u", f.other, "--detach-sign", "-o", "-", f.release)...), []byte(sampleRelease),
			pgp.ErrUnknownKey, "pgp: Release.gpg: signature by unknown key 0x" + f.other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			var text []byte
			if tt.data == nil {
				text, _, err = kr.VerifyClearsigned(tt.in)
			} else {
				_, err = kr.VerifyDetached(tt.data, tt.in)
			}
			if tt.wantKind == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tt.data == nil && string(text) != releaseAsSigned {
					t.Fatalf("plaintext = %q", text)
				}
				return
			}
			if err == nil {
				t.Fatalf("verified; want %v", tt.wantKind)
			}
			if text != nil {
				t.Errorf("plaintext returned with an error")
			}
			if !errors.Is(err, tt.wantKind) {
				t.Errorf("error kind: got %v, want %v", err, tt.wantKind)
			}
			if !strings.HasPrefix(err.Error(), tt.wantMsg) {
				t.Errorf("error = %q\nwant prefix %q", err, tt.wantMsg)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

// TestVerifyClearsignedFormat covers the cleartext framework edge cases
// with our own signer.
func TestVerifyClearsignedFormat(t *testing.T) {
	s := testSigner(t, pgp.AlgoEd25519, false)
	kr := s.Keyring()
	signed, err := s.ClearSign([]byte(sampleRelease))
	if err != nil {
		t.Fatal(err)
	}
	str := string(signed)
	sigStart := strings.Index(str, "-----BEGIN PGP SIGNATURE-----")
	sigBlock := str[sigStart:]
	tests := []struct {
		name     string
		in       string
		wantKind error
	}{
		{"as signed", str, nil},
		{"CRLF line endings", strings.ReplaceAll(str, "\n", "\r\n"), nil},
		{"trailing white space", strings.Replace(str, "Label: Debian\n", "Label: Debian \t \n", 1), nil},
		{"ordinary line dash-escaped", strings.Replace(str, "\nLabel: Debian\n", "\n- Label: Debian\n", 1), nil},
		{"two signature blocks", str + "\n" + sigBlock, nil},
		{"BEGIN line indented", " " + str, pgp.ErrMalformed},
		{"BEGIN line with suffix", strings.Replace(str, "MESSAGE-----\n", "MESSAGE-----x\n", 1), pgp.ErrMalformed},
		{"no END line", strings.Replace(str, "-----END PGP SIGNATURE-----", "", 1), pgp.ErrMalformed},
		{"no blank line after headers", strings.Replace(str, "Hash: SHA512\n\n", "Hash: SHA512\n", 1), pgp.ErrMalformed},
		{"indented signature BEGIN", strings.Replace(str, "\n-----BEGIN PGP SIGNATURE-----", "\n -----BEGIN PGP SIGNATURE-----", 1), pgp.ErrMalformed},
		{"line added", strings.Replace(str, "Label: Debian\n", "Label: Debian\nX: y\n", 1), pgp.ErrBadSignature},
		{"line removed", strings.Replace(str, "Label: Debian\n", "", 1), pgp.ErrBadSignature},
		{"blank line added at end", strings.Replace(str, "\n-----BEGIN PGP SIGNATURE", "\n\n-----BEGIN PGP SIGNATURE", 1), pgp.ErrBadSignature},
		{"unknown hash header", strings.Replace(str, "Hash: SHA512", "Hash: FOO", 1), pgp.ErrMalformed},
		{"corrupt armor", strings.Replace(sigBlock, "\n\n", "\n\n!!!!", 1), pgp.ErrMalformed},
		{"empty", "", pgp.ErrMalformed},
		{"public key instead", string(s.PublicKey()), pgp.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, signer, err := kr.VerifyClearsigned([]byte(tt.in))
			if tt.wantKind == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if string(text) != releaseAsSigned || signer != s.Fingerprint() {
					t.Fatalf("got %q by %s", text, signer)
				}
				return
			}
			if !errors.Is(err, tt.wantKind) {
				t.Fatalf("err = %v, want %v", err, tt.wantKind)
			}
			if text != nil || signer != "" {
				t.Fatalf("returned %q, %q with an error", text, signer)
			}
		})
	}
}

func TestParseKeyring(t *testing.T) {
	a := testSigner(t, pgp.AlgoEd25519, false)
	b := testSigner(t, pgp.AlgoEd25519, true)
	needTools(t, "gpg")
	g := newGnuPG(t)
	binA := g.gpg(a.PublicKey(), "--dearmor")
	binB := g.gpg(b.PublicKey(), "--dearmor")
	tests := []struct {
		name    string
		data    []byte
		want    []string
		wantErr string
	}{
		{"armored", a.PublicKey(), []string{a.Fingerprint()}, ""},
		{"binary", binA, []string{a.Fingerprint()}, ""},
		{"two armored blocks", append(a.PublicKey(), b.PublicKey()...), []string{a.Fingerprint(), b.Fingerprint()}, ""},
		{"armored with comment before", append([]byte("# upstream key\n"), a.PublicKey()...), []string{a.Fingerprint()}, ""},
		{"two binary keys", append(bytes.Clone(binA), binB...), []string{a.Fingerprint(), b.Fingerprint()}, ""},
		{"empty", nil, nil, "pgp: parse keyring"},
		{"garbage", []byte("hello world"), nil, "pgp: parse keyring"},
		{"signature block", []byte("-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n"), nil, "pgp: parse keyring"},
		{"unterminated armor", []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n"), nil, "pgp: parse keyring"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := pgp.ParseKeyring(tt.data)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := kr.Fingerprints()
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("fingerprints %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := pgp.LoadKeyring(filepath.Join(t.TempDir(), "missing.gpg")); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.gpg") {
		t.Fatalf("LoadKeyring(missing) = %v", err)
	}
}

// TestKeyringIgnoresPrivateKeys checks that a keyring made from a private key
// verifies and keeps no secret material usable for signing.
func TestKeyringFromPrivateKey(t *testing.T) {
	priv, err := pgp.GenerateKey("p", "", pgp.AlgoEd25519)
	if err != nil {
		t.Fatal(err)
	}
	s, err := pgp.ParseSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := pgp.ParseKeyring(priv)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := s.ClearSign([]byte("a: b\n"))
	if _, _, err := kr.VerifyClearsigned(in); err != nil {
		t.Fatal(err)
	}
}

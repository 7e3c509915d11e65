package pgp_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/aptsnap/aptsnap/pgp"
)

var algos = []string{pgp.AlgoEd25519, pgp.AlgoRSA4096}

func TestGenerateKeyFormat(t *testing.T) {
	tests := []struct {
		algo    string
		pubAlgo packet.PublicKeyAlgorithm
		wantErr bool
	}{
		{pgp.AlgoEd25519, packet.PubKeyAlgoEdDSA, false},
		{pgp.AlgoRSA4096, packet.PubKeyAlgoRSA, false},
		{"ed448", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.algo, func(t *testing.T) {
			if tt.wantErr {
				if _, err := pgp.GenerateKey("x", "", tt.algo); err == nil {
					t.Fatalf("GenerateKey(%q) succeeded, want error", tt.algo)
				}
				return
			}
			s := testSigner(t, tt.algo, false)
			if !bytes.HasPrefix(s.PublicKey(), []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
				t.Fatalf("PublicKey() not armored: %q", s.PublicKey()[:40])
			}
			if !regexp.MustCompile(`^[0-9A-F]{40}$`).MatchString(s.Fingerprint()) {
				t.Fatalf("Fingerprint() = %q, want 40 upper-case hex digits", s.Fingerprint())
			}
			blk, err := armor.Decode(bytes.NewReader(s.PublicKey()))
			if err != nil {
				t.Fatal(err)
			}
			p, err := packet.Read(blk.Body)
			if err != nil {
				t.Fatal(err)
			}
			pk, ok := p.(*packet.PublicKey)
			if !ok {
				t.Fatalf("first packet is %T", p)
			}
			if pk.Version != 4 || pk.PubKeyAlgo != tt.pubAlgo {
				t.Fatalf("key version %d algo %d, want v4 algo %d", pk.Version, pk.PubKeyAlgo, tt.pubAlgo)
			}
			if tt.algo == pgp.AlgoRSA4096 {
				if bits, _ := pk.BitLength(); bits != 4096 {
					t.Fatalf("RSA key has %d bits", bits)
				}
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, algo := range algos {
		t.Run(algo, func(t *testing.T) {
			s := testSigner(t, algo, false)
			kr, err := pgp.ParseKeyring(s.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				name string
				data string
				want string // plaintext VerifyClearsigned returns
			}{
				{"release", sampleRelease, releaseAsSigned},
				{"no final newline", "Origin: x\nLabel: y", "Origin: x\nLabel: y"},
				{"dash lines", "-----BEGIN PGP SIGNATURE-----\n- x\n-y\n", "-----BEGIN PGP SIGNATURE-----\n- x\n-y"},
				{"blank line at end", "a: b\n\n", "a: b\n"},
				{"empty", "", ""},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					in, err := s.ClearSign([]byte(tt.data))
					if err != nil {
						t.Fatal(err)
					}
					got, signer, err := kr.VerifyClearsigned(in)
					if err != nil {
						t.Fatalf("VerifyClearsigned: %v\n%s", err, in)
					}
					if string(got) != tt.want {
						t.Errorf("plaintext = %q, want %q", got, tt.want)
					}
					if signer != s.Fingerprint() {
						t.Errorf("signer = %s, want %s", signer, s.Fingerprint())
					}
					sig, err := s.DetachSign([]byte(tt.data))
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.HasPrefix(sig, []byte("-----BEGIN PGP SIGNATURE-----")) {
						t.Fatalf("DetachSign not armored: %q", sig)
					}
					signer, err = kr.VerifyDetached([]byte(tt.data), sig)
					if err != nil {
						t.Fatalf("VerifyDetached: %v", err)
					}
					if signer != s.Fingerprint() {
						t.Errorf("signer = %s, want %s", signer, s.Fingerprint())
					}
				})
			}
		})
	}
}

// TestGpgvAcceptsOurSignatures checks InRelease and Release.gpg made by
// Signer with the real gpgv, the way APT runs it.
func TestGpgvAcceptsOurSignatures(t *testing.T) {
	for _, algo := range algos {
		for _, mode := range []string{"clearsigned", "detached"} {
			t.Run(algo+"/"+mode, func(t *testing.T) {
				g := newGnuPG(t)
				s := testSigner(t, algo, false)
				keyring := g.file("key.gpg", g.gpg(s.PublicKey(), "--dearmor"))
				var args []string
				if mode == "clearsigned" {
					in, err := s.ClearSign([]byte(sampleRelease))
					if err != nil {
						t.Fatal(err)
					}
					args = []string{g.file("InRelease", in)}
				} else {
					sig, err := s.DetachSign([]byte(sampleRelease))
					if err != nil {
						t.Fatal(err)
					}
					args = []string{g.file("Release.gpg", sig), g.file("Release", []byte(sampleRelease))}
				}
				ok, out := gpgv(t, keyring, args...)
				if !ok {
					t.Fatalf("gpgv refused our signature:\n%s", out)
				}
				m := regexp.MustCompile(`VALIDSIG ([0-9A-F]{40}) \S+ \d+ \d+ 4 \d+ (\d+) (\d+)`).FindStringSubmatch(out)
				if m == nil || m[1] != s.Fingerprint() {
					t.Fatalf("no VALIDSIG by %s in gpgv output:\n%s", s.Fingerprint(), out)
				}
				if m[3] != "10" { // SHA512
					t.Errorf("digest algorithm %s, want 10 (SHA512)", m[3])
				}
				if mode == "clearsigned" {
					// gpg extracts the same text we sign.
					got := g.gpg(nil, "--no-default-keyring", "--keyring", keyring, "--decrypt", args[0])
					if string(got) != sampleRelease {
						t.Errorf("gpg --decrypt = %q, want %q", got, sampleRelease)
					}
				}
			})
		}
	}
}

func TestSignatureTimeIsNow(t *testing.T) {
	s := testSigner(t, pgp.AlgoEd25519, false)
	before := time.Now().Add(-time.Second)
	sig, err := s.DetachSign([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	blk, err := armor.Decode(bytes.NewReader(sig))
	if err != nil {
		t.Fatal(err)
	}
	p, err := packet.Read(blk.Body)
	if err != nil {
		t.Fatal(err)
	}
	ps := p.(*packet.Signature)
	if ps.CreationTime.Before(before) || ps.CreationTime.After(time.Now().Add(time.Second)) {
		t.Fatalf("signature time %v is not now", ps.CreationTime)
	}
	if ps.SigType != packet.SigTypeBinary {
		t.Errorf("Release.gpg signature type %v, want binary", ps.SigType)
	}
}

func TestSignerConcurrent(t *testing.T) {
	for _, algo := range algos {
		t.Run(algo, func(t *testing.T) {
			s := testSigner(t, algo, false)
			kr := s.Keyring()
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					data := []byte(sampleRelease + strings.Repeat("x", i) + "\n")
					for range 4 {
						in, err := s.ClearSign(data)
						if err != nil {
							errs <- err
							return
						}
						if _, _, err := kr.VerifyClearsigned(in); err != nil {
							errs <- err
							return
						}
						sig, err := s.DetachSign(data)
						if err != nil {
							errs <- err
							return
						}
						if _, err := kr.VerifyDetached(data, sig); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func TestLoadOrCreateSigner(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "signing.asc")

	s1, created, err := pgp.LoadOrCreateSigner(path, "aptsnap test")
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v, want created", created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	s2, created, err := pgp.LoadOrCreateSigner(path, "other name")
	if err != nil || created {
		t.Fatalf("second call: created=%v err=%v, want loaded", created, err)
	}
	if s1.Fingerprint() != s2.Fingerprint() {
		t.Fatalf("reloaded key %s, want %s", s2.Fingerprint(), s1.Fingerprint())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("key directory holds %d entries, want only the key (no temp files)", len(entries))
	}

	// Concurrent creators agree on one key.
	path2 := filepath.Join(dir, "race.asc")
	var wg sync.WaitGroup
	fprs := make([]string, 8)
	nCreated := 0
	var mu sync.Mutex
	for i := range fprs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, c, err := pgp.LoadOrCreateSigner(path2, "race")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			fprs[i] = s.Fingerprint()
			if c {
				nCreated++
			}
		}()
	}
	wg.Wait()
	if nCreated != 1 {
		t.Errorf("%d callers report created, want 1", nCreated)
	}
	for _, f := range fprs {
		if f != fprs[0] {
			t.Fatalf("concurrent callers got different keys: %v", fprs)
		}
	}
}

func TestLoadOrCreateSignerErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content []byte
		want    string
	}{
		{"garbage", []byte("not a key\n"), "pgp: parse signing key"},
		{"public key only", testSigner(t, pgp.AlgoEd25519, false).PublicKey(), "no private key"},
		{"empty", nil, "pgp: parse signing key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if err := os.WriteFile(p, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := pgp.LoadOrCreateSigner(p, "x")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want containing %q", err, tt.want)
			}
			got, _ := os.ReadFile(p)
			if !bytes.Equal(got, tt.content) {
				t.Fatal("existing file was modified")
			}
		})
	}
	// A path in an unreadable place is an error too.
	if _, _, err := pgp.LoadOrCreateSigner(filepath.Join(dir, "garbage", "x.asc"), "x"); err == nil {
		t.Fatal("want an error for a path below a regular file")
	}
}

func TestParseSignerErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"garbage", []byte("hello")},
		{"armored garbage", []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nAAAA\n-----END PGP PRIVATE KEY BLOCK-----\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pgp.ParseSigner(tt.in)
			if err == nil {
				t.Fatal("want error")
			}
			if !strings.HasPrefix(err.Error(), "pgp: ") {
				t.Errorf("error %q lacks the pgp: prefix", err)
			}
		})
	}
}

func TestSignerKeyringMatches(t *testing.T) {
	s := testSigner(t, pgp.AlgoEd25519, false)
	kr := s.Keyring()
	if got := kr.Fingerprints(); len(got) != 1 || got[0] != s.Fingerprint() || kr.Len() != 1 {
		t.Fatalf("Keyring().Fingerprints() = %v, want [%s]", got, s.Fingerprint())
	}
	// A detached signature over other data is refused as bad.
	sig, _ := s.DetachSign([]byte("a"))
	if _, err := kr.VerifyDetached([]byte("b"), sig); !errors.Is(err, pgp.ErrBadSignature) {
		t.Fatalf("err = %v, want ErrBadSignature", err)
	}
}

func BenchmarkClearSign(b *testing.B) {
	for _, algo := range algos {
		b.Run(algo, func(b *testing.B) {
			s := testSigner(b, algo, false)
			data := []byte(sampleRelease)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.ClearSign(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyClearsigned(b *testing.B) {
	s := testSigner(b, pgp.AlgoEd25519, false)
	in, _ := s.ClearSign([]byte(sampleRelease))
	kr := s.Keyring()
	for b.Loop() {
		if _, _, err := kr.VerifyClearsigned(in); err != nil {
			b.Fatal(err)
		}
	}
}

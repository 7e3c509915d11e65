package pgp_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/pgp"
)

// FuzzVerifyClearsigned feeds arbitrary input to VerifyClearsigned. It must
// never panic, and whenever it reports success the plaintext must be one of
// the texts actually signed by the keyring's key (the fuzzer cannot forge a
// signature, so anything else means unsigned data slipped through).
func FuzzVerifyClearsigned(f *testing.F) {
	priv, err := os.ReadFile("testdata/fuzz-signing-key.asc")
	if err != nil {
		f.Fatal(err)
	}
	s, err := pgp.ParseSigner(priv)
	if err != nil {
		f.Fatal(err)
	}
	kr := s.Keyring()
	other := testSigner(f, pgp.AlgoEd25519, false) // not in the keyring

	texts := []string{
		sampleRelease,
		"Origin: x\n",
		"- a\n-----BEGIN PGP SIGNATURE-----\n\nb\n",
		"",
	}
	signed := map[string]bool{}
	for _, text := range texts {
		signed[strings.TrimSuffix(text, "\n")] = true
		in, err := s.ClearSign([]byte(text))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(in)
		f.Add([]byte(strings.ReplaceAll(string(in), "\n", "\r\n")))
		f.Add([]byte(string(in) + string(in)))
		f.Add([]byte("junk\n" + string(in)))
		o, err := other.ClearSign([]byte(text))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(o)
	}
	f.Add([]byte("-----BEGIN PGP SIGNED MESSAGE-----\n\n-----BEGIN PGP SIGNATURE-----\n-----END PGP SIGNATURE-----\n"))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, in []byte) {
		text, signer, err := kr.VerifyClearsigned(in)
		if err != nil {
			var ve *pgp.VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v is not a *VerifyError", err)
			}
			if text != nil || signer != "" {
				t.Fatalf("returned %q, %q with error %v", text, signer, err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") || !strings.HasPrefix(err.Error(), "pgp: InRelease: ") {
				t.Fatalf("bad error message %q", err)
			}
			return
		}
		if !signed[string(text)] {
			t.Fatalf("verified plaintext that was never signed: %q", text)
		}
		if signer != s.Fingerprint() {
			t.Fatalf("signer %s, want %s", signer, s.Fingerprint())
		}
	})
}

package pgp

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Key algorithms accepted by GenerateKey.
const (
	// AlgoEd25519 is a v4 legacy EdDSA key on Ed25519 (what GnuPG 2.2 calls
	// "ed25519"), the default: small and fast.
	AlgoEd25519 = "ed25519"
	// AlgoRSA4096 is a v4 RSA key of 4096 bits.
	AlgoRSA4096 = "rsa4096"
)

// signingHash is the digest of every signature we make.
const signingHash = crypto.SHA512

// Signer signs our Release files. It is immutable and safe for concurrent
// use by many goroutines.
type Signer struct {
	entity    *openpgp.Entity
	key       *packet.PrivateKey // the (sub)key that signs
	publicArm []byte
	fpr       string
}

// config returns a fresh signing configuration: SHA-512, the current time,
// and no salt notation (signatures look like GnuPG's).
func (s *Signer) config() *packet.Config {
	noSalt := false
	return &packet.Config{
		DefaultHash:                           signingHash,
		SigningKeyId:                          s.key.KeyId,
		NonDeterministicSignaturesViaNotation: &noSalt,
	}
}

// GenerateKey makes a new v4 signing key for name and email (email may be
// empty) and returns it armored ("-----BEGIN PGP PRIVATE KEY BLOCK-----"),
// unencrypted. algo is AlgoEd25519 (legacy EdDSA, accepted by GnuPG 2.2's
// gpgv) or AlgoRSA4096. The key has no expiry and no encryption subkey: it
// only signs.
func GenerateKey(name, email string, algo string) (armoredPrivate []byte, err error) {
	noSalt := false
	cfg := &packet.Config{
		DefaultHash:                           signingHash,
		NonDeterministicSignaturesViaNotation: &noSalt,
	}
	switch algo {
	case AlgoEd25519:
		cfg.Algorithm = packet.PubKeyAlgoEdDSA
		cfg.Curve = packet.Curve25519
	case AlgoRSA4096:
		cfg.Algorithm = packet.PubKeyAlgoRSA
		cfg.RSABits = 4096
	default:
		return nil, fmt.Errorf("pgp: generate key: unsupported algorithm %q (want %q or %q)", algo, AlgoEd25519, AlgoRSA4096)
	}
	e, err := openpgp.NewEntity(name, "", email, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgp: generate %s key: %w", algo, err)
	}
	e.Subkeys = nil // a signing-only key: drop the encryption subkey
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	if err != nil {
		return nil, fmt.Errorf("pgp: generate key: armor: %w", err)
	}
	if err := e.SerializePrivateWithoutSigning(w, cfg); err != nil {
		return nil, fmt.Errorf("pgp: generate key: serialize: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("pgp: generate key: armor: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// ParseSigner reads a private key (armored, or binary) as GenerateKey
// returns it. The key must not be passphrase-protected and must be able to
// sign now.
func ParseSigner(armoredPrivate []byte) (*Signer, error) {
	var (
		el  openpgp.EntityList
		err error
	)
	if isArmored(armoredPrivate) {
		el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(armoredPrivate))
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(armoredPrivate))
	}
	if err != nil {
		return nil, fmt.Errorf("pgp: parse signing key: %w", err)
	}
	for _, e := range el {
		if e.PrivateKey == nil {
			continue
		}
		k, ok := e.SigningKey(time.Now())
		if !ok || k.PrivateKey == nil {
			return nil, fmt.Errorf("pgp: parse signing key: key %s has no usable signing key (expired, revoked or not for signing)", fingerprintHex(e.PrimaryKey.Fingerprint))
		}
		if k.PrivateKey.Encrypted {
			return nil, fmt.Errorf("pgp: parse signing key: key %s is passphrase-protected", fingerprintHex(e.PrimaryKey.Fingerprint))
		}
		var pub bytes.Buffer
		w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
		if err != nil {
			return nil, fmt.Errorf("pgp: parse signing key: armor: %w", err)
		}
		if err := e.Serialize(w); err != nil {
			return nil, fmt.Errorf("pgp: parse signing key: serialize public key: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("pgp: parse signing key: armor: %w", err)
		}
		pub.WriteByte('\n')
		return &Signer{
			entity:    e,
			key:       k.PrivateKey,
			publicArm: pub.Bytes(),
			fpr:       fingerprintHex(e.PrimaryKey.Fingerprint),
		}, nil
	}
	return nil, errors.New("pgp: parse signing key: no private key found")
}

// LoadOrCreateSigner reads an armored private key from path or, if path does
// not exist, generates an ed25519 key for name, writes it there with mode
// 0600 (temporary file, fsync, then an atomic link/rename that never replaces
// a file another process created meanwhile) and reports created=true. An
// existing file that does not hold a usable key is an error, never
// overwritten.
func LoadOrCreateSigner(path, name string) (s *Signer, created bool, err error) {
	data, err := os.ReadFile(path)
	if err == nil {
		s, err := ParseSigner(data)
		if err != nil {
			return nil, false, fmt.Errorf("%w (%s)", err, path)
		}
		return s, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("pgp: load signing key: %w", err)
	}
	key, err := GenerateKey(name, "", AlgoEd25519)
	if err != nil {
		return nil, false, err
	}
	s, err = ParseSigner(key)
	if err != nil {
		return nil, false, err
	}
	won, err := writeNewFile(path, key)
	if err != nil {
		return nil, false, fmt.Errorf("pgp: write signing key: %w", err)
	}
	if !won {
		// Another process created the key first: use that one.
		s, _, err = LoadOrCreateSigner(path, name)
		return s, false, err
	}
	return s, true, nil
}

// writeNewFile writes data to path atomically with mode 0600 unless path
// already exists; it reports false (and writes nothing) in that case.
func writeNewFile(path string, data []byte) (bool, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return false, err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Close(); err != nil {
		return false, err
	}
	// link(2) fails if path exists, unlike rename(2); fall back to rename on
	// file systems without hard links.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		if _, statErr := os.Lstat(path); statErr == nil {
			return false, nil
		}
		if err := os.Rename(tmp, path); err != nil {
			return false, err
		}
	}
	if d, err := os.Open(dir); err == nil {
		syncErr := d.Sync()
		d.Close()
		if syncErr != nil {
			return false, syncErr
		}
	}
	return true, nil
}

// ClearSign returns data clearsigned (an InRelease file) with a SHA-512
// signature made now. As GnuPG does, the final newline of data (a Release
// file ends with one) becomes the line break before the signature block, so
// VerifyClearsigned returns data without it. Trailing white space on lines
// is not signed (RFC 4880 §7.1); Release files have none.
func (s *Signer) ClearSign(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(data) + 1024)
	w, err := clearsign.Encode(&buf, s.key, s.config())
	if err != nil {
		return nil, fmt.Errorf("pgp: clearsign: %w", err)
	}
	if _, err := w.Write(bytes.TrimSuffix(data, []byte("\n"))); err != nil {
		return nil, fmt.Errorf("pgp: clearsign: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("pgp: clearsign: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// DetachSign returns an armored detached binary-mode signature of data (a
// Release.gpg file) with a SHA-512 digest, made now.
func (s *Signer) DetachSign(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&buf, s.entity, bytes.NewReader(data), s.config()); err != nil {
		return nil, fmt.Errorf("pgp: detach-sign: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// PublicKey returns the armored public key ("-----BEGIN PGP PUBLIC KEY
// BLOCK-----"), for APT's signed-by or for gpgv after "gpg --dearmor".
func (s *Signer) PublicKey() []byte {
	return bytes.Clone(s.publicArm)
}

// Fingerprint returns the primary key's fingerprint, upper-case hex.
func (s *Signer) Fingerprint() string { return s.fpr }

// Keyring returns a keyring holding the signer's public key.
func (s *Signer) Keyring() *Keyring {
	k, err := ParseKeyring(s.publicArm)
	if err != nil {
		// publicArm was produced by ParseSigner from a parsed entity.
		panic("pgp: signer public key does not parse: " + err.Error())
	}
	return k
}

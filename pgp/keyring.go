// Package pgp verifies the OpenPGP signatures of upstream APT repositories
// (InRelease, Release + Release.gpg) against a keyring, and signs the Release
// files aptsnap serves.
//
// It is built on github.com/ProtonMail/go-crypto and produces only what
// Debian's gpgv (GnuPG 2.2) accepts: version 4 keys, either legacy EdDSA
// (ed25519) or RSA 4096, and SHA-512 signatures.
package pgp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

const (
	publicKeyBlock  = "PGP PUBLIC KEY BLOCK"
	privateKeyBlock = "PGP PRIVATE KEY BLOCK"
	signatureBlock  = "PGP SIGNATURE"
)

// Keyring is a set of public keys that may sign an upstream's Release files.
// A Keyring is immutable once made and safe for concurrent use.
type Keyring struct {
	entities openpgp.EntityList
}

// LoadKeyring reads a keyring file: binary (.gpg, as exported by
// "gpg --export") or ASCII-armored (.asc), told apart by content, holding one
// key or several (several armored blocks may follow each other).
func LoadKeyring(path string) (*Keyring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // "open PATH: no such file or directory" says it all
	}
	k, err := ParseKeyring(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return k, nil
}

// ParseKeyring parses a keyring held in memory, binary or armored (see
// LoadKeyring). It fails if the data holds no usable public key.
func ParseKeyring(data []byte) (*Keyring, error) {
	var (
		el  openpgp.EntityList
		err error
	)
	if isArmored(data) {
		el, err = readArmoredKeys(data)
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("pgp: parse keyring: %w", err)
	}
	if len(el) == 0 {
		return nil, errors.New("pgp: parse keyring: no public key found")
	}
	// Drop any secret key material: a keyring is for verification only.
	for i, e := range el {
		pub := *e
		pub.PrivateKey = nil
		pub.Subkeys = append([]openpgp.Subkey(nil), e.Subkeys...)
		for j := range pub.Subkeys {
			pub.Subkeys[j].PrivateKey = nil
		}
		el[i] = &pub
	}
	return &Keyring{entities: el}, nil
}

// isArmored tells armored (text) OpenPGP data from binary: every binary
// OpenPGP packet starts with a byte whose high bit is set.
func isArmored(data []byte) bool {
	return len(data) > 0 && data[0] < 0x80
}

// readArmoredKeys decodes every armored key block in data.
func readArmoredKeys(data []byte) (openpgp.EntityList, error) {
	var el openpgp.EntityList
	blocks, err := splitArmor(data)
	if err != nil {
		return nil, err
	}
	for _, b := range blocks {
		blk, err := armor.Decode(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("armor: %w", err)
		}
		if blk.Type != publicKeyBlock && blk.Type != privateKeyBlock {
			return nil, fmt.Errorf("unexpected armored block %q in keyring", blk.Type)
		}
		keys, err := openpgp.ReadKeyRing(blk.Body)
		if err != nil {
			return nil, err
		}
		el = append(el, keys...)
	}
	return el, nil
}

// splitArmor returns each "-----BEGIN PGP ...-----" ... "-----END PGP ...-----"
// block of data. Text outside blocks is ignored (armored key files commonly
// carry a comment before the block).
func splitArmor(data []byte) ([][]byte, error) {
	var blocks [][]byte
	rest := data
	for {
		i := bytes.Index(rest, []byte("-----BEGIN PGP "))
		if i < 0 {
			break
		}
		rest = rest[i:]
		j := bytes.Index(rest, []byte("-----END PGP "))
		if j < 0 {
			return nil, errors.New("armor: unterminated block")
		}
		k := bytes.IndexByte(rest[j:], '\n')
		if k < 0 {
			k = len(rest) - j
		} else {
			k++
		}
		blocks = append(blocks, rest[:j+k])
		rest = rest[j+k:]
	}
	if len(blocks) == 0 {
		return nil, errors.New("armor: no armored block found")
	}
	return blocks, nil
}

// Fingerprints returns the upper-case hex fingerprints of the primary keys in
// the keyring, in file order.
func (k *Keyring) Fingerprints() []string {
	out := make([]string, 0, len(k.entities))
	for _, e := range k.entities {
		out = append(out, fingerprintHex(e.PrimaryKey.Fingerprint))
	}
	return out
}

// Len returns the number of keys (primary keys) in the keyring.
func (k *Keyring) Len() int { return len(k.entities) }

func fingerprintHex(fp []byte) string {
	return strings.ToUpper(hex.EncodeToString(fp))
}

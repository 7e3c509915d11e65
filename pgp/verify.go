package pgp

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Kinds of verification failure. Every error returned by VerifyClearsigned and
// VerifyDetached is a *VerifyError whose kind is one of these, so callers can
// test it with errors.Is.
var (
	// ErrMalformed: the input is not a well-formed signed message (or
	// carries unsigned data around it).
	ErrMalformed = errors.New("malformed signed data")
	// ErrUnknownKey: no signature was made by a key in the keyring.
	ErrUnknownKey = errors.New("signature by unknown key")
	// ErrBadSignature: a signature by a key in the keyring does not match the
	// signed data.
	ErrBadSignature = errors.New("bad signature")
	// ErrWeakDigest: the signature uses SHA-1 or a weaker digest.
	ErrWeakDigest = errors.New("weak digest algorithm")
	// ErrKeyExpired: the signing key has expired.
	ErrKeyExpired = errors.New("key expired")
	// ErrKeyRevoked: the signing key has been revoked.
	ErrKeyRevoked = errors.New("key revoked")
	// ErrSignatureExpired: the signature itself has expired.
	ErrSignatureExpired = errors.New("signature expired")
)

// VerifyError is the error returned when a signed file does not verify. Its
// message is one line, such as
// "pgp: InRelease: bad signature by key 0x6ED0E7B82643E131...".
type VerifyError struct {
	// Kind is one of the Err* variables of this package.
	Kind error
	// File names what was being verified ("InRelease", "Release.gpg").
	File string
	// Detail is the human-readable explanation.
	Detail string
}

// Error returns the one-line message.
func (e *VerifyError) Error() string {
	return "pgp: " + e.File + ": " + e.Detail
}

// Unwrap returns the kind, so that errors.Is(err, ErrBadSignature) works.
func (e *VerifyError) Unwrap() error { return e.Kind }

func verr(kind error, file, format string, args ...any) *VerifyError {
	return &VerifyError{Kind: kind, File: file, Detail: fmt.Sprintf(format, args...)}
}

const (
	beginSigned    = "-----BEGIN PGP SIGNED MESSAGE-----"
	beginSignature = "-----BEGIN PGP SIGNATURE-----"
	endSignature   = "-----END PGP SIGNATURE-----"
)

// hashNames maps the names allowed in a cleartext "Hash:" armor header.
var hashNames = map[string]crypto.Hash{
	"MD5":       crypto.MD5,
	"SHA1":      crypto.SHA1,
	"RIPEMD160": crypto.RIPEMD160,
	"SHA224":    crypto.SHA224,
	"SHA256":    crypto.SHA256,
	"SHA384":    crypto.SHA384,
	"SHA512":    crypto.SHA512,
	"SHA3-256":  crypto.SHA3_256,
	"SHA3-512":  crypto.SHA3_512,
}

// strongHashes are the digests accepted in signatures: SHA-1 and weaker are
// refused.
var strongHashes = map[crypto.Hash]bool{
	crypto.SHA224:   true,
	crypto.SHA256:   true,
	crypto.SHA384:   true,
	crypto.SHA512:   true,
	crypto.SHA3_256: true,
	crypto.SHA3_512: true,
}

// cleanLine strips a line the way APT (and RFC 4880 §7.1) does: trailing
// CR/LF characters, then trailing spaces and tabs.
func cleanLine(l []byte) []byte {
	l = bytes.TrimRight(l, "\r\n")
	return bytes.TrimRight(l, " \t")
}

func isBlank(l []byte) bool { return len(bytes.TrimSpace(l)) == 0 }

// VerifyClearsigned verifies an InRelease file and returns the signed text
// exactly as APT sees it: the lines between the armor headers and the
// signature, dash-escapes removed, trailing white space removed, joined by
// "\n", without a final newline (the line break before the signature block
// is not part of the signed text; a Release file on disk conventionally ends
// with one). signer is the upper-case hex fingerprint of the primary key that
// made a good signature.
//
// It refuses, each with a one-line *VerifyError: anything but white space
// before the "-----BEGIN PGP SIGNED MESSAGE-----" line or after the signature
// block; armor headers other than "Hash:"; lines starting with a dash that are
// not dash-escaped (APT refuses them too); no good signature by a key in the
// keyring; any bad signature by a key in the keyring; signatures with SHA-1 or
// a weaker digest; expired or revoked keys; expired signatures. When several
// signatures are present, one good signature is enough provided that no
// signature by a known key is bad.
func (k *Keyring) VerifyClearsigned(data []byte) (plaintext []byte, signer string, err error) {
	const file = "InRelease"
	defer func() {
		if r := recover(); r != nil {
			plaintext, signer = nil, ""
			err = verr(ErrMalformed, file, "cannot parse signature: %v", r)
		}
	}()
	lines := bytes.Split(data, []byte("\n"))
	i := 0
	for i < len(lines) && isBlank(lines[i]) {
		i++
	}
	if i == len(lines) || string(cleanLine(lines[i])) != beginSigned {
		if bytes.Contains(data, []byte(beginSigned)) {
			return nil, "", verr(ErrMalformed, file, "unsigned data before the %s line", beginSigned)
		}
		return nil, "", verr(ErrMalformed, file, "not a clearsigned message (no %s line)", beginSigned)
	}
	i++

	// Armor headers, up to an empty line. Only "Hash:" is allowed (as in
	// GnuPG).
	announced := map[crypto.Hash]bool{}
	for {
		if i == len(lines) {
			return nil, "", verr(ErrMalformed, file, "truncated armor headers")
		}
		l := cleanLine(lines[i])
		i++
		if len(l) == 0 {
			break
		}
		name, val, ok := strings.Cut(string(l), ":")
		if !ok || strings.TrimSpace(name) != "Hash" {
			return nil, "", verr(ErrMalformed, file, "unexpected armor header %q", truncate(string(l)))
		}
		for h := range strings.SplitSeq(val, ",") {
			hh, ok := hashNames[strings.ToUpper(strings.TrimSpace(h))]
			if !ok {
				return nil, "", verr(ErrMalformed, file, "unknown digest %q in Hash header", truncate(strings.TrimSpace(h)))
			}
			announced[hh] = true
		}
	}

	// The signed text, up to the signature block.
	var signed, plain bytes.Buffer
	first := true
	for {
		if i == len(lines) {
			return nil, "", verr(ErrMalformed, file, "no %s line", beginSignature)
		}
		l := cleanLine(lines[i])
		i++
		if string(l) == beginSignature {
			break
		}
		if len(l) > 0 && l[0] == '-' {
			if !bytes.HasPrefix(l, []byte("- ")) {
				return nil, "", verr(ErrMalformed, file, "line %d starts with a dash but is not dash-escaped", i)
			}
			l = l[2:]
		}
		if !first {
			signed.WriteString("\r\n")
			plain.WriteByte('\n')
		}
		first = false
		signed.Write(l)
		plain.Write(l)
	}

	// One or more signature blocks, and nothing else but white space.
	sigs, err := parseSignatureBlocks(lines[i-1:], file, i)
	if err != nil {
		return nil, "", err
	}
	if len(announced) > 0 {
		for _, s := range sigs {
			if !announced[s.Hash] {
				return nil, "", verr(ErrMalformed, file, "signature digest %s not announced in the Hash header", hashName(s.Hash))
			}
		}
	}
	signer, err = k.verify(sigs, signed.Bytes(), file)
	if err != nil {
		return nil, "", err
	}
	return plain.Bytes(), signer, nil
}

// VerifyDetached verifies a detached signature (Release.gpg) over data
// (Release). sig may be armored ("-----BEGIN PGP SIGNATURE-----", one or more
// blocks and nothing else but white space) or binary. It returns the
// upper-case hex fingerprint of the primary key that made a good signature,
// and refuses what VerifyClearsigned refuses.
func (k *Keyring) VerifyDetached(data, sig []byte) (signer string, err error) {
	const file = "Release.gpg"
	defer func() {
		if r := recover(); r != nil {
			signer = ""
			err = verr(ErrMalformed, file, "cannot parse signature: %v", r)
		}
	}()
	var sigs []*packet.Signature
	if isArmored(sig) {
		lines := bytes.Split(sig, []byte("\n"))
		i := 0
		for i < len(lines) && isBlank(lines[i]) {
			i++
		}
		if i == len(lines) || string(cleanLine(lines[i])) != beginSignature {
			if bytes.Contains(sig, []byte(beginSignature)) {
				return "", verr(ErrMalformed, file, "unsigned data before the %s line", beginSignature)
			}
			return "", verr(ErrMalformed, file, "not a signature (no %s line)", beginSignature)
		}
		sigs, err = parseSignatureBlocks(lines[i:], file, i+1)
	} else {
		sigs, err = parseSignaturePackets(bytes.NewReader(sig), file)
	}
	if err != nil {
		return "", err
	}
	return k.verify(sigs, data, file)
}

// parseSignatureBlocks decodes armored signature blocks. lines[0] is a
// "-----BEGIN PGP SIGNATURE-----" line (lineno is its 1-based number in the
// file, for messages); blocks may follow each other separated by white space,
// and nothing else may follow.
func parseSignatureBlocks(lines [][]byte, file string, lineno int) ([]*packet.Signature, error) {
	var sigs []*packet.Signature
	var block bytes.Buffer
	open := false
	for n, raw := range lines {
		l := cleanLine(raw)
		switch {
		case open:
			block.Write(l)
			block.WriteByte('\n')
			if string(l) == endSignature {
				open = false
				blk, err := armor.Decode(bytes.NewReader(block.Bytes()))
				if err != nil {
					return nil, verr(ErrMalformed, file, "signature armor: %v", err)
				}
				if blk.Type != signatureBlock {
					return nil, verr(ErrMalformed, file, "unexpected armored block %q", blk.Type)
				}
				s, err := parseSignaturePackets(blk.Body, file)
				if err != nil {
					return nil, err
				}
				sigs = append(sigs, s...)
				block.Reset()
			} else if len(l) > 0 && l[0] == '-' {
				return nil, verr(ErrMalformed, file, "unexpected line %d in signature block", lineno+n)
			}
		case string(l) == beginSignature:
			open = true
			block.Write(l)
			block.WriteByte('\n')
		case isBlank(l):
		default:
			return nil, verr(ErrMalformed, file, "unsigned data after the signature block (line %d)", lineno+n)
		}
	}
	if open {
		return nil, verr(ErrMalformed, file, "signature block not closed (no %s line)", endSignature)
	}
	if len(sigs) == 0 {
		return nil, verr(ErrMalformed, file, "no signature found")
	}
	return sigs, nil
}

// parseSignaturePackets reads OpenPGP signature packets until EOF. Packets
// of unsupported versions or algorithms are skipped (they cannot count as a
// good signature); any other kind of packet is refused.
func parseSignaturePackets(r io.Reader, file string) ([]*packet.Signature, error) {
	var sigs []*packet.Signature
	pr := packet.NewReader(r)
	for {
		p, err := pr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, verr(ErrMalformed, file, "signature packet: %v", err)
		}
		s, ok := p.(*packet.Signature)
		if !ok {
			return nil, verr(ErrMalformed, file, "unexpected %T packet among signatures", p)
		}
		if s.SigType != packet.SigTypeBinary && s.SigType != packet.SigTypeText {
			return nil, verr(ErrMalformed, file, "unexpected signature type 0x%02x", byte(s.SigType))
		}
		sigs = append(sigs, s)
	}
	if len(sigs) == 0 {
		return nil, verr(ErrMalformed, file, "no usable signature packet")
	}
	return sigs, nil
}

// verify checks every signature over content and decides: any bad
// signature by a known key fails; otherwise one good signature suffices;
// otherwise the most significant failure is reported.
func (k *Keyring) verify(sigs []*packet.Signature, content []byte, file string) (string, error) {
	now := time.Now()
	var good string
	var fails []*VerifyError
	for _, s := range sigs {
		fp, err := k.checkOne(s, content, file, now)
		if err != nil {
			if errors.Is(err, ErrBadSignature) {
				return "", err
			}
			fails = append(fails, err)
			continue
		}
		if good == "" {
			good = fp
		}
	}
	if good != "" {
		return good, nil
	}
	for _, kind := range []error{ErrMalformed, ErrWeakDigest, ErrKeyRevoked, ErrKeyExpired, ErrSignatureExpired} {
		for _, f := range fails {
			if f.Kind == kind {
				return "", f
			}
		}
	}
	var unknown []string
	for _, f := range fails {
		name := strings.TrimPrefix(f.Detail, "signature by unknown key ")
		if !slices.Contains(unknown, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 1 {
		return "", fails[0]
	}
	return "", verr(ErrUnknownKey, file, "signatures by unknown keys %s", strings.Join(unknown, ", "))
}

// issuer returns the key ID a signature names, and a printable name for it.
func issuer(s *packet.Signature) (uint64, string, bool) {
	fp := s.IssuerFingerprint
	switch {
	case s.IssuerKeyId != nil:
		name := fmt.Sprintf("0x%016X", *s.IssuerKeyId)
		if len(fp) > 0 {
			name = "0x" + fingerprintHex(fp)
		}
		return *s.IssuerKeyId, name, true
	case len(fp) == 20: // v4 fingerprint: the key ID is its low 64 bits
		return beUint64(fp[12:]), "0x" + fingerprintHex(fp), true
	case len(fp) == 32: // v6 fingerprint: the key ID is its high 64 bits
		return beUint64(fp[:8]), "0x" + fingerprintHex(fp), true
	}
	return 0, "", false
}

func beUint64(b []byte) uint64 {
	var v uint64
	for _, c := range b[:8] {
		v = v<<8 | uint64(c)
	}
	return v
}

// checkOne verifies one signature. It returns the primary key fingerprint of
// the signer, or a *VerifyError.
func (k *Keyring) checkOne(s *packet.Signature, content []byte, file string, now time.Time) (string, *VerifyError) {
	id, name, ok := issuer(s)
	if !ok {
		return "", verr(ErrMalformed, file, "signature without issuer")
	}
	var keys []openpgp.Key
	for _, key := range k.entities.KeysByIdUsage(id, packet.KeyFlagSign) {
		if len(s.IssuerFingerprint) > 0 && !bytes.Equal(s.IssuerFingerprint, key.PublicKey.Fingerprint) {
			continue
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return "", verr(ErrUnknownKey, file, "signature by unknown key %s", name)
	}
	if !strongHashes[s.Hash] {
		return "", verr(ErrWeakDigest, file, "signature by key %s uses the weak digest %s", name, hashName(s.Hash))
	}
	var key *openpgp.Key
	for i := range keys {
		h, err := signatureHash(s, content)
		if err != nil {
			return "", verr(ErrMalformed, file, "signature by key %s: %v", name, err)
		}
		if keys[i].PublicKey.VerifySignature(h, s) == nil {
			key = &keys[i]
			break
		}
	}
	if key == nil {
		return "", verr(ErrBadSignature, file, "bad signature by key %s", name)
	}
	for _, n := range s.Notations {
		if n.IsCritical {
			return "", verr(ErrBadSignature, file, "signature by key %s has an unknown critical notation %q", name, truncate(n.Name))
		}
	}
	e := key.Entity
	byPrimary := key.PublicKey == e.PrimaryKey
	if e.Revoked(now) || (!byPrimary && key.Revoked(now)) {
		return "", verr(ErrKeyRevoked, file, "signature by key %s, which has been revoked", name)
	}
	selfSig, _ := e.PrimarySelfSignature()
	if selfSig == nil {
		return "", verr(ErrUnknownKey, file, "signature by key %s, which has no valid self-signature", name)
	}
	if t, expired := keyExpiry(e.PrimaryKey, selfSig, now); expired {
		return "", verr(ErrKeyExpired, file, "signature by key %s, which expired on %s", name, t.UTC().Format(time.RFC3339))
	}
	if !byPrimary {
		if t, expired := keyExpiry(key.PublicKey, key.SelfSignature, now); expired {
			return "", verr(ErrKeyExpired, file, "signature by key %s, whose signing subkey expired on %s", name, t.UTC().Format(time.RFC3339))
		}
	}
	if s.SigLifetimeSecs != nil && *s.SigLifetimeSecs != 0 {
		t := s.CreationTime.Add(time.Duration(*s.SigLifetimeSecs) * time.Second)
		if now.After(t) {
			return "", verr(ErrSignatureExpired, file, "signature by key %s expired on %s", name, t.UTC().Format(time.RFC3339))
		}
	}
	return fingerprintHex(e.PrimaryKey.Fingerprint), nil
}

// keyExpiry reports when pk expires according to its binding signature, and
// whether that is before now. A key (or signature) created in the future is
// not treated as expired: APT runs gpgv with --ignore-time-conflict.
func keyExpiry(pk *packet.PublicKey, sig *packet.Signature, now time.Time) (time.Time, bool) {
	if sig == nil || sig.KeyLifetimeSecs == nil || *sig.KeyLifetimeSecs == 0 {
		return time.Time{}, false
	}
	t := pk.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
	return t, now.After(t)
}

// signatureHash returns the hash state for s over content, ready for
// VerifySignature.
func signatureHash(s *packet.Signature, content []byte) (hash.Hash, error) {
	h, err := s.PrepareVerify()
	if err != nil {
		return nil, err
	}
	w := h
	if s.SigType == packet.SigTypeText {
		w = openpgp.NewCanonicalTextHash(h)
	}
	if _, err := w.Write(content); err != nil {
		return nil, err
	}
	return h, nil
}

func hashName(h crypto.Hash) string {
	for name, hh := range hashNames {
		if hh == h {
			return name
		}
	}
	return fmt.Sprintf("hash#%d", int(h))
}

// truncate shortens attacker-controlled text for an error message.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

package debpkg

import (
	"errors"
	"io"
	"strings"

	"github.com/aptsnap/aptsnap/pgp"
)

// Changes is an upload description (.changes).
type Changes struct {
	Source string // source package name
	// SourceVersion is the version in "Source: name (version)" (a binary
	// NMU), else Version.
	SourceVersion string
	Version       string
	Distribution  string   // as written: usually one suite, such as "unstable"
	Architecture  []string // Architecture field, split at white space ("source", "amd64", "all"...)
	Binary        []string // Binary field, split at white space
	// Files are the uploaded files, from Files (with their section and
	// priority), Checksums-Sha1 (if any) and Checksums-Sha256.
	Files []File
	// Signer is the fingerprint (upper-case hex) of the key whose
	// signature was verified, or "" when no keyring was given.
	Signer string
}

// ParseChanges parses a .changes. When kr is not nil the file must be
// clearsigned by a key of kr: an unsigned file is an error wrapping
// ErrUnsigned, a signature that does not verify (unknown key, bad
// signature, weak digest, expired or revoked key...) one wrapping
// ErrSignature and the *pgp.VerifyError. When kr is nil a signature, if
// any, is stripped without being checked.
//
// The text must be one paragraph with a valid Source name, a valid
// Version, Distribution, Architecture, and Files and Checksums-Sha256
// listing the same files (Checksums-Sha1 too if present) with the same
// sizes; file names must be plain names (no directory).
func ParseChanges(data []byte, kr *pgp.Keyring) (*Changes, error) {
	const what = ".changes"
	c := &Changes{}
	var body []byte
	if kr != nil {
		if !isClearsigned(data) {
			return nil, errf(ErrUnsigned, "%s is not clearsigned, and a keyring was given to verify it", what)
		}
		plain, signer, err := kr.VerifyClearsigned(data)
		if err != nil {
			var ve *pgp.VerifyError
			if errors.As(err, &ve) {
				return nil, &debError{kind: ErrSignature, msg: what + ": " + ve.Detail, cause: err, hideCause: true}
			}
			return nil, wrapf(ErrSignature, err, "%s", what)
		}
		body, c.Signer = plain, signer
	} else {
		var err error
		if body, err = stripSignature(data, what); err != nil {
			return nil, err
		}
	}
	p, err := parseParagraph(body, what)
	if err != nil {
		return nil, err
	}
	var src, arch, bin string
	for _, f := range []struct {
		name string
		dst  *string
	}{{"Source", &src}, {"Version", &c.Version}, {"Distribution", &c.Distribution}, {"Architecture", &arch}} {
		if *f.dst, err = p.singleLine(f.name, what); err != nil {
			return nil, err
		}
		if *f.dst == "" {
			return nil, errf(ErrInvalid, "%s: no %s field", what, f.name)
		}
	}
	if err := checkVersion(what, c.Version); err != nil {
		return nil, err
	}
	c.Source, c.SourceVersion = src, c.Version
	if name, rest, ok := strings.Cut(src, " "); ok {
		ver := strings.TrimSpace(rest)
		if !strings.HasPrefix(ver, "(") || !strings.HasSuffix(ver, ")") {
			return nil, errf(ErrInvalid, "%s: bad Source %q", what, truncate(src))
		}
		c.Source, c.SourceVersion = name, strings.TrimSpace(ver[1:len(ver)-1])
		if err := checkVersion(what+": Source", c.SourceVersion); err != nil {
			return nil, err
		}
	}
	if !validPackageName(c.Source) {
		return nil, errf(ErrInvalid, "%s: bad Source name %q", what, truncate(c.Source))
	}
	c.Architecture = strings.Fields(arch)
	if bin, _ = p.get("Binary"); bin != "" {
		c.Binary = strings.Fields(bin)
	}
	if c.Files, err = parseFileLists(p, what, true); err != nil {
		return nil, err
	}
	return c, nil
}

// Check reads r to its end and checks it against the entry for file name
// in c.Files: size, MD5, SHA1 (if listed) and SHA256. A difference, or a
// name c does not list, is an error wrapping ErrMismatch.
func (c *Changes) Check(name string, r io.Reader) error {
	return checkListed(c.Files, ".changes", name, r)
}

// Package debpkg reads Debian package files: binary packages (.deb, .udeb),
// source package descriptions (.dsc) and uploads (.changes), and writes the
// Packages and Sources index stanzas that describe them, for importing
// packages into an archive of our own (as reprepro's includedeb, includedsc
// and include do).
//
//   - ReadControl extracts the control file of a .deb (control.tar, .gz, .xz
//     or .zst), with bounded memory; ParseControl reads its main fields and
//     BinaryStanza turns it into a Packages stanza exactly as
//     dpkg-scanpackages writes it.
//   - ParseDSC reads a .dsc (a signature, if any, is stripped, not checked)
//     and SourceStanza turns it into a Sources stanza as Debian's archive
//     (dak) writes it.
//   - ParseChanges reads a .changes, verifying its signature against a
//     keyring when one is given; Changes.Check verifies a listed file.
//   - PoolDir is Debian's pool directory of a source package.
//   - ReadChangelog extracts the Debian changelog a .deb ships (bounded);
//     ParseChangelog and EntriesSince read its entries (deb-changelog(5)),
//     for a stable update's [Major Changes] draft.
//
// Every error is one line starting with "debpkg: " and wraps one of the Err*
// kinds below, so callers can tell them apart with errors.Is.
package debpkg

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"

	"github.com/aptsnap/aptsnap/deb822"
	"github.com/aptsnap/aptsnap/debver"
)

// Kinds of error. Every error this package returns wraps one of them.
var (
	// ErrInvalid: the input is malformed (not an ar archive, a missing
	// member or field, a bad checksum list, an unsafe file name...).
	ErrInvalid = errors.New("debpkg: invalid package file")
	// ErrTruncated: the file ends before what it announces.
	ErrTruncated = errors.New("debpkg: truncated file")
	// ErrUnsupported: a well-formed file in a format or compression this
	// package does not read.
	ErrUnsupported = errors.New("debpkg: unsupported format")
	// ErrTooLarge: a part of the file exceeds the limits that bound the
	// memory ReadControl uses.
	ErrTooLarge = errors.New("debpkg: too large")
	// ErrUnsigned: a keyring was given but the file is not clearsigned.
	ErrUnsigned = errors.New("debpkg: not signed")
	// ErrSignature: the signature does not verify against the keyring
	// given. The error also wraps the *pgp.VerifyError, whose kind
	// (pgp.ErrBadSignature, pgp.ErrUnknownKey...) tells why.
	ErrSignature = errors.New("debpkg: signature not accepted")
	// ErrMismatch: a file does not have the size or checksums listed for it.
	ErrMismatch = errors.New("debpkg: size or checksum mismatch")
)

// debError is the error type of the package: "debpkg: msg[: cause]",
// wrapping its kind and its cause.
type debError struct {
	kind      error
	msg       string
	cause     error
	hideCause bool // msg already says what cause says
}

func (e *debError) Error() string {
	if e.cause != nil && !e.hideCause {
		return "debpkg: " + e.msg + ": " + e.cause.Error()
	}
	return "debpkg: " + e.msg
}

func (e *debError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}

func errf(kind error, format string, args ...any) error {
	return &debError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// wrapf is errf with an underlying cause, appended to the message.
func wrapf(kind, cause error, format string, args ...any) error {
	return &debError{kind: kind, msg: fmt.Sprintf(format, args...), cause: cause}
}

// File is a file a .dsc or .changes lists.
type File struct {
	Name   string // a plain file name: no directory
	Size   int64
	MD5    string // lower-case hex, from the Files field
	SHA1   string // lower-case hex, from Checksums-Sha1; "" when that field is absent
	SHA256 string // lower-case hex, from Checksums-Sha256
	// Section and Priority are those the Files field of a .changes gives
	// ("-" when unknown); empty for a .dsc.
	Section, Priority string
}

// Verify reads r to its end and checks that it has the file's size and
// checksums. A difference is an error wrapping ErrMismatch.
func (f File) Verify(r io.Reader) error {
	md, s1, s256 := md5.New(), sha1.New(), sha256.New()
	n, err := io.Copy(io.MultiWriter(md, s1, s256), r)
	if err != nil {
		return wrapf(ErrInvalid, err, "%s: read", f.Name)
	}
	if n != f.Size {
		return errf(ErrMismatch, "%s: size %d, want %d", f.Name, n, f.Size)
	}
	for _, c := range []struct {
		name, want string
		h          hash.Hash
	}{{"MD5", f.MD5, md}, {"SHA1", f.SHA1, s1}, {"SHA256", f.SHA256, s256}} {
		if c.want == "" {
			continue
		}
		if got := hex.EncodeToString(c.h.Sum(nil)); got != c.want {
			return errf(ErrMismatch, "%s: %s %s, want %s", f.Name, c.name, got, c.want)
		}
	}
	return nil
}

// PoolDir returns the directory of Debian's archive where the files of
// source package source go in component: "pool/<component>/<prefix>/<source>"
// with prefix the first four letters of a source whose name starts with
// "lib" ("libf" for "libfoo"), else its first letter (as dak's poolify).
// source should be a valid source package name (see ParseDSC).
func PoolDir(component, source string) string {
	prefix := source
	if strings.HasPrefix(source, "lib") {
		prefix = source[:min(4, len(source))]
	} else if source != "" {
		prefix = source[:1]
	}
	return "pool/" + component + "/" + prefix + "/" + source
}

// validPackageName reports whether s is a valid package name (Debian Policy
// 5.6.1/5.6.7): at least two characters, lower-case letters, digits and
// "+-.", starting with a letter or digit.
func validPackageName(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && (c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// checkVersion refuses what debver.Parse refuses, and surrounding blanks.
func checkVersion(what, v string) error {
	if _, err := debver.Parse(v); err != nil || strings.TrimSpace(v) != v {
		return errf(ErrInvalid, "%s: bad Version %q", what, truncate(v))
	}
	return nil
}

// validFileName reports whether s can be a file name in an archive
// directory: not empty, "." or "..", no slash, no white space or control
// characters, at most 255 bytes.
func validFileName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '/' || c == '\\' || c == 0x7f {
			return false
		}
	}
	return true
}

// truncate shortens s for an error message.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// field is a field of a control paragraph with its name as written.
type field struct{ name, value string }

// paragraph is a single control paragraph, in file order.
type paragraph []field

// get returns the value of the field named name (ASCII case-insensitive).
func (p paragraph) get(name string) (string, bool) {
	for _, f := range p {
		if strings.EqualFold(f.name, name) {
			return f.value, true
		}
	}
	return "", false
}

// parseParagraph parses data that must hold exactly one deb822 paragraph
// with distinct, well-formed field names. what names the data in errors.
func parseParagraph(data []byte, what string) (paragraph, error) {
	sc := deb822.NewScanner(data)
	var p paragraph
	n := 0
	for sc.Scan() {
		if sc.NumFields() == 0 { // comments only
			continue
		}
		if n++; n > 1 {
			return nil, errf(ErrInvalid, "%s: more than one paragraph (line %d)", what, sc.Line())
		}
		for i := range sc.NumFields() {
			name, value := sc.FieldAt(i)
			nm := strings.TrimRight(string(name), " \t")
			if !validFieldName(nm) {
				return nil, errf(ErrInvalid, "%s: bad field name %q", what, truncate(nm))
			}
			if _, dup := p.get(nm); dup {
				return nil, errf(ErrInvalid, "%s: duplicate field %s", what, nm)
			}
			p = append(p, field{nm, string(value)})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, wrapf(ErrInvalid, err, "%s", what)
	}
	if n == 0 {
		return nil, errf(ErrInvalid, "%s: no fields", what)
	}
	return p, nil
}

// validFieldName: printable ASCII without space or colon, not starting with
// '#' or '-' (deb822(5)).
func validFieldName(s string) bool {
	if s == "" || s[0] == '#' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// singleLine returns the value of a field that must fit on one line,
// trimmed, or "" if absent.
func (p paragraph) singleLine(name, what string) (string, error) {
	v, _ := p.get(name)
	v = strings.TrimSpace(v)
	if strings.ContainsAny(v, "\r\n") {
		return "", errf(ErrInvalid, "%s: %s spans several lines", what, name)
	}
	return v, nil
}

// normalizeValue rewrites a field value the way dpkg's parser
// (Dpkg::Control::HashCore) reads it and writes it back: spaces and tabs
// around the first line removed, trailing spaces, tabs and carriage
// returns of every line removed, the first character of each continuation
// line (a space or a tab) written as a space. For a well-formed value this
// changes nothing. A value that is empty once trimmed gives "".
func normalizeValue(v string) string {
	lines := strings.Split(v, "\n")
	lines[0] = strings.Trim(lines[0], " \t\r")
	for i := 1; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], " \t\r")
		if l != "" {
			l = " " + l[1:]
		}
		lines[i] = l
	}
	out := strings.Join(lines, "\n")
	if strings.TrimSpace(out) == "" {
		return ""
	}
	return out
}

// writeStanza writes fields as a deb822 stanza without its trailing blank
// line, refusing what would not read back the same.
func writeStanza(fields []deb822.Field, what string) ([]byte, error) {
	var b bytes.Buffer
	if err := deb822.NewWriter(&b).Write(&deb822.Paragraph{Fields: fields}); err != nil {
		return nil, wrapf(ErrInvalid, err, "%s", what)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// checksum kinds of the file lists of a .dsc or .changes.
const (
	sumMD5 = iota
	sumSHA1
	sumSHA256
)

// parseFileLists reads the Files, Checksums-Sha1 (optional) and
// Checksums-Sha256 fields, which must list the same files with the same
// sizes. In a .changes (changes set), Files lines carry a section and a
// priority.
func parseFileLists(p paragraph, what string, changes bool) ([]File, error) {
	filesVal, ok := p.get("Files")
	if !ok {
		return nil, errf(ErrInvalid, "%s: no Files field", what)
	}
	sha256Val, ok := p.get("Checksums-Sha256")
	if !ok {
		return nil, errf(ErrInvalid, "%s: no Checksums-Sha256 field", what)
	}
	sha1Val, hasSHA1 := p.get("Checksums-Sha1")

	var files []File
	index := map[string]int{}
	if err := parseList(filesVal, "Files", what, sumMD5, changes, func(f File) error {
		if _, dup := index[f.Name]; dup {
			return errf(ErrInvalid, "%s: Files: %s listed twice", what, f.Name)
		}
		index[f.Name] = len(files)
		files = append(files, f)
		return nil
	}); err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errf(ErrInvalid, "%s: Files lists no file", what)
	}
	lists := []struct {
		field, val string
		kind       int
		present    bool
	}{{"Checksums-Sha1", sha1Val, sumSHA1, hasSHA1}, {"Checksums-Sha256", sha256Val, sumSHA256, true}}
	for _, l := range lists {
		if !l.present {
			continue
		}
		seen := map[string]bool{}
		if err := parseList(l.val, l.field, what, l.kind, false, func(f File) error {
			i, ok := index[f.Name]
			if !ok {
				return errf(ErrInvalid, "%s: %s lists %s, Files does not", what, l.field, f.Name)
			}
			if seen[f.Name] {
				return errf(ErrInvalid, "%s: %s: %s listed twice", what, l.field, f.Name)
			}
			seen[f.Name] = true
			if f.Size != files[i].Size {
				return errf(ErrInvalid, "%s: %s: size %d of %s, Files says %d", what, l.field, f.Size, f.Name, files[i].Size)
			}
			if l.kind == sumSHA1 {
				files[i].SHA1 = f.SHA1
			} else {
				files[i].SHA256 = f.SHA256
			}
			return nil
		}); err != nil {
			return nil, err
		}
		if len(seen) != len(files) {
			for _, f := range files {
				if !seen[f.Name] {
					return nil, errf(ErrInvalid, "%s: %s does not list %s", what, l.field, f.Name)
				}
			}
		}
	}
	return files, nil
}

// parseList parses one checksum list: lines "<sum> <size> <name>", or
// "<md5> <size> <section> <priority> <name>" for the Files field of a
// .changes.
func parseList(val, fieldName, what string, kind int, changes bool, add func(File) error) error {
	wantLen := [...]int{sumMD5: 32, sumSHA1: 40, sumSHA256: 64}[kind]
	for line := range strings.SplitSeq(val, "\n") {
		parts := strings.Fields(line)
		if len(parts) == 0 {
			continue
		}
		n := 3
		if changes {
			n = 5
		}
		if len(parts) != n {
			return errf(ErrInvalid, "%s: %s: malformed line %q", what, fieldName, truncate(strings.TrimSpace(line)))
		}
		sum := strings.ToLower(parts[0])
		if len(sum) != wantLen || !isHex(sum) {
			return errf(ErrInvalid, "%s: %s: bad checksum %q", what, fieldName, truncate(parts[0]))
		}
		size, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || size < 0 || parts[1][0] == '+' {
			return errf(ErrInvalid, "%s: %s: bad size %q", what, fieldName, truncate(parts[1]))
		}
		f := File{Name: parts[n-1], Size: size}
		if !validFileName(f.Name) {
			return errf(ErrInvalid, "%s: %s: unsafe file name %q", what, fieldName, truncate(f.Name))
		}
		if changes {
			f.Section, f.Priority = parts[2], parts[3]
		}
		switch kind {
		case sumMD5:
			f.MD5 = sum
		case sumSHA1:
			f.SHA1 = sum
		case sumSHA256:
			f.SHA256 = sum
		}
		if err := add(f); err != nil {
			return err
		}
	}
	return nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Armor lines of a clearsigned message.
const (
	beginSigned    = "-----BEGIN PGP SIGNED MESSAGE-----"
	beginSignature = "-----BEGIN PGP SIGNATURE-----"
	endSignature   = "-----END PGP SIGNATURE-----"
)

// cleanLine strips a line as the pgp package (and APT) does: trailing
// carriage returns, then trailing spaces and tabs.
func cleanLine(l string) string {
	return strings.TrimRight(strings.TrimRight(l, "\r"), " \t")
}

// isClearsigned reports whether data starts, after blank lines, with the
// armor line of a clearsigned message.
func isClearsigned(data []byte) bool {
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		return cleanLine(line) == beginSigned
	}
	return false
}

// stripSignature returns the text of a clearsigned message without checking
// its signature (dash-escapes removed, trailing white space of lines
// removed, one "\n" after every line), or data itself when it is not
// clearsigned. A signed message must be well formed: armor headers ended
// by an empty line, one or more signature blocks that are closed, nothing
// but white space around.
func stripSignature(data []byte, what string) ([]byte, error) {
	if !isClearsigned(data) {
		if bytes.Contains(data, []byte(beginSigned)) {
			return nil, errf(ErrInvalid, "%s: data before the %s line", what, beginSigned)
		}
		return data, nil
	}
	lines := strings.Split(string(data), "\n")
	for i := range lines {
		lines[i] = cleanLine(lines[i])
	}
	i := 0
	for lines[i] != beginSigned {
		i++
	}
	i++
	for ; i < len(lines) && lines[i] != ""; i++ { // armor headers
		if !strings.Contains(lines[i], ":") {
			return nil, errf(ErrInvalid, "%s: malformed armor header %q", what, truncate(lines[i]))
		}
	}
	if i == len(lines) {
		return nil, errf(ErrInvalid, "%s: truncated armor headers", what)
	}
	i++
	var body strings.Builder
	for ; ; i++ {
		if i == len(lines) {
			return nil, errf(ErrInvalid, "%s: no %s line", what, beginSignature)
		}
		l := lines[i]
		if l == beginSignature {
			break
		}
		if strings.HasPrefix(l, "-") {
			if !strings.HasPrefix(l, "- ") {
				return nil, errf(ErrInvalid, "%s: line %d starts with a dash but is not dash-escaped", what, i+1)
			}
			l = l[2:]
		}
		body.WriteString(l)
		body.WriteByte('\n')
	}
	// One or more signature blocks, and nothing else but white space.
	for i < len(lines) {
		if lines[i] != beginSignature {
			if strings.TrimSpace(lines[i]) != "" {
				return nil, errf(ErrInvalid, "%s: data after the signature block (line %d)", what, i+1)
			}
			i++
			continue
		}
		for i++; i < len(lines) && lines[i] != endSignature; i++ {
			if strings.HasPrefix(lines[i], "-") {
				return nil, errf(ErrInvalid, "%s: unexpected line %d in the signature block", what, i+1)
			}
		}
		if i == len(lines) {
			return nil, errf(ErrInvalid, "%s: signature block not closed (no %s line)", what, endSignature)
		}
		i++
	}
	return []byte(body.String()), nil
}

package debpkg

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/aptsnap/aptsnap/deb822"
)

// DSC is a source package description (.dsc).
type DSC struct {
	Source       string   // source package name
	Version      string   // its version
	Binary       []string // the binary packages it builds (Binary field)
	Architecture []string // Architecture field, split at white space
	Format       string   // source format, as "3.0 (quilt)"
	// Files are the files of the source package (tarballs, patches), from
	// Files, Checksums-Sha1 (if any) and Checksums-Sha256; not the .dsc
	// itself.
	Files []File
	// Section and Priority are written into the Sources stanza when not
	// empty. ParseDSC takes them from the .dsc, which rarely has them; set
	// them from the .changes entry of the .dsc or from an override.
	Section, Priority string

	fields paragraph // every field of the .dsc, in order
}

// ParseDSC parses a .dsc. A clearsigned .dsc has its signature stripped
// without being checked. It must be one paragraph with Format, a valid
// Source name, a valid Version, and Files and Checksums-Sha256 listing the
// same files (Checksums-Sha1 too if present) with the same sizes; file
// names must be plain names (no directory).
func ParseDSC(data []byte) (*DSC, error) {
	const what = ".dsc"
	body, err := stripSignature(data, what)
	if err != nil {
		return nil, err
	}
	p, err := parseParagraph(body, what)
	if err != nil {
		return nil, err
	}
	d := &DSC{fields: p}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"Source", &d.Source}, {"Version", &d.Version}, {"Format", &d.Format},
		{"Section", &d.Section}, {"Priority", &d.Priority}} {
		if *f.dst, err = p.singleLine(f.name, what); err != nil {
			return nil, err
		}
	}
	if d.Format == "" {
		return nil, errf(ErrInvalid, "%s: no Format field", what)
	}
	if !validPackageName(d.Source) {
		if d.Source == "" {
			return nil, errf(ErrInvalid, "%s: no Source field", what)
		}
		return nil, errf(ErrInvalid, "%s: bad Source name %q", what, truncate(d.Source))
	}
	if err := checkVersion(what, d.Version); err != nil {
		return nil, err
	}
	if v, ok := p.get("Binary"); ok {
		for b := range strings.SplitSeq(v, ",") {
			if b = strings.TrimSpace(b); b != "" {
				d.Binary = append(d.Binary, b)
			}
		}
	}
	if v, ok := p.get("Architecture"); ok {
		d.Architecture = strings.Fields(v)
	}
	if d.Files, err = parseFileLists(p, what, false); err != nil {
		return nil, err
	}
	return d, nil
}

// Check reads r to its end and checks it against the entry for file name
// in d.Files. A difference, or a name d does not list, is an error
// wrapping ErrMismatch.
func (d *DSC) Check(name string, r io.Reader) error {
	return checkListed(d.Files, ".dsc", name, r)
}

// checkListed verifies r as the file called name in files.
func checkListed(files []File, what, name string, r io.Reader) error {
	for _, f := range files {
		if f.Name == name {
			return f.Verify(r)
		}
	}
	return errf(ErrMismatch, "%s is not listed in the %s", name, what)
}

// SourceStanza returns the Sources stanza of the source package dsc, whose
// .dsc file is named dscName and holds dscData, stored in directory (as
// PoolDir gives). The stanza ends with a newline and no blank line.
//
// It is laid out as Debian's archive writes Sources: "Package: <Source>"
// first, then the fields of the .dsc in their order (Source, Section and
// Priority excepted; a Checksums-* field other than Checksums-Sha1 and
// Checksums-Sha256 is dropped), with Files, Checksums-Sha1 (when the .dsc
// has it) and Checksums-Sha256 listing the .dsc first and then dsc.Files;
// then Directory, and Priority and Section when set. Of the exported
// fields of dsc, it uses Source, Files, Section and Priority.
func SourceStanza(dsc *DSC, dscName string, dscData []byte, directory string) ([]byte, error) {
	const what = "Sources stanza"
	if dsc == nil || dsc.fields == nil {
		return nil, errf(ErrInvalid, "%s: the DSC does not come from ParseDSC", what)
	}
	if !validPackageName(dsc.Source) {
		return nil, errf(ErrInvalid, "%s: bad Source name %q", what, truncate(dsc.Source))
	}
	if !validFileName(dscName) {
		return nil, errf(ErrInvalid, "%s: unsafe .dsc file name %q", what, truncate(dscName))
	}
	if !validDirectory(directory) {
		return nil, errf(ErrInvalid, "%s: unsafe Directory %q", what, truncate(directory))
	}
	for _, v := range []struct{ name, v string }{{"Section", dsc.Section}, {"Priority", dsc.Priority}} {
		if strings.ContainsAny(v.v, "\r\n") {
			return nil, errf(ErrInvalid, "%s: %s spans several lines", what, v.name)
		}
	}
	md, s1, s256 := md5.Sum(dscData), sha1.Sum(dscData), sha256.Sum256(dscData)
	self := File{Name: dscName, Size: int64(len(dscData)),
		MD5: hex.EncodeToString(md[:]), SHA1: hex.EncodeToString(s1[:]), SHA256: hex.EncodeToString(s256[:])}
	files := append([]File{self}, dsc.Files...)
	seen := map[string]bool{}
	for _, f := range files {
		if !validFileName(f.Name) {
			return nil, errf(ErrInvalid, "%s: unsafe file name %q", what, truncate(f.Name))
		}
		if seen[f.Name] {
			return nil, errf(ErrInvalid, "%s: %s listed twice", what, f.Name)
		}
		seen[f.Name] = true
	}
	list := func(sum func(File) string) (string, error) {
		var b strings.Builder
		for _, f := range files {
			s := sum(f)
			if s == "" || !isHex(s) {
				return "", errf(ErrInvalid, "%s: %s: missing or bad checksum", what, f.Name)
			}
			b.WriteString("\n " + s + " " + strconv.FormatInt(f.Size, 10) + " " + f.Name)
		}
		return b.String(), nil
	}

	out := []deb822.Field{{Name: "Package", Value: dsc.Source}}
	for _, f := range dsc.fields {
		var v string
		var err error
		switch lower := strings.ToLower(f.name); {
		case lower == "source", lower == "package", lower == "section", lower == "priority", lower == "directory":
			continue
		case lower == "files":
			v, err = list(func(f File) string { return f.MD5 })
		case lower == "checksums-sha1":
			v, err = list(func(f File) string { return f.SHA1 })
		case lower == "checksums-sha256":
			v, err = list(func(f File) string { return f.SHA256 })
		case strings.HasPrefix(lower, "checksums-"):
			continue
		default:
			v = normalizeValue(f.value)
		}
		if err != nil {
			return nil, err
		}
		if v != "" {
			out = append(out, deb822.Field{Name: f.name, Value: v})
		}
	}
	out = append(out, deb822.Field{Name: "Directory", Value: directory})
	if p := strings.TrimSpace(dsc.Priority); p != "" {
		out = append(out, deb822.Field{Name: "Priority", Value: p})
	}
	if s := strings.TrimSpace(dsc.Section); s != "" {
		out = append(out, deb822.Field{Name: "Section", Value: s})
	}
	return writeStanza(out, what)
}

// validDirectory reports whether dir is a safe archive directory such as
// "pool/main/h/hello": relative, clean, no "..", no white space or control
// characters, not under dists/.
func validDirectory(dir string) bool {
	if dir == "" || dir == "." || path.IsAbs(dir) || path.Clean(dir) != dir ||
		dir == ".." || strings.HasPrefix(dir, "../") || strings.HasPrefix(dir, "dists/") || dir == "dists" {
		return false
	}
	for i := 0; i < len(dir); i++ {
		if c := dir[i]; c <= ' ' || c == '\\' || c == 0x7f {
			return false
		}
	}
	return true
}

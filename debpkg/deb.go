package debpkg

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/aptsnap/aptsnap/deb822"
)

// Limits that bound the memory and work of ReadControl.
const (
	// MaxControlSize is the largest control.tar* member, and the largest
	// control file, ReadControl accepts.
	MaxControlSize = 16 << 20
	// MaxWindow is the largest xz dictionary or zstd window ReadControl
	// decompresses with (xz -9 uses 64 MiB; zstd's command line refuses
	// more than 128 MiB by default).
	MaxWindow = 64 << 20
	// maxControlTar is the largest uncompressed control tarball read
	// before giving up on finding the control file.
	maxControlTar = 64 << 20
)

const (
	arMagic     = "!<arch>\n"
	arHeaderLen = 60
)

// arMember is a member of an ar archive.
type arMember struct {
	name       string
	off, size  int64  // of the content
	nameSuffix string // the compression suffix of a control.tar or data.tar member
}

// ReadControl reads a binary package (.deb or .udeb) of size bytes and
// returns its control file (the "./control" member of control.tar,
// control.tar.gz, control.tar.xz or control.tar.zst) as it is stored.
//
// The package must be a well-formed .deb of format 2.x: an ar archive
// whose first member is debian-binary, then control.tar*, then data.tar*
// (members whose name starts with "_" may come between, as dpkg allows),
// none extending past the end of the file. The control file must be one
// paragraph with Package, Version and Architecture (see ParseControl).
// Memory use is bounded: the control member and the control file may not
// exceed MaxControlSize, and decompression may not need a window larger
// than MaxWindow.
func ReadControl(r io.ReaderAt, size int64) ([]byte, error) {
	members, err := readAr(r, size)
	if err != nil {
		return nil, err
	}
	control, _, err := findMembers(members)
	if err != nil {
		return nil, err
	}
	if err := checkDebianBinary(r, members[0]); err != nil {
		return nil, err
	}
	if control.size > MaxControlSize {
		return nil, errf(ErrTooLarge, "%s is %d bytes, more than %d", control.name, control.size, MaxControlSize)
	}
	data, err := extractControl(r, control)
	if err != nil {
		return nil, err
	}
	if _, err := ParseControl(data); err != nil {
		return nil, err
	}
	return data, nil
}

// readAr returns the members of an ar archive, checking that none extends
// past size.
func readAr(r io.ReaderAt, size int64) ([]arMember, error) {
	if size < 0 {
		return nil, errf(ErrInvalid, "negative size")
	}
	var magic [len(arMagic)]byte
	if size < int64(len(magic)) {
		if size > 0 {
			if _, err := r.ReadAt(magic[:size], 0); err != nil && err != io.EOF {
				return nil, wrapf(ErrInvalid, err, "read")
			}
			if string(magic[:size]) == arMagic[:size] {
				return nil, errf(ErrTruncated, "ar archive truncated in its header (%d bytes)", size)
			}
		}
		return nil, errf(ErrInvalid, "not an ar archive (not a .deb): %d bytes", size)
	}
	if _, err := r.ReadAt(magic[:], 0); err != nil {
		return nil, wrapf(ErrInvalid, err, "read")
	}
	if string(magic[:]) != arMagic {
		return nil, errf(ErrInvalid, "not an ar archive (not a .deb)")
	}
	var members []arMember
	off := int64(len(arMagic))
	var hdr [arHeaderLen]byte
	for off < size {
		if len(members) == 64 {
			return nil, errf(ErrInvalid, "more than 64 ar members")
		}
		if size-off < arHeaderLen {
			return nil, errf(ErrTruncated, "truncated file: ar member header at offset %d cut short", off)
		}
		if _, err := r.ReadAt(hdr[:], off); err != nil {
			return nil, wrapf(ErrInvalid, err, "read")
		}
		if string(hdr[58:60]) != "`\n" {
			return nil, errf(ErrInvalid, "corrupt ar member header at offset %d", off)
		}
		// dpkg's dpkg_ar_normalize_name: trailing spaces, then one
		// trailing slash (GNU ar) go.
		name := strings.TrimRight(string(hdr[:16]), " ")
		name = strings.TrimSuffix(name, "/")
		sizeField := strings.TrimRight(string(hdr[48:58]), " ")
		n, err := strconv.ParseInt(sizeField, 10, 64)
		if err != nil || n < 0 || sizeField[0] == '+' {
			return nil, errf(ErrInvalid, "ar member %q: bad size %q", name, sizeField)
		}
		content := off + arHeaderLen
		if n > size-content {
			return nil, errf(ErrTruncated, "truncated file: ar member %q has %d bytes, %d are left", name, n, size-content)
		}
		members = append(members, arMember{name: name, off: content, size: n})
		off = content + n
		if n%2 == 1 && off < size {
			off++ // padding
		}
	}
	return members, nil
}

// findMembers checks the layout of a .deb and returns its control and data
// members.
func findMembers(members []arMember) (control, data arMember, err error) {
	if len(members) == 0 || members[0].name != "debian-binary" {
		if len(members) == 0 {
			return arMember{}, arMember{}, errf(ErrInvalid, "empty ar archive: no debian-binary member (not a .deb)")
		}
		return arMember{}, arMember{}, errf(ErrInvalid, "first ar member is %q, not debian-binary (not a .deb)", members[0].name)
	}
	var ctl *arMember
	for i := 1; i < len(members); i++ {
		m := &members[i]
		switch {
		case strings.HasPrefix(m.name, "_"):
			continue
		case ctl == nil && strings.HasPrefix(m.name, "control.tar"):
			m.nameSuffix = strings.TrimPrefix(m.name, "control.tar")
			ctl = m
		case ctl == nil && strings.HasPrefix(m.name, "data.tar"):
			return arMember{}, arMember{}, errf(ErrInvalid, "no control member (%s comes first)", m.name)
		case ctl != nil && strings.HasPrefix(m.name, "data.tar"):
			m.nameSuffix = strings.TrimPrefix(m.name, "data.tar")
			return *ctl, *m, nil
		case ctl == nil:
			return arMember{}, arMember{}, errf(ErrInvalid, "unexpected ar member %q where control.tar is expected", m.name)
		default:
			return arMember{}, arMember{}, errf(ErrInvalid, "unexpected ar member %q where data.tar is expected", m.name)
		}
	}
	if ctl == nil {
		return arMember{}, arMember{}, errf(ErrInvalid, "no control member (control.tar*)")
	}
	return arMember{}, arMember{}, errf(ErrInvalid, "no data member (data.tar*)")
}

// checkDebianBinary checks the format version in member debian-binary.
func checkDebianBinary(r io.ReaderAt, m arMember) error {
	if m.size > 64 {
		return errf(ErrInvalid, "debian-binary member is %d bytes long", m.size)
	}
	buf := make([]byte, m.size)
	if _, err := r.ReadAt(buf, m.off); err != nil && !(err == io.EOF && m.size == 0) {
		return wrapf(ErrInvalid, err, "read debian-binary")
	}
	v := strings.TrimSuffix(string(buf), "\n")
	major, minor, ok := strings.Cut(v, ".")
	if !ok || major == "" || minor == "" || strings.Trim(major, "0123456789") != "" || strings.Trim(minor, "0123456789") != "" {
		return errf(ErrInvalid, "debian-binary: bad format version %q", truncate(v))
	}
	if major != "2" {
		return errf(ErrUnsupported, "unsupported .deb format version %s", v)
	}
	return nil
}

// decompress returns a reader of the decompressed content of member m (a
// control.tar or data.tar member, uncompressed, .gz, .xz or .zst) and a
// function to call when done with it.
func decompress(r io.ReaderAt, m arMember) (io.Reader, func(), error) {
	src := io.NewSectionReader(r, m.off, m.size)
	switch m.nameSuffix {
	case "":
		return src, func() {}, nil
	case ".gz":
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, nil, controlErr(m, err)
		}
		return zr, func() {}, nil
	case ".xz":
		xr, err := newXZReader(src, m.size, MaxWindow)
		if err != nil {
			return nil, nil, controlErr(m, err)
		}
		return xr, func() {}, nil
	case ".zst":
		zr, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(MaxWindow))
		if err != nil {
			return nil, nil, controlErr(m, err)
		}
		return zr, zr.Close, nil
	}
	kind := "control"
	if strings.HasPrefix(m.name, "data.tar") {
		kind = "data"
	}
	return nil, nil, errf(ErrUnsupported, "unsupported compression of %s member %q", kind, m.name)
}

// extractControl decompresses the control member and returns its control
// file.
func extractControl(r io.ReaderAt, m arMember) ([]byte, error) {
	dec, done, err := decompress(r, m)
	if err != nil {
		return nil, err
	}
	defer done()
	lim := &limitReader{r: dec, n: maxControlTar,
		err: errf(ErrTooLarge, "control tarball larger than %d bytes uncompressed", maxControlTar)}
	tr := tar.NewReader(lim)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, errf(ErrInvalid, "%s has no control file", m.name)
		}
		if err != nil {
			return nil, controlErr(m, err)
		}
		if strings.TrimPrefix(h.Name, "./") != "control" {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return nil, errf(ErrInvalid, "%s: control is not a regular file", m.name)
		}
		if h.Size > MaxControlSize {
			return nil, errf(ErrTooLarge, "%s: control file is %d bytes, more than %d", m.name, h.Size, MaxControlSize)
		}
		data, err := io.ReadAll(tr) // at most h.Size bytes; fewer is an error
		if err != nil {
			return nil, controlErr(m, err)
		}
		return data, nil
	}
}

// controlErr reports an error reading the control member (or another
// member m).
func controlErr(m arMember, err error) error {
	var de *debError
	if errors.As(err, &de) {
		return &debError{kind: de.kind, msg: m.name + ": " + de.msg, cause: de.cause, hideCause: de.hideCause}
	}
	if errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return wrapf(ErrTooLarge, err, "%s", m.name)
	}
	return wrapf(ErrInvalid, err, "corrupt %s", m.name)
}

// limitReader reads at most n bytes from r, then fails with err (an
// ErrTooLarge error).
type limitReader struct {
	r   io.Reader
	n   int64
	err error
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, l.err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// Binary holds the main fields of a binary package's control file.
type Binary struct {
	Package      string
	Version      string
	Architecture string
	// Source and SourceVersion come from the Source field ("name" or
	// "name (version)"); they default to Package and Version.
	Source, SourceVersion string
	// Section and Priority are "" when the control file has none.
	Section, Priority string
}

// ParseControl parses the control file of a binary package: one
// paragraph, no field twice, with valid Package and Source names (Debian
// Policy: lower-case letters, digits and "+-.", at least two characters),
// a valid Version (as debver.Parse accepts) and one Architecture word. So
// none of the names, versions and architecture it returns holds white space
// or a slash.
func ParseControl(control []byte) (*Binary, error) {
	const what = "control file"
	p, err := parseParagraph(control, what)
	if err != nil {
		return nil, err
	}
	b := &Binary{}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"Package", &b.Package}, {"Version", &b.Version}, {"Architecture", &b.Architecture},
		{"Source", &b.Source}, {"Section", &b.Section}, {"Priority", &b.Priority}} {
		if *f.dst, err = p.singleLine(f.name, what); err != nil {
			return nil, err
		}
	}
	for _, req := range []struct{ name, v string }{{"Package", b.Package}, {"Version", b.Version}, {"Architecture", b.Architecture}} {
		if req.v == "" {
			return nil, errf(ErrInvalid, "%s: no %s field", what, req.name)
		}
	}
	if !validPackageName(b.Package) {
		return nil, errf(ErrInvalid, "%s: bad Package name %q", what, truncate(b.Package))
	}
	if err := checkVersion(what, b.Version); err != nil {
		return nil, err
	}
	if !validArch(b.Architecture) {
		return nil, errf(ErrInvalid, "%s: bad Architecture %q", what, truncate(b.Architecture))
	}
	b.SourceVersion = b.Version
	if b.Source == "" {
		b.Source = b.Package
	} else if name, rest, ok := strings.Cut(b.Source, " "); ok {
		ver := strings.TrimSpace(rest)
		if !strings.HasPrefix(ver, "(") || !strings.HasSuffix(ver, ")") {
			return nil, errf(ErrInvalid, "%s: bad Source %q", what, truncate(b.Source))
		}
		b.Source, b.SourceVersion = name, strings.TrimSpace(ver[1:len(ver)-1])
		if err := checkVersion(what+": Source", b.SourceVersion); err != nil {
			return nil, err
		}
	}
	if !validPackageName(b.Source) {
		return nil, errf(ErrInvalid, "%s: bad Source name %q", what, truncate(b.Source))
	}
	return b, nil
}

// validArch: one architecture name (lower-case letters, digits, '-').
func validArch(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// packagesOrder is the field order of a Packages stanza: dpkg's
// CTRL_INDEX_PKG order (Dpkg::Control::FieldsCore, dpkg 1.21), which
// dpkg-scanpackages writes. Other fields follow, sorted by name.
var packagesOrder = []string{
	"Package", "Package-Type", "Source", "Version", "Kernel-Version",
	"Built-For-Profiles", "Auto-Built-Package", "Architecture", "Subarchitecture",
	"Installer-Menu-Item", "Build-Essential", "Essential", "Protected", "Origin",
	"Bugs", "Maintainer", "Installed-Size",
	"Pre-Depends", "Depends", "Recommends", "Suggests", "Enhances", "Conflicts",
	"Breaks", "Replaces", "Provides", "Built-Using", "Static-Built-Using",
	"Filename", "Size", "MD5sum", "SHA1", "SHA256",
	"Section", "Priority", "Multi-Arch", "Homepage", "Description", "Tag", "Task",
}

// packagesRank maps a lower-case field name to its position in packagesOrder.
var packagesRank = func() map[string]int {
	m := make(map[string]int, len(packagesOrder))
	for i, n := range packagesOrder {
		m[strings.ToLower(n)] = i
	}
	return m
}()

// capitalize spells a field name as dpkg writes it (field_capitalize): the
// canonical name of a known field, else every dash-separated word with an
// upper-case first letter and the rest lower-case.
func capitalize(name string) string {
	lower := strings.ToLower(name)
	if i, ok := packagesRank[lower]; ok {
		return packagesOrder[i]
	}
	words := strings.Split(lower, "-")
	for i, w := range words {
		if w != "" && 'a' <= w[0] && w[0] <= 'z' {
			words[i] = string(w[0]-'a'+'A') + w[1:]
		}
	}
	return strings.Join(words, "-")
}

// BinaryStanza returns the Packages stanza of a binary package whose
// control file is control, stored at filename (relative to the archive
// root, as in "pool/main/h/hello/hello_2.10-3_amd64.deb"), of size bytes,
// with the given lower-case hex checksums. The stanza ends with a newline
// and no blank line (as index.Stanza.Raw).
//
// It is what dpkg-scanpackages writes: Filename, Size, MD5sum, SHA1 and
// SHA256 set from the arguments (replacing any such field of control);
// fields in dpkg's order for Packages files (Package, Package-Type,
// Source, Version, ..., Architecture, ..., Maintainer, Installed-Size, the
// dependency fields, Filename, Size, MD5sum, SHA1, SHA256, Section,
// Priority, Multi-Arch, Homepage, Description, Tag, Task), then any other
// field sorted by name; names spelt as dpkg spells them ("XB-Foo" becomes
// "Xb-Foo"); empty fields dropped; values as dpkg reads them back, which
// for a well-formed control file is byte for byte (trailing white space
// goes, a continuation line starting with a tab starts with a space).
func BinaryStanza(control []byte, filename string, size int64, md5, sha1, sha256 string) ([]byte, error) {
	const what = "control file"
	if _, err := ParseControl(control); err != nil {
		return nil, err
	}
	if filename == "" || strings.ContainsAny(filename, "\n\r") || strings.TrimSpace(filename) != filename {
		return nil, errf(ErrInvalid, "bad Filename %q", truncate(filename))
	}
	if size < 0 {
		return nil, errf(ErrInvalid, "negative Size %d", size)
	}
	for _, s := range []struct {
		name, v string
		n       int
	}{{"MD5sum", md5, 32}, {"SHA1", sha1, 40}, {"SHA256", sha256, 64}} {
		if len(s.v) != s.n || !isHex(s.v) {
			return nil, errf(ErrInvalid, "bad %s %q (want %d lower-case hex digits)", s.name, truncate(s.v), s.n)
		}
	}
	p, err := parseParagraph(control, what)
	if err != nil {
		return nil, err
	}
	replaced := map[string]string{
		"filename": filename, "size": strconv.FormatInt(size, 10),
		"md5sum": md5, "sha1": sha1, "sha256": sha256,
	}
	fields := make([]deb822.Field, 0, len(p)+len(replaced))
	seen := map[string]bool{}
	for _, f := range p {
		name := capitalize(f.name)
		if _, ok := replaced[strings.ToLower(name)]; ok {
			continue
		}
		if seen[name] {
			return nil, errf(ErrInvalid, "%s: duplicate field %s", what, name)
		}
		seen[name] = true
		if v := normalizeValue(f.value); v != "" {
			fields = append(fields, deb822.Field{Name: name, Value: v})
		}
	}
	for _, name := range []string{"Filename", "Size", "MD5sum", "SHA1", "SHA256"} {
		fields = append(fields, deb822.Field{Name: name, Value: replaced[strings.ToLower(name)]})
	}
	slices.SortStableFunc(fields, func(a, b deb822.Field) int {
		ra, oka := packagesRank[strings.ToLower(a.Name)]
		rb, okb := packagesRank[strings.ToLower(b.Name)]
		switch {
		case oka && okb:
			return ra - rb
		case oka:
			return -1
		case okb:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return writeStanza(fields, what)
}

package debpkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"

	"github.com/aptsnap/aptsnap/debver"
)

// ErrNoChangelog: the binary package ships no Debian changelog where
// ReadChangelog looks (the file is absent, not a regular file, or its
// documentation directory is a symbolic link to another package's).
// Callers may treat it as "no entries".
var ErrNoChangelog = errors.New("debpkg: no changelog")

// Limits of ReadChangelog.
const (
	// MaxChangelogSize is the largest decompressed changelog ReadChangelog
	// returns.
	MaxChangelogSize = 1 << 20
	// maxDataEntries is the number of data.tar entries read before giving
	// up on finding the changelog (Debian's largest packages hold about
	// 100,000 files).
	maxDataEntries = 1 << 20
	// maxDataTar is the number of uncompressed data.tar bytes read (file
	// contents skipped included) before giving up on finding the changelog.
	maxDataTar = 4 << 30
)

// ReadChangelog reads a binary package (.deb or .udeb, as ReadControl
// accepts) of size bytes and returns, decompressed, the Debian changelog of
// package pkg it ships: ./usr/share/doc/<pkg>/changelog.Debian.gz, or, when
// there is none, ./usr/share/doc/<pkg>/changelog.gz (a native package's).
// Only regular files count.
//
// The data member (data.tar, .gz, .xz or .zst) is read as a stream, file
// contents skipped, until the changelog is found (or, for changelog.gz, to
// its end, in case changelog.Debian.gz follows), over at most 2^20 entries
// and 4 GiB uncompressed (past them: ErrTooLarge). The changelog may not
// exceed MaxChangelogSize decompressed (ErrTooLarge). A package without
// either file, or whose usr/share/doc/<pkg> is a symbolic link, gives an
// error wrapping ErrNoChangelog.
func ReadChangelog(r io.ReaderAt, size int64, pkg string) ([]byte, error) {
	if !validPackageName(pkg) {
		return nil, errf(ErrInvalid, "bad package name %q", truncate(pkg))
	}
	members, err := readAr(r, size)
	if err != nil {
		return nil, err
	}
	_, data, err := findMembers(members)
	if err != nil {
		return nil, err
	}
	if err := checkDebianBinary(r, members[0]); err != nil {
		return nil, err
	}
	dec, done, err := decompress(r, data)
	if err != nil {
		return nil, err
	}
	defer done()
	lim := &limitReader{r: dec, n: maxDataTar,
		err: errf(ErrTooLarge, "no changelog in the first %d bytes uncompressed", int64(maxDataTar))}
	tr := tar.NewReader(lim)

	docDir := "usr/share/doc/" + pkg
	debianName, nativeName := docDir+"/changelog.Debian.gz", docDir+"/changelog.gz"
	var native []byte // changelog.gz, kept in case no changelog.Debian.gz follows
	var nativeErr error
	found := false
	for n := 0; ; n++ {
		if n == maxDataEntries {
			return nil, errf(ErrTooLarge, "%s: no changelog in the first %d entries", data.name, maxDataEntries)
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, controlErr(data, err)
		}
		name := strings.TrimPrefix(strings.TrimLeft(h.Name, "/"), "./")
		name = strings.TrimSuffix(name, "/")
		switch {
		case name == docDir && h.Typeflag == tar.TypeSymlink:
			return nil, errf(ErrNoChangelog, "%s is a symbolic link to %q", docDir, truncate(h.Linkname))
		case h.Typeflag != tar.TypeReg:
			continue
		case name == debianName:
			return readGzipChangelog(tr, debianName, data)
		case name == nativeName && !found:
			found = true
			native, nativeErr = readGzipChangelog(tr, nativeName, data)
		}
	}
	if found {
		return native, nativeErr
	}
	return nil, errf(ErrNoChangelog, "no %s or changelog.gz in %s", debianName, data.name)
}

// readGzipChangelog decompresses a gzipped changelog of at most
// MaxChangelogSize bytes, file name of data member m.
func readGzipChangelog(r io.Reader, name string, m arMember) ([]byte, error) {
	fail := func(err error) ([]byte, error) {
		var de *debError
		if errors.As(err, &de) { // from the data member's reader
			return nil, controlErr(m, err)
		}
		return nil, wrapf(ErrInvalid, err, "%s", name)
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fail(err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, MaxChangelogSize+1))
	if err != nil {
		return fail(err)
	}
	if len(data) > MaxChangelogSize {
		return nil, errf(ErrTooLarge, "%s is more than %d bytes uncompressed", name, MaxChangelogSize)
	}
	return data, nil
}

// ChangelogEntry is one entry of a Debian changelog (deb-changelog(5)):
//
//	package (version) distribution(s); urgency=urgency
//
//	  * changes
//
//	 -- maintainer name <email address>  date
type ChangelogEntry struct {
	Package, Version string
	// Distribution is the distributions of the header, separated by one
	// space ("unstable", "bookworm-security").
	Distribution string
	// Urgency is the value of the urgency keyword of the header ("medium";
	// "" when there is none).
	Urgency string
	// Changes is the body: its lines as in the file (indentation kept,
	// trailing carriage returns removed), each ending with "\n", without the
	// blank lines around them.
	Changes string
	// Maintainer ("Name <email>") and Date are those of the trailer line;
	// "" when the entry has none.
	Maintainer string
	Date       string
}

// ParseChangelog parses a Debian changelog (deb-changelog(5)) and returns
// its entries in file order (newest first). Blank lines between entries
// are skipped. A line where a header is expected that is not one, after at
// least one entry, ends the changelog, so that old changelogs' tails
// ("Local variables:", "Old Changelog:") are ignored; when the first
// non-blank line is not a header, it is an error wrapping ErrInvalid.
//
// Within an entry, every line up to the trailer (" -- ") belongs to the
// body, except a line that parses as a header: then the entry has no
// trailer and the new one starts (dpkg-parsechangelog warns and goes on
// alike). An entry cut short by the end of the data has no trailer either.
func ParseChangelog(data []byte) ([]ChangelogEntry, error) {
	var entries []ChangelogEntry
	var cur *ChangelogEntry
	var body []string
	finish := func() {
		for len(body) > 0 && strings.TrimSpace(body[len(body)-1]) == "" {
			body = body[:len(body)-1]
		}
		start := 0
		for start < len(body) && strings.TrimSpace(body[start]) == "" {
			start++
		}
		var b strings.Builder
		for _, l := range body[start:] {
			b.WriteString(l)
			b.WriteByte('\n')
		}
		cur.Changes = b.String()
		entries = append(entries, *cur)
		cur, body = nil, body[:0]
	}
	lineNo := 0
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		lineNo++
		l := strings.TrimRight(string(line), "\r")
		if cur == nil { // a header is expected
			if strings.TrimSpace(l) == "" {
				continue
			}
			e, ok := parseChangelogHeader(l)
			if !ok {
				if len(entries) > 0 {
					break
				}
				return nil, errf(ErrInvalid, "changelog: line %d: not an entry header: %q", lineNo, truncate(l))
			}
			cur = &e
			continue
		}
		if strings.HasPrefix(l, " --") && (len(l) == 3 || l[3] == ' ' || l[3] == '\t') {
			cur.Maintainer, cur.Date = parseChangelogTrailer(l[3:])
			finish()
			continue
		}
		if l != "" && l[0] != ' ' && l[0] != '\t' {
			if e, ok := parseChangelogHeader(l); ok {
				finish()
				cur = &e
				continue
			}
		}
		body = append(body, l)
	}
	if cur != nil {
		finish()
	}
	if len(entries) == 0 {
		return nil, errf(ErrInvalid, "changelog: no entry")
	}
	return entries, nil
}

// isChangelogNameChar reports whether c may be in a package or distribution
// name of a changelog header (dpkg's [-+0-9a-z.], case-insensitive).
func isChangelogNameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.'
}

// parseChangelogHeader parses a header line as dpkg's Dpkg::Changelog::Entry
// ::Debian does: "package (version) dist...; key=value, ...".
func parseChangelogHeader(l string) (ChangelogEntry, bool) {
	var e ChangelogEntry
	pkg, rest, ok := strings.Cut(l, " (")
	if !ok || pkg == "" {
		return e, false
	}
	if c := pkg[0]; !isChangelogNameChar(c) && c != '_' || c == '-' || c == '+' || c == '.' {
		return e, false
	}
	for i := 1; i < len(pkg); i++ {
		if !isChangelogNameChar(pkg[i]) {
			return e, false
		}
	}
	version, rest, ok := strings.Cut(rest, ")")
	if !ok || version == "" || strings.ContainsAny(version, "( \t") {
		return e, false
	}
	dists, meta, ok := strings.Cut(rest, ";")
	if !ok || dists == "" || (dists[0] != ' ' && dists[0] != '\t') {
		return e, false
	}
	fields := strings.Fields(dists)
	if len(fields) == 0 {
		return e, false
	}
	for _, d := range fields {
		for i := 0; i < len(d); i++ {
			if !isChangelogNameChar(d[i]) {
				return e, false
			}
		}
	}
	e.Package, e.Version, e.Distribution = pkg, version, strings.Join(fields, " ")
	for kv := range strings.SplitSeq(meta, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "urgency") && e.Urgency == "" {
			e.Urgency = strings.TrimSpace(v)
		}
	}
	return e, true
}

// parseChangelogTrailer splits what follows " --" in a trailer line into
// the maintainer ("Name <email>") and the date.
func parseChangelogTrailer(s string) (maintainer, date string) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, ">"); i >= 0 {
		return strings.TrimSpace(s[:i+1]), strings.TrimSpace(s[i+1:])
	}
	if m, d, ok := strings.Cut(s, "  "); ok {
		return strings.TrimSpace(m), strings.TrimSpace(d)
	}
	return s, ""
}

// EntriesSince returns the entries whose version is later than after and
// not later than upTo (in dpkg's order, see debver.Compare), in the order
// given (a changelog's: newest first). after == "" means no lower bound,
// upTo == "" no upper bound. The result shares no memory with entries'
// backing array.
func EntriesSince(entries []ChangelogEntry, after, upTo string) []ChangelogEntry {
	var out []ChangelogEntry
	for _, e := range entries {
		if after != "" && debver.Compare(e.Version, after) <= 0 {
			continue
		}
		if upTo != "" && debver.Compare(e.Version, upTo) > 0 {
			continue
		}
		out = append(out, e)
	}
	return out
}

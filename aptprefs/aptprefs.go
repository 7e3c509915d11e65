// Package aptprefs reads and edits APT preferences files
// (apt_preferences(5), for example a branch's config/chroot_apt/preferences)
// byte for byte.
//
// A File keeps every line of its input as it was read: comments, blank
// lines, field order, trailing whitespace, CRLF line endings and a missing
// final newline all survive, and Bytes returns the input unchanged until an
// edit is made. Edits touch as little as possible: a priority change
// rewrites only the digits of one Pin-Priority value, and a new entry is a
// paragraph appended at the end.
//
// The format: paragraphs separated by blank (empty or whitespace-only)
// lines, each made of "Field: value" lines; a line starting with a space or
// a tab continues the previous field; a line whose first non-blank
// character is '#' is a comment, wherever it is. Field names are
// case-insensitive. Every paragraph must have Package, Pin and Pin-Priority
// (an integer from -32768 to 32767, not 0: APT refuses the rest), any number
// of Explanation fields, and may have other fields, which are kept and
// ignored. A paragraph made only of comments is not an entry.
//
// A freeze exception is an entry with an Explanation that contains
// "freeze exception" (case-insensitive). Granting one pins a package from
// an origin at 999; thawing sets every freeze-exception pin to -1.
package aptprefs

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Entry is one paragraph of a preferences file.
type Entry struct {
	// Package is the Package field: "*", one or more names separated by
	// spaces, glob patterns or /regex/es.
	Package string
	// Pin is the Pin field, e.g. "origin deb.example.org",
	// "release o=Debian,n=bookworm" or "version 1.2*".
	Pin string
	// Priority is the Pin-Priority.
	Priority int
	// Explanations are the Explanation fields, in order (continuation
	// lines joined with "\n").
	Explanations []string
	// FreezeException is set when an Explanation contains
	// "freeze exception", case-insensitively.
	FreezeException bool
	// Line is the 1-based line number of the paragraph's first field.
	Line int
}

// SyntaxError is a preferences file that cannot be read, with the line at fault.
type SyntaxError struct {
	Line int // 1-based
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// File is a parsed preferences file. Its methods are not safe for
// concurrent use.
type File struct {
	lines []line
	paras []paragraph
	eol   string // line ending for lines we add
}

type line struct {
	text []byte // without the line ending; shared with other lines, never appended to
	eol  string // "\n", "\r\n", or "" for a last line without one
}

type paragraph struct {
	entry Entry
	// The Pin-Priority value is lines[prio].text[start:end].
	prio, start, end int
}

// Parse reads a preferences file. An empty input is an empty file.
func Parse(data []byte) (*File, error) {
	data = bytes.Clone(data)
	f := &File{eol: ""}
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			f.lines = append(f.lines, line{text: data})
			break
		}
		l := line{text: data[:i:i], eol: "\n"}
		if i > 0 && data[i-1] == '\r' {
			l = line{text: data[: i-1 : i-1], eol: "\r\n"}
		}
		if f.eol == "" {
			f.eol = l.eol
		}
		f.lines = append(f.lines, l)
		data = data[i+1:]
	}
	if f.eol == "" {
		f.eol = "\n"
	}

	var cur *builder
	for i, l := range f.lines {
		t := l.text
		switch {
		case isBlank(t):
			if cur != nil {
				p, err := cur.finish()
				if err != nil {
					return nil, err
				}
				f.paras = append(f.paras, p)
				cur = nil
			}
		case isComment(t):
		case t[0] == ' ' || t[0] == '\t':
			if cur == nil {
				return nil, &SyntaxError{i + 1, "continuation line (starting with a space or a tab) outside a paragraph"}
			}
			cur.last.cont = append(cur.last.cont, string(trimSpace(t)))
		default:
			colon := bytes.IndexByte(t, ':')
			if colon < 0 {
				return nil, &SyntaxError{i + 1, fmt.Sprintf("expected \"Field: value\", found %q", t)}
			}
			name := trimRight(t[:colon])
			if len(name) == 0 || bytes.ContainsAny(name, " \t\v\f\r") {
				return nil, &SyntaxError{i + 1, fmt.Sprintf("bad field name %q", t[:colon])}
			}
			start := colon + 1
			for start < len(t) && isSpace(t[start]) {
				start++
			}
			end := len(t)
			for end > start && isSpace(t[end-1]) {
				end--
			}
			if cur == nil {
				cur = &builder{line: i + 1}
			}
			fl := &field{
				name:  strings.ToLower(string(name)),
				value: string(t[start:end]),
				line:  i,
				start: start,
				end:   end,
			}
			if fl.name != "explanation" {
				for _, g := range cur.fields {
					if g.name == fl.name {
						return nil, &SyntaxError{i + 1, fmt.Sprintf("field %s repeated (first on line %d)", name, g.line+1)}
					}
				}
			}
			cur.fields = append(cur.fields, fl)
			cur.last = fl
		}
	}
	if cur != nil {
		p, err := cur.finish()
		if err != nil {
			return nil, err
		}
		f.paras = append(f.paras, p)
	}
	return f, nil
}

type field struct {
	name       string // lower case
	value      string // first line, trimmed
	cont       []string
	line       int // index in File.lines
	start, end int // of value in the line
}

type builder struct {
	line   int // 1-based, first field
	fields []*field
	last   *field
}

func (b *builder) get(name string) *field {
	for _, f := range b.fields {
		if f.name == name {
			return f
		}
	}
	return nil
}

func (b *builder) finish() (paragraph, error) {
	var p paragraph
	p.entry.Line = b.line
	pkg := b.get("package")
	if pkg == nil {
		return p, &SyntaxError{b.line, "paragraph has no Package field"}
	}
	p.entry.Package = strings.Join(append([]string{pkg.value}, pkg.cont...), " ")
	if strings.TrimSpace(p.entry.Package) == "" {
		return p, &SyntaxError{pkg.line + 1, "empty Package field"}
	}
	p.entry.Package = strings.TrimSpace(p.entry.Package)
	pin := b.get("pin")
	if pin == nil {
		return p, &SyntaxError{b.line, "paragraph has no Pin field"}
	}
	p.entry.Pin = strings.TrimSpace(strings.Join(append([]string{pin.value}, pin.cont...), " "))
	if p.entry.Pin == "" {
		return p, &SyntaxError{pin.line + 1, "empty Pin field"}
	}
	prio := b.get("pin-priority")
	if prio == nil {
		return p, &SyntaxError{b.line, "paragraph has no Pin-Priority field"}
	}
	if len(prio.cont) > 0 {
		return p, &SyntaxError{prio.line + 1, "Pin-Priority continues on the next line"}
	}
	n, err := strconv.Atoi(prio.value)
	if err != nil {
		return p, &SyntaxError{prio.line + 1, fmt.Sprintf("Pin-Priority %q is not an integer", prio.value)}
	}
	if n == 0 || n < -32768 || n > 32767 {
		return p, &SyntaxError{prio.line + 1, fmt.Sprintf("Pin-Priority %d is outside -32768..32767 or 0", n)}
	}
	p.entry.Priority = n
	p.prio, p.start, p.end = prio.line, prio.start, prio.end
	for _, f := range b.fields {
		if f.name != "explanation" {
			continue
		}
		e := strings.Join(append([]string{f.value}, f.cont...), "\n")
		p.entry.Explanations = append(p.entry.Explanations, e)
		if strings.Contains(strings.ToLower(e), "freeze exception") {
			p.entry.FreezeException = true
		}
	}
	return p, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' }

func isBlank(t []byte) bool {
	for _, c := range t {
		if !isSpace(c) {
			return false
		}
	}
	return true
}

func isComment(t []byte) bool {
	t = trimSpace(t)
	return len(t) > 0 && t[0] == '#'
}

func trimRight(t []byte) []byte {
	for len(t) > 0 && isSpace(t[len(t)-1]) {
		t = t[:len(t)-1]
	}
	return t
}

func trimSpace(t []byte) []byte {
	for len(t) > 0 && isSpace(t[0]) {
		t = t[1:]
	}
	return trimRight(t)
}

// Bytes returns the file: its input byte for byte, with the edits made since.
func (f *File) Bytes() []byte {
	n := 0
	for _, l := range f.lines {
		n += len(l.text) + len(l.eol)
	}
	out := make([]byte, 0, n)
	for _, l := range f.lines {
		out = append(out, l.text...)
		out = append(out, l.eol...)
	}
	return out
}

// Entries returns the file's entries, in file order.
func (f *File) Entries() []Entry {
	out := make([]Entry, 0, len(f.paras))
	for _, p := range f.paras {
		out = append(out, p.entry.clone())
	}
	return out
}

// Exceptions returns the freeze-exception entries, in file order.
func (f *File) Exceptions() []Entry {
	var out []Entry
	for _, p := range f.paras {
		if p.entry.FreezeException {
			out = append(out, p.entry.clone())
		}
	}
	return out
}

func (e Entry) clone() Entry {
	e.Explanations = append([]string(nil), e.Explanations...)
	return e
}

// PinOrigin returns the host of an "origin HOST" pin (surrounding double
// quotes removed, so `origin ""` is the empty host: local files), and
// whether pin is one.
func PinOrigin(pin string) (host string, ok bool) {
	pin = strings.TrimSpace(pin)
	i := strings.IndexAny(pin, " \t")
	word, rest := pin, ""
	if i >= 0 {
		word, rest = pin[:i], strings.TrimSpace(pin[i:])
	}
	if !strings.EqualFold(word, "origin") {
		return "", false
	}
	if len(rest) >= 2 && rest[0] == '"' && rest[len(rest)-1] == '"' {
		rest = rest[1 : len(rest)-1]
	}
	return rest, true
}

// OriginPriority returns the Pin-Priority APT would give package pkg from
// a source whose origin (hostname) is host, or 0 when no entry applies
// (APT then uses its default, 500 for a source without NotAutomatic).
//
// Only "Pin: origin HOST" entries are considered; release and version pins
// are ignored, so this is the answer for a package whose candidate version
// no such pin names. Origins are compared as hostnames, exactly but
// without regard to case; "" (written `origin ""`) is local files. APT
// also accepts glob and /regex/ origins; here they are taken literally.
// As in APT, the first entry whose Package field names pkg (exactly, by a
// glob pattern or by a /regex/, case-insensitively for patterns) wins;
// failing that, the first "Package: *" entry; "src:" names are ignored, and
// an architecture qualifier (name:arch) only excludes pkg when both name a
// different architecture.
func (f *File) OriginPriority(pkg, host string) int {
	return f.priority(pkg, func(pin string) bool {
		o, ok := PinOrigin(pin)
		return ok && strings.EqualFold(o, host)
	})
}

// priority is the priority of the first entry whose pin selects names
// pkg, else of the first "Package: *" one so selected, else 0.
func (f *File) priority(pkg string, selects func(pin string) bool) int {
	general := 0
	for _, p := range f.paras {
		if !selects(p.entry.Pin) {
			continue
		}
		if p.entry.Package == "*" {
			if general == 0 {
				general = p.entry.Priority
			}
			continue
		}
		if NamesPackage(p.entry.Package, pkg) {
			return p.entry.Priority
		}
	}
	return general
}

// Source is where a package version comes from, as APT matches pins
// against it: the host of the repository's URL ("Pin: origin HOST") and
// the fields of its Release ("Pin: release o=,l=,a=,n=,v=,c=,b=").
type Source struct {
	Host                                    string // origin
	Origin, Label, Suite, Codename, Version string // o, l, a, n, v
	Component, Architecture                 string // c, b
}

// Priority returns the Pin-Priority APT would give package pkg from src,
// or 0 when no entry applies (APT's default then: 500, or 100 for a
// NotAutomatic source). "origin" and "release" pins are matched against
// src, the first entry whose Package field names pkg winning (see
// OriginPriority for how Package fields name packages), failing that the
// first "Package: *" entry; "version" pins are not about a source and are
// skipped. Release values match exactly, as glob patterns or as
// /regular expressions/, as in APT.
func (f *File) Priority(pkg string, src Source) int { return f.priority(pkg, src.selectedBy) }

// selectedBy reports whether a Pin value selects src.
func (src Source) selectedBy(pin string) bool {
	if host, ok := PinOrigin(pin); ok {
		return strings.EqualFold(host, src.Host)
	}
	pin = strings.TrimSpace(pin)
	word, rest, _ := strings.Cut(pin, " ")
	if !strings.EqualFold(word, "release") {
		return false
	}
	rest = strings.TrimSpace(rest)
	if !strings.Contains(rest, "=") { // "release 12": a version
		return releaseMatches(rest, src.Version)
	}
	for item := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return false
		}
		var field string
		switch strings.TrimSpace(k) {
		case "a":
			field = src.Suite
		case "n":
			field = src.Codename
		case "v":
			field = src.Version
		case "o":
			field = src.Origin
		case "l":
			field = src.Label
		case "c":
			field = src.Component
		case "b":
			field = src.Architecture
		default:
			return false
		}
		if !releaseMatches(strings.Trim(strings.TrimSpace(v), `"`), field) {
			return false
		}
	}
	return true
}

// releaseMatches matches a release pin's value against a field: exactly,
// as a glob, or as a /regular expression/.
func releaseMatches(pattern, field string) bool {
	switch {
	case len(pattern) >= 2 && pattern[0] == '/' && pattern[len(pattern)-1] == '/':
		re, err := regexp.Compile(pattern[1 : len(pattern)-1])
		return err == nil && re.MatchString(field)
	case strings.ContainsAny(pattern, "*?["):
		ok, err := path.Match(pattern, field)
		return err == nil && ok
	}
	return pattern == field
}

// NamesPackage reports whether a Package field (other than "*") names
// package pkg the way APT reads it: a space-separated list of names, glob
// patterns (with *, ? or [) and /regular expressions/; patterns match
// case-insensitively and regular expressions anywhere in the name.
func NamesPackage(field, pkg string) bool {
	pkgName, pkgArch := splitArch(pkg)
	for _, tok := range strings.Fields(field) {
		if strings.HasPrefix(tok, "src:") {
			continue
		}
		name, arch := splitArch(tok)
		if arch != "" && pkgArch != "" && arch != pkgArch {
			continue
		}
		switch {
		case len(name) >= 2 && name[0] == '/' && name[len(name)-1] == '/':
			re, err := regexp.Compile("(?i)" + name[1:len(name)-1])
			if err == nil && re.MatchString(pkgName) {
				return true
			}
		case strings.ContainsAny(name, "*?["):
			pat := strings.ToLower(strings.ReplaceAll(name, "[!", "[^"))
			if ok, err := path.Match(pat, strings.ToLower(pkgName)); err == nil && ok {
				return true
			}
		default:
			if name == pkgName {
				return true
			}
		}
	}
	return false
}

func splitArch(s string) (name, arch string) {
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

var (
	pkgRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	hostRE = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_.-]*)$`)
)

// ValidateException checks the arguments of GrantException: pkg must be a
// Debian package name and host a hostname (or "" for local files).
func ValidateException(pkg, host string) error {
	if !pkgRE.MatchString(pkg) {
		return fmt.Errorf("%q is not a package name", pkg)
	}
	if host != "" && !hostRE.MatchString(host) {
		return fmt.Errorf("%q is not a hostname", host)
	}
	return nil
}

// GrantException pins package pkg from origin host at 999 as a freeze
// exception. When freeze-exception entries with exactly "Package: pkg" and
// "Pin: origin host" exist, their Pin-Priority values are set to 999 (only
// those bytes change); otherwise this paragraph is appended, after exactly
// one blank line (none is added when the file is empty or already ends
// with a blank line):
//
//	Explanation: freeze exception
//	Package: PKG
//	Pin: origin HOST
//	Pin-Priority: 999
//
// It reports whether the file changed. It panics if ValidateException
// refuses pkg or host: check them first.
//
// An earlier entry naming pkg from the same origin (a glob, say) still wins
// over an appended one: check OriginPriority(pkg, host) afterwards.
func (f *File) GrantException(pkg, host string) (changed bool) {
	if err := ValidateException(pkg, host); err != nil {
		panic("aptprefs: GrantException: " + err.Error())
	}
	found := false
	for i := range f.paras {
		p := &f.paras[i]
		if !p.entry.FreezeException || p.entry.Package != pkg {
			continue
		}
		if o, ok := PinOrigin(p.entry.Pin); !ok || !strings.EqualFold(o, host) {
			continue
		}
		found = true
		if f.setPriority(p, 999) {
			changed = true
		}
	}
	if found {
		return changed
	}

	if n := len(f.lines); n > 0 {
		last := &f.lines[n-1]
		if last.eol == "" {
			last.eol = f.eol
		}
		if !isBlank(last.text) {
			f.lines = append(f.lines, line{eol: f.eol})
		}
	}
	pin := "origin " + host
	if host == "" {
		pin = `origin ""`
	}
	first := len(f.lines)
	for _, s := range []string{
		"Explanation: freeze exception",
		"Package: " + pkg,
		"Pin: " + pin,
		"Pin-Priority: 999",
	} {
		f.lines = append(f.lines, line{text: []byte(s), eol: f.eol})
	}
	f.paras = append(f.paras, paragraph{
		entry: Entry{
			Package:         pkg,
			Pin:             pin,
			Priority:        999,
			Explanations:    []string{"freeze exception"},
			FreezeException: true,
			Line:            first + 1,
		},
		prio:  first + 3,
		start: len("Pin-Priority: "),
		end:   len("Pin-Priority: 999"),
	})
	return true
}

// ThawExceptions sets Pin-Priority to -1 on every freeze-exception entry,
// changing nothing else, and returns how many entries changed (those
// already at -1 do not count).
func (f *File) ThawExceptions() (n int) {
	for i := range f.paras {
		if f.paras[i].entry.FreezeException && f.setPriority(&f.paras[i], -1) {
			n++
		}
	}
	return n
}

// setPriority rewrites the priority value bytes of p.
func (f *File) setPriority(p *paragraph, v int) bool {
	if p.entry.Priority == v {
		return false
	}
	l := &f.lines[p.prio]
	s := strconv.Itoa(v)
	t := make([]byte, 0, len(l.text)-(p.end-p.start)+len(s))
	t = append(t, l.text[:p.start]...)
	t = append(t, s...)
	t = append(t, l.text[p.end:]...)
	l.text = t
	p.end = p.start + len(s)
	p.entry.Priority = v
	return true
}

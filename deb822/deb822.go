// Package deb822 reads and writes Debian control-file syntax (deb822(5)):
// Packages, Sources, Release, debian/control, apt preferences.
//
// # Syntax accepted
//
// Input is a sequence of lines ending in "\n"; the last line may lack it.
// A line is:
//
//   - blank: empty or only spaces, tabs and carriage returns. One or more
//     blank lines separate paragraphs; blank lines before the first paragraph
//     and after the last are ignored.
//   - a comment: it starts with '#'. Comments are never fields, but they are
//     kept in the paragraph's raw bytes and, as far as possible, when a
//     modified paragraph is written again (see Writer).
//   - a continuation line: it starts with a space or a tab and continues the
//     value of the field above it.
//   - a field line "Name: value": the name is every byte before the first
//     colon and must not be empty.
//
// A block of comments that is separated from the next paragraph only by
// blank lines (a file header, say) belongs to that next paragraph: its raw
// bytes start with the comments. Comments after the last paragraph come back
// as a final paragraph with no fields, so nothing is lost.
//
// # Values
//
// Field.Value is the text after the colon with one leading space or tab
// removed, followed by every continuation line exactly as it is (with its
// leading whitespace), joined with "\n"; the newline of the last line is not
// part of it. "Description: first\n second line\n .\n" has the value
// "first\n second line\n .". A value that starts on the line after the
// name, as the checksum lists of a Release file do, starts with "\n".
// Trailing whitespace is kept, except that carriage returns before the
// final newline are dropped, so files with CRLF line ends give clean
// single-line values; the "\r" of inner lines of a multi-line value stays.
//
// Comment lines inside a multi-line value are not part of it.
//
// Field names match case-insensitively (ASCII only). When a paragraph has
// the same field twice, Get and Scanner.Field see the first.
//
// A clearsigned file (InRelease) must have its OpenPGP armor removed first:
// the "-----BEGIN PGP SIGNED MESSAGE-----" line is a syntax error here.
//
// # Round trip
//
// Reading a file and writing every paragraph back unchanged gives the input
// bytes in canonical form: each paragraph verbatim (comments, tabs, CRLF
// and all), followed by exactly one blank line ("\r\n" if the paragraph's
// lines end in "\r\n"). So a file in canonical form round-trips byte for
// byte; otherwise runs of blank lines collapse to one, whitespace-only
// blank lines become empty, leading blank lines disappear, and a final
// paragraph without a final newline or blank line gets them.
//
// # Hot path
//
// Reader allocates three times per paragraph (the paragraph, its field
// slice, one string holding its bytes; names and values share that string).
// Scanner allocates nothing per paragraph and is the tool for walking a whole
// Packages or Sources file for a few fields.
package deb822

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"unsafe"
)

// Field is one field of a paragraph. Value is the field's value with the
// single leading whitespace after the colon and the trailing newline removed;
// continuation lines are kept as they are ("first\n second line\n ."), so
// multi-line values round-trip.
type Field struct {
	Name, Value string
}

// comment is comment text that precedes the field at index before (or ends
// the paragraph when before >= len(Fields)). text is whole lines with their
// line ends; a leading block may include blank lines.
type comment struct {
	before int
	text   string
}

// Paragraph is one stanza: a list of fields in file order. Fields may be
// modified directly or through Get, Set and Del. A paragraph read by Reader
// also remembers its raw bytes, which Writer reproduces exactly as long as
// Fields still equal what was read.
type Paragraph struct {
	// Fields holds the fields in order.
	Fields []Field

	raw      string    // bytes as read; "" if built
	line     int       // line number of the first line of raw
	comments []comment // comments as read, for rewriting modified paragraphs
}

// index returns the index of the first field named name, or -1.
func (p *Paragraph) index(name string) int {
	for i := range p.Fields {
		if equalFoldString(p.Fields[i].Name, name) {
			return i
		}
	}
	return -1
}

// Get returns the value of the first field named name (ASCII
// case-insensitive), or "" if there is none.
func (p *Paragraph) Get(name string) string {
	if i := p.index(name); i >= 0 {
		return p.Fields[i].Value
	}
	return ""
}

// Lookup returns the value of the first field named name (ASCII
// case-insensitive) and whether there is one.
func (p *Paragraph) Lookup(name string) (string, bool) {
	if i := p.index(name); i >= 0 {
		return p.Fields[i].Value, true
	}
	return "", false
}

// Set gives field name the value value. If the paragraph has the field, the
// first occurrence keeps its position (and the spelling of its name) and
// takes the new value, and any later duplicates are removed; otherwise the
// field is appended. Setting a field to the value it already has changes
// nothing, so Raw stays valid.
func (p *Paragraph) Set(name, value string) {
	i := p.index(name)
	if i < 0 {
		p.Fields = append(p.Fields, Field{Name: name, Value: value})
		return
	}
	p.Fields[i].Value = value
	for j := len(p.Fields) - 1; j > i; j-- {
		if equalFoldString(p.Fields[j].Name, name) {
			p.remove(j)
		}
	}
}

// Del removes every field named name (ASCII case-insensitive).
func (p *Paragraph) Del(name string) {
	for j := len(p.Fields) - 1; j >= 0; j-- {
		if equalFoldString(p.Fields[j].Name, name) {
			p.remove(j)
		}
	}
}

// remove deletes field i, keeping comments attached to the fields around it.
func (p *Paragraph) remove(i int) {
	p.Fields = append(p.Fields[:i], p.Fields[i+1:]...)
	for k := range p.comments {
		if p.comments[k].before > i {
			p.comments[k].before--
		}
	}
}

// unmodified reports whether the raw bytes still describe Fields. It scans
// the raw bytes again (about as fast as copying them) rather than keep a
// second copy of every read paragraph's fields.
// c is scratch space.
func (p *Paragraph) unmodified(c *core) bool {
	if p.raw == "" {
		return false
	}
	data := unsafe.Slice(unsafe.StringData(p.raw), len(p.raw)) // read only
	c.reset(1)
	if c.scan(data, true) != stDone || c.pos != len(data) || len(c.fields) != len(p.Fields) {
		return false
	}
	for i := range c.fields {
		f := &c.fields[i]
		if p.Fields[i].Name != p.raw[f.nameStart:f.nameEnd] {
			return false
		}
		v := p.Fields[i].Value
		if f.commented {
			if v != string(c.value(data, f)) {
				return false
			}
		} else if v != p.raw[f.valStart:f.valEnd] {
			return false
		}
	}
	return true
}

// Raw returns the exact bytes of the paragraph as read (comments included,
// separating blank lines excluded), or nil if the paragraph was built rather
// than read or its Fields no longer equal what was read. The result is a
// copy.
func (p *Paragraph) Raw() []byte {
	if !p.unmodified(new(core)) {
		return nil
	}
	return []byte(p.raw)
}

// Line returns the 1-based line number where a paragraph read by Reader
// starts (the first line of its raw bytes), or 0 for a built paragraph.
func (p *Paragraph) Line() int { return p.line }

// Reader reads paragraphs from an io.Reader. It buffers its input.
type Reader struct {
	r   io.Reader
	buf []byte
	lo  int // start of unconsumed data in buf
	hi  int // end of data in buf
	eof bool
	// filled records that the last Read filled the buffer.
	filled bool
	line   int // line number of buf[lo]
	c      core
	err    error // sticky error
}

// minRead is the buffer size a Reader grows to on a long input.
const minRead = 64 << 10

// NewReader returns a Reader reading from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r, line: 1}
}

// Next returns the next paragraph, or io.EOF when there are no more.
// Blank lines (empty or whitespace-only) separate paragraphs; several in a
// row are fine. Lines starting with '#' are comments: they stay in the
// paragraph's raw bytes but are not fields. A syntax error is a
// *SyntaxError whose message names the line: "deb822: line 12: ..." for a
// line with no colon, a continuation line before any field, or an empty
// field name. Errors are sticky.
func (r *Reader) Next() (*Paragraph, error) {
	if r.err != nil {
		return nil, r.err
	}
	r.c.reset(r.line)
	for {
		data := r.buf[r.lo:r.hi]
		switch r.c.scan(data, r.eof) {
		case stDone:
			p := r.build(data)
			r.lo += r.c.pos
			r.line = r.c.line
			return p, nil
		case stEOF:
			r.err = io.EOF
			return nil, r.err
		case stErr:
			r.err = r.c.err
			return nil, r.err
		}
		if err := r.fill(r.c.pos); err != nil {
			r.err = err
			return nil, err
		}
	}
}

// fill reads more input; pos is where the core scanning the buffer
// stopped, relative to r.lo. The core resumes there, so only the
// incomplete last line is scanned again; fill reads at least as many bytes
// as that line already has, which keeps even a huge line read in tiny
// pieces linear overall.
func (r *Reader) fill(pos int) error {
	if r.lo > 0 {
		n := copy(r.buf, r.buf[r.lo:r.hi])
		r.lo, r.hi = 0, n
	}
	tail := r.hi - r.lo - pos // bytes of the incomplete line
	// Start small (most control files are tiny); grow to minRead while
	// reads fill the buffer (a file, a fast stream), and beyond that only
	// as far as a long line needs.
	size := len(r.buf)
	switch {
	case size == 0:
		size = 4 << 10
	case size < minRead && r.filled:
		size *= 2
	}
	for size-r.hi < max(tail, size/4) {
		size *= 2
	}
	if size > len(r.buf) {
		nb := make([]byte, size)
		copy(nb, r.buf[:r.hi])
		r.buf = nb
	}
	got, empty := 0, 0
	for got == 0 || got < tail {
		n, err := r.r.Read(r.buf[r.hi:])
		if n < 0 || n > len(r.buf)-r.hi {
			return errors.New("deb822: invalid count from Read")
		}
		r.filled = r.hi+n == len(r.buf)
		r.hi += n
		got += n
		if err == io.EOF {
			r.eof = true
			return nil
		}
		if err != nil {
			return err
		}
		if n == 0 {
			if empty++; empty >= 100 {
				return io.ErrNoProgress
			}
		}
	}
	return nil
}

// build makes a Paragraph from the paragraph the core just found in data.
func (r *Reader) build(data []byte) *Paragraph {
	c := &r.c
	raw := string(data[c.start:c.end])
	base := c.start
	n := len(c.fields)
	all := make([]Field, n)
	p := &Paragraph{Fields: all, raw: raw, line: c.startLine}
	for i := range c.fields {
		f := &c.fields[i]
		var v string
		if f.commented {
			v = string(c.value(data, f))
		} else {
			v = raw[f.valStart-base : f.valEnd-base]
		}
		all[i] = Field{Name: raw[f.nameStart-base : f.nameEnd-base], Value: v}
	}
	if len(c.comments) > 0 {
		p.comments = make([]comment, len(c.comments))
		for i, cm := range c.comments {
			p.comments[i] = comment{before: cm.before, text: raw[cm.start-base : cm.end-base]}
		}
	}
	return p
}

// Writer writes paragraphs in deb822 syntax.
type Writer struct {
	w   io.Writer
	buf []byte
	c   core // scratch for checking raw bytes
}

// NewWriter returns a Writer writing to w. Each Write issues one Write call
// on w; wrap w in a bufio.Writer for many small paragraphs.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w}
}

// Write writes p followed by exactly one blank line (Debian's archive
// software ends every stanza, the last one included, with a blank line:
// debootstrap drops a last stanza without it).
//
// An unmodified paragraph that was read by Reader is written byte for byte
// (its raw bytes, then a blank line: "\r\n" if its last line ends in
// "\r\n", else "\n"; a last line without a newline first gets one). Otherwise each field is written as
// "Name: Value\n" ("Name:" alone for an empty value, "Name:" directly
// followed by the value when it starts with a newline), and comments read
// with the paragraph are written back in front of the field they preceded
// (comments inside a multi-line value move after it). Rewritten lines end
// in "\n".
//
// Write returns an error, and writes nothing, if a name or value cannot be
// written so that it reads back the same: a name that is empty, contains
// ':' or a newline, or starts with a space, tab or '#'; a value whose
// continuation lines do not start with a space or tab or are blank, or
// whose last line ends in a carriage return. A paragraph with no fields and
// no comments writes nothing.
func (w *Writer) Write(p *Paragraph) error {
	b := w.buf[:0]
	if p.unmodified(&w.c) {
		b = append(b, p.raw...)
		if !strings.HasSuffix(p.raw, "\n") {
			b = append(b, '\n')
		}
		if len(b) >= 2 && b[len(b)-2] == '\r' {
			b = append(b, "\r\n"...)
		} else {
			b = append(b, '\n')
		}
	} else {
		if len(p.Fields) == 0 && len(p.comments) == 0 {
			return nil
		}
		for _, f := range p.Fields {
			if err := checkField(f); err != nil {
				return err
			}
		}
		ci := 0
		for i, f := range p.Fields {
			for ; ci < len(p.comments) && p.comments[ci].before <= i; ci++ {
				b = appendComment(b, p.comments[ci].text)
			}
			b = append(b, f.Name...)
			b = append(b, ':')
			if f.Value != "" && f.Value[0] != '\n' {
				b = append(b, ' ')
			}
			b = append(b, f.Value...)
			b = append(b, '\n')
		}
		for ; ci < len(p.comments); ci++ {
			b = appendComment(b, p.comments[ci].text)
		}
		b = append(b, '\n')
	}
	w.buf = b
	_, err := w.w.Write(b)
	return err
}

// appendComment appends comment text, ending it with a newline if needed.
func appendComment(b []byte, text string) []byte {
	b = append(b, text...)
	if !strings.HasSuffix(text, "\n") {
		b = append(b, '\n')
	}
	return b
}

// checkField reports whether f can be written so that it reads back as f.
func checkField(f Field) error {
	n := f.Name
	if n == "" {
		return errors.New("deb822: empty field name")
	}
	if n[0] == ' ' || n[0] == '\t' || n[0] == '#' || strings.ContainsAny(n, ":\n") {
		return errors.New("deb822: invalid field name " + quote(n))
	}
	v := f.Value
	if strings.HasSuffix(v, "\r") {
		return errors.New("deb822: value of field " + quote(n) + " ends in a carriage return")
	}
	i := strings.IndexByte(v, '\n')
	for i >= 0 {
		v = v[i+1:]
		i = strings.IndexByte(v, '\n')
		line := v
		if i >= 0 {
			line = v[:i]
		}
		if line == "" || (line[0] != ' ' && line[0] != '\t') || isBlankString(line) {
			return errors.New("deb822: value of field " + quote(n) + " has an invalid continuation line")
		}
	}
	return nil
}

// isBlankString is isBlank for a string.
func isBlankString(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b != ' ' && b != '\t' && b != '\r' {
			return false
		}
	}
	return true
}

// quote quotes s for an error message, shortening long names.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}

package deb822

import (
	"bytes"
	"fmt"
	"io"
)

// SyntaxError reports malformed deb822 input. Its message has the form
// "deb822: line 12: ...".
type SyntaxError struct {
	Line int    // 1-based line number of the offending line
	Msg  string // what is wrong with it
}

// Error implements the error interface.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("deb822: line %d: %s", e.Line, e.Msg)
}

// fieldSpan locates one field inside a paragraph's bytes. Offsets are
// relative to the start of the data handed to the core.
type fieldSpan struct {
	nameStart, nameEnd int
	valStart, valEnd   int
	// commented is set when comment lines sit between the field's first
	// line and its last continuation line; such a value must be rebuilt
	// without them.
	commented bool
}

// commentSpan locates comment lines (and, for a leading block, the blank
// lines that separate it from the first field). before is the index of the
// field the comment precedes.
type commentSpan struct {
	start, end int
	before     int
}

// status is the result of core.scan.
type status int

const (
	stDone status = iota // a paragraph is complete
	stEOF                // no more paragraphs
	stMore               // more input is needed
	stErr                // syntax error, see core.err
)

// core is the line classifier shared by Reader and Scanner. It is resumable:
// when the data ends in the middle of a paragraph and more input may follow,
// scan returns stMore and continues from where it stopped on the next call
// (the caller must hand in the same data, possibly extended).
type core struct {
	pos       int // offset of the next unscanned line
	line      int // line number of the line at pos
	start     int // offset of the paragraph's first line, -1 before it
	startLine int // line number of start
	end       int // end of the paragraph's last non-blank line (incl. newline)
	fields    []fieldSpan
	comments  []commentSpan
	// commentInField is set when a comment line was seen after the last
	// field line; a continuation line after it marks the field commented.
	commentInField bool
	err            error
}

// reset prepares c for a new paragraph whose data starts at line number line.
func (c *core) reset(line int) {
	c.pos = 0
	c.line = line
	c.start = -1
	c.end = 0
	c.fields = c.fields[:0]
	c.comments = c.comments[:0]
	c.commentInField = false
}

// isBlank reports whether the line consists only of spaces, tabs and
// carriage returns. An empty line is blank.
func isBlank(line []byte) bool {
	for _, b := range line {
		if b != ' ' && b != '\t' && b != '\r' {
			return false
		}
	}
	return true
}

// trimCR returns end moved back over carriage returns, not below lo.
func trimCR(data []byte, lo, end int) int {
	for end > lo && data[end-1] == '\r' {
		end--
	}
	return end
}

// scan classifies lines of data from c.pos on until a paragraph is complete.
// atEOF says that data holds all remaining input.
func (c *core) scan(data []byte, atEOF bool) status {
	for {
		pos := c.pos
		if pos >= len(data) {
			if !atEOF {
				return stMore
			}
			if c.start < 0 {
				return stEOF
			}
			if len(c.fields) == 0 {
				// Comments only, up to the end of input.
				c.comments = append(c.comments[:0], commentSpan{c.start, c.end, 0})
			}
			return stDone
		}
		var lineEnd, next int
		if i := bytes.IndexByte(data[pos:], '\n'); i >= 0 {
			lineEnd = pos + i
			next = lineEnd + 1
		} else {
			if !atEOF {
				return stMore
			}
			lineEnd = len(data)
			next = lineEnd
		}
		switch b := data[pos]; {
		case b == '\n' || ((b == ' ' || b == '\t' || b == '\r') && isBlank(data[pos:lineEnd])):
			if len(c.fields) > 0 {
				// End of paragraph; the blank line is consumed.
				c.pos = next
				c.line++
				return stDone
			}
			// Blank lines before a paragraph are skipped; blank lines
			// after a block of comments keep it attached to what follows.
		case b == '#':
			if c.start < 0 {
				c.start = pos
				c.startLine = c.line
			}
			if len(c.fields) > 0 {
				c.comments = append(c.comments, commentSpan{pos, next, len(c.fields)})
				c.commentInField = true
			}
			c.end = next
		case b == ' ' || b == '\t':
			if len(c.fields) == 0 {
				c.err = &SyntaxError{c.line, "continuation line before first field"}
				return stErr
			}
			f := &c.fields[len(c.fields)-1]
			f.valEnd = trimCR(data, pos, lineEnd)
			if c.commentInField {
				f.commented = true
			}
			c.end = next
		default:
			colon := bytes.IndexByte(data[pos:lineEnd], ':')
			if colon < 0 {
				c.err = &SyntaxError{c.line, "missing colon in field line"}
				return stErr
			}
			if colon == 0 {
				c.err = &SyntaxError{c.line, "empty field name"}
				return stErr
			}
			if c.start < 0 {
				c.start = pos
				c.startLine = c.line
			} else if len(c.fields) == 0 {
				// Leading comments (and blank lines after them).
				c.comments = append(c.comments[:0], commentSpan{c.start, pos, 0})
			}
			colon += pos
			vs := colon + 1
			if vs < lineEnd && (data[vs] == ' ' || data[vs] == '\t') {
				vs++
			}
			c.fields = append(c.fields, fieldSpan{
				nameStart: pos,
				nameEnd:   colon,
				valStart:  vs,
				valEnd:    trimCR(data, vs, lineEnd),
			})
			c.commentInField = false
			c.end = next
		}
		c.pos = next
		c.line++
	}
}

// value returns the value of f in data. It aliases data unless comment lines
// interrupt the value, in which case it is a copy without them.
func (c *core) value(data []byte, f *fieldSpan) []byte {
	v := data[f.valStart:f.valEnd]
	if !f.commented {
		return v
	}
	out := make([]byte, 0, len(v))
	at := f.valStart
	for _, cm := range c.comments {
		if cm.start < f.valStart || cm.start >= f.valEnd {
			continue
		}
		out = append(out, data[at:cm.start]...)
		at = cm.end
	}
	return append(out, data[at:f.valEnd]...)
}

// lower folds an ASCII letter to lower case.
func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + ('a' - 'A')
	}
	return b
}

// equalFold reports whether a and b are equal under ASCII case folding.
func equalFold(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x != y && lower(x) != lower(y) {
			return false
		}
	}
	return true
}

// equalFoldString is equalFold for two strings.
func equalFoldString(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x != y && lower(x) != lower(y) {
			return false
		}
	}
	return true
}

// Scanner walks the paragraphs of deb822 data held in memory without
// allocating per paragraph or per field. It accepts exactly what Reader
// accepts and reports the same fields and values.
//
// A typical loop:
//
//	s := deb822.NewScanner(data)
//	for s.Scan() {
//		name, size := s.Field("Filename"), s.Field("Size")
//		...
//	}
//	if err := s.Err(); err != nil { ... }
type Scanner struct {
	src  *Reader // the input, when read from an io.Reader
	data []byte
	off  int // offset in data of the current paragraph's base
	line int // line number of data[off]
	para []byte
	c    core
	err  error
	done bool
}

// NewScanner returns a Scanner over data. The Scanner never modifies data;
// slices it returns alias it.
func NewScanner(data []byte) *Scanner {
	return &Scanner{data: data, line: 1}
}

// NewStreamScanner returns a Scanner reading from r, buffered, holding one
// paragraph at a time: for indices too large to hold. The slices it
// returns are valid until the next call to Scan.
func NewStreamScanner(r io.Reader) *Scanner {
	return &Scanner{src: NewReader(r), line: 1}
}

// Scan advances to the next paragraph. It returns false at the end of the
// data, on a syntax error or, reading from an io.Reader, on a read error;
// Err tells them apart.
func (s *Scanner) Scan() bool {
	if s.done {
		return false
	}
	if s.src != nil {
		return s.scanStream()
	}
	s.c.reset(s.line)
	rest := s.data[s.off:]
	switch s.c.scan(rest, true) {
	case stDone:
		s.para = rest
		s.off += s.c.pos
		s.line = s.c.line
		return true
	case stErr:
		s.err = s.c.err
	}
	s.para = nil
	s.c.fields = s.c.fields[:0]
	s.done = true
	return false
}

func (s *Scanner) scanStream() bool {
	r := s.src
	s.c.reset(r.line)
	for {
		data := r.buf[r.lo:r.hi]
		switch s.c.scan(data, r.eof) {
		case stDone:
			s.para = data
			r.lo += s.c.pos
			r.line = s.c.line
			return true
		case stErr:
			s.err = s.c.err
		case stEOF:
		default:
			if s.err = r.fill(s.c.pos); s.err == nil {
				continue
			}
		}
		s.para = nil
		s.c.fields = s.c.fields[:0]
		s.done = true
		return false
	}
}

// Field returns the value of the first field of the current paragraph named
// name (ASCII case-insensitive), or nil if there is none. The value is as in
// Field.Value: continuation lines are included, the trailing newline is not.
// The slice aliases the data given to NewScanner, except in the rare case
// where comment lines interrupt a multi-line value: then it is a fresh copy
// without them. An empty value is a non-nil empty slice.
func (s *Scanner) Field(name string) []byte {
	for i := range s.c.fields {
		f := &s.c.fields[i]
		if equalFold(s.para[f.nameStart:f.nameEnd], name) {
			v := s.c.value(s.para, f)
			if v == nil {
				v = s.para[f.valStart:f.valStart]
			}
			return v
		}
	}
	return nil
}

// NumFields returns the number of fields in the current paragraph.
func (s *Scanner) NumFields() int { return len(s.c.fields) }

// FieldAt returns the name and value of the i-th field of the current
// paragraph, with the same aliasing rules as Field. It panics if i is out of
// range.
func (s *Scanner) FieldAt(i int) (name, value []byte) {
	f := &s.c.fields[i]
	return s.para[f.nameStart:f.nameEnd], s.c.value(s.para, f)
}

// Bytes returns the raw bytes of the current paragraph, from its first line
// (a leading comment block included) through the newline of its last line,
// without the blank line(s) that end it. The slice aliases the data.
func (s *Scanner) Bytes() []byte {
	if s.para == nil {
		return nil
	}
	return s.para[s.c.start:s.c.end]
}

// Line returns the 1-based line number of the first line of Bytes.
func (s *Scanner) Line() int { return s.c.startLine }

// Err returns the syntax (or read) error that stopped the Scanner, or nil
// if it stopped at the end of the data.
func (s *Scanner) Err() error { return s.err }

package deb822

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll parses data with Reader.
func readAll(data []byte) ([]*Paragraph, error) {
	r := NewReader(bytes.NewReader(data))
	var ps []*Paragraph
	for {
		p, err := r.Next()
		if err == io.EOF {
			return ps, nil
		}
		if err != nil {
			return ps, err
		}
		ps = append(ps, p)
	}
}

// fieldsOf returns the fields of ps, nil slices normalised to empty.
func fieldsOf(ps []*Paragraph) [][]Field {
	out := make([][]Field, len(ps))
	for i, p := range ps {
		out[i] = append([]Field{}, p.Fields...)
	}
	return out
}

// writeAll writes ps with Writer.
func writeAll(t testing.TB, ps []*Paragraph) []byte {
	t.Helper()
	var b bytes.Buffer
	w := NewWriter(&b)
	for _, p := range ps {
		if err := w.Write(p); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	return b.Bytes()
}

// refParse is an independent, simple line-by-line implementation of the
// syntax documented in the package comment. It returns the fields of every
// paragraph, or the line number and message of the first error.
func refParse(data string) ([][]Field, int, string) {
	var lines []string
	for len(data) > 0 {
		i := strings.IndexByte(data, '\n')
		if i < 0 {
			lines = append(lines, data)
			break
		}
		lines = append(lines, data[:i])
		data = data[i+1:]
	}
	var (
		out        [][]Field
		cur        []Field
		vals       [][]string // value lines of cur's fields
		hasComment bool
	)
	flush := func() {
		for i := range cur {
			cur[i].Value = strings.TrimRight(strings.Join(vals[i], "\n"), "\r")
		}
		out = append(out, cur)
		cur, vals, hasComment = []Field{}, nil, false
	}
	cur = []Field{}
	for n, l := range lines {
		ln := n + 1
		switch {
		case strings.Trim(l, " \t\r") == "":
			if len(cur) > 0 {
				flush()
			}
		case l[0] == '#':
			hasComment = true
		case l[0] == ' ' || l[0] == '\t':
			if len(cur) == 0 {
				return nil, ln, "continuation line before first field"
			}
			vals[len(vals)-1] = append(vals[len(vals)-1], l)
		default:
			name, v, ok := strings.Cut(l, ":")
			if !ok {
				return nil, ln, "missing colon in field line"
			}
			if name == "" {
				return nil, ln, "empty field name"
			}
			if v != "" && (v[0] == ' ' || v[0] == '\t') {
				v = v[1:]
			}
			cur = append(cur, Field{Name: name})
			vals = append(vals, []string{v})
		}
	}
	if len(cur) > 0 || hasComment {
		flush()
	}
	return out, 0, ""
}

func TestReaderFields(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want [][]Field
	}{
		{"empty", "", nil},
		{"only blank lines", "\n \n\t\n\r\n", nil},
		{"one field", "A: b\n", [][]Field{{{"A", "b"}}}},
		{"no final newline", "A: b", [][]Field{{{"A", "b"}}}},
		{"no space after colon", "A:b\n", [][]Field{{{"A", "b"}}}},
		{"tab after colon", "A:\tb\n", [][]Field{{{"A", "b"}}}},
		{"two spaces keep one", "A:  b\n", [][]Field{{{"A", " b"}}}},
		{"empty value", "A:\nB: \n", [][]Field{{{"A", ""}, {"B", ""}}}},
		{"trailing space kept", "A: b  \n", [][]Field{{{"A", "b  "}}}},
		{"colon in value", "A: b: c\n", [][]Field{{{"A", "b: c"}}}},
		{"multi-line", "Description: first\n second line\n .\n third\n",
			[][]Field{{{"Description", "first\n second line\n .\n third"}}}},
		{"value on next line", "SHA256:\n abc 1 f\n def 2 g\n",
			[][]Field{{{"SHA256", "\n abc 1 f\n def 2 g"}}}},
		{"tab continuation", "A: b\n\tc\n", [][]Field{{{"A", "b\n\tc"}}}},
		{"two paragraphs", "A: 1\n\nA: 2\n", [][]Field{{{"A", "1"}}, {{"A", "2"}}}},
		{"many blank lines", "\n\nA: 1\n\n \n\t\n\nA: 2\n\n\n", [][]Field{{{"A", "1"}}, {{"A", "2"}}}},
		{"crlf", "A: 1\r\nB: 2\r\n c\r\n\r\nA: 3\r\n", [][]Field{{{"A", "1"}, {"B", "2\r\n c"}}, {{"A", "3"}}}},
		{"cr before eof", "A: 1\r", [][]Field{{{"A", "1"}}}},
		{"comments", "# head\nA: 1\n# mid\nB: 2\n# tail\n", [][]Field{{{"A", "1"}, {"B", "2"}}}},
		{"comment inside value", "A: 1\n# c\n 2\n", [][]Field{{{"A", "1\n 2"}}}},
		{"header comment block", "# header\n\n\nA: 1\n", [][]Field{{{"A", "1"}}}},
		{"trailing comment block", "A: 1\n\n# end\n", [][]Field{{{"A", "1"}}, {}}},
		{"comments only", "# a\n\n# b\n", [][]Field{{}}},
		{"duplicate field", "A: 1\na: 2\n", [][]Field{{{"A", "1"}, {"a", "2"}}}},
		{"odd name", "X-Foo Bar: 1\n", [][]Field{{{"X-Foo Bar", "1"}}}},
		{"whitespace-only continuation ends paragraph", "A: 1\n \nB: 2\n", [][]Field{{{"A", "1"}}, {{"B", "2"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := readAll([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got := fieldsOf(ps)
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
			ref, _, msg := refParse(tt.in)
			if msg != "" || (len(ref) > 0 || len(got) > 0) && !reflect.DeepEqual(ref, got) {
				t.Errorf("reference parser disagrees: %q %s", ref, msg)
			}
		})
	}
}

func TestGetLookup(t *testing.T) {
	ps, err := readAll([]byte("Package: foo\nVersion: 1.0\nEmpty:\nversion: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := ps[0]
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"Package", "foo", true},
		{"package", "foo", true},
		{"PACKAGE", "foo", true},
		{"Version", "1.0", true},
		{"Empty", "", true},
		{"Missing", "", false},
		{"Packag", "", false},
	}
	for _, tt := range tests {
		v, ok := p.Lookup(tt.name)
		if v != tt.want || ok != tt.ok {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tt.name, v, ok, tt.want, tt.ok)
		}
		if g := p.Get(tt.name); g != tt.want {
			t.Errorf("Get(%q) = %q; want %q", tt.name, g, tt.want)
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
		msg      string
	}{
		{"no colon", "A: 1\nB 2\n", 2, "missing colon in field line"},
		{"no colon later paragraph", "A: 1\n\n\nB: 2\nnope\n", 5, "missing colon in field line"},
		{"continuation first", " x\nA: 1\n", 1, "continuation line before first field"},
		{"continuation after blank", "A: 1\n\n\tx\n", 3, "continuation line before first field"},
		{"continuation after comment", "# c\n x\n", 2, "continuation line before first field"},
		{"empty name", "A: 1\n: 2\n", 2, "empty field name"},
		{"pgp armor", "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n", 1, "missing colon in field line"},
		{"crlf line count", "A: 1\r\n\r\nB\r\n", 3, "missing colon in field line"},
		{"no colon at eof", "A: 1\nB", 2, "missing colon in field line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll([]byte(tt.in))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *SyntaxError", err)
			}
			want := fmt.Sprintf("deb822: line %d: %s", tt.line, tt.msg)
			if err.Error() != want {
				t.Errorf("err = %q, want %q", err, want)
			}
			s := NewScanner([]byte(tt.in))
			for s.Scan() {
			}
			if s.Err() == nil || s.Err().Error() != want {
				t.Errorf("Scanner err = %v, want %q", s.Err(), want)
			}
			if _, line, msg := refParse(tt.in); line != tt.line || msg != tt.msg {
				t.Errorf("reference: line %d %q", line, msg)
			}
		})
	}
}

func TestErrorSticky(t *testing.T) {
	r := NewReader(strings.NewReader("A: 1\n\nbad\n\nB: 2\n"))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, err1 := r.Next()
	_, err2 := r.Next()
	if err1 == nil || err1 != err2 {
		t.Errorf("errors %v, %v; want the same syntax error twice", err1, err2)
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name, in, out string // out "" means identical to in
	}{
		{"canonical", "A: 1\nB: 2\n\nC: 3\n\n", ""},
		{"multi-line", "Description: x\n line\n .\n\tmore\n\n", ""},
		{"release checksums", "SHA256:\n abc 1 main/Packages\n def 2 main/Sources\n\n", ""},
		{"odd spacing", "A:1\nB:  2\nC:\t3\nD: 4  \nE:\n\n", ""},
		{"comments", "# head\nA: 1\n# mid\n 2\nB: 3\n# tail\n\n", ""},
		{"header block", "# header\n\n\nA: 1\n\n", ""},
		{"trailing comments", "A: 1\n\n# end\n\n", ""},
		{"crlf", "A: 1\r\nB: 2\r\n c\r\n\r\nD: 4\r\n\r\n", ""},
		{"missing final blank line", "A: 1\n\nB: 2\n", "A: 1\n\nB: 2\n\n"},
		{"missing final newline", "A: 1\n\nB: 2", "A: 1\n\nB: 2\n\n"},
		{"many blank lines", "\n\nA: 1\n\n\n \n\t\nB: 2\n\n\n", "A: 1\n\nB: 2\n\n"},
		{"whitespace blank line", "A: 1\n \nB: 2\n\n", "A: 1\n\nB: 2\n\n"},
		{"crlf without final newline", "A: 1\r\n\r\nB: 2", "A: 1\r\n\r\nB: 2\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.out
			if want == "" {
				want = tt.in
			}
			ps, err := readAll([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got := string(writeAll(t, ps))
			if got != want {
				t.Errorf("got %q\nwant %q", got, want)
			}
			for _, p := range ps {
				if p.Raw() == nil {
					t.Errorf("Raw() = nil for unmodified paragraph")
				}
			}
			// Rebuilt paragraphs (no raw bytes) must read back the same.
			checkRebuild(t, ps)
		})
	}
}

// checkRebuild writes copies of ps that have no raw bytes and checks that
// they read back with the same fields.
func checkRebuild(t testing.TB, ps []*Paragraph) {
	t.Helper()
	var built []*Paragraph
	for _, p := range ps {
		if len(p.Fields) == 0 {
			continue
		}
		built = append(built, &Paragraph{Fields: append([]Field{}, p.Fields...)})
	}
	out := writeAll(t, built)
	back, err := readAll(out)
	if err != nil {
		t.Fatalf("reparse of rebuilt output %q: %v", out, err)
	}
	if !reflect.DeepEqual(fieldsOf(back), fieldsOf(built)) {
		t.Fatalf("rebuilt output %q reads back as %q, want %q", out, fieldsOf(back), fieldsOf(built))
	}
}

func TestModify(t *testing.T) {
	const in = "# pin for foo\nPackage: foo\nPin: version 1.0\n# why\nPin-Priority: 1001\nExplanation: freeze exception\n\n"
	tests := []struct {
		name string
		edit func(p *Paragraph)
		want string
	}{
		{"unchanged", func(p *Paragraph) {}, in},
		{"set same value keeps raw", func(p *Paragraph) { p.Set("pin", "version 1.0") }, in},
		{"set in place", func(p *Paragraph) { p.Set("pin-priority", "-1") },
			"# pin for foo\nPackage: foo\nPin: version 1.0\n# why\nPin-Priority: -1\nExplanation: freeze exception\n\n"},
		{"append", func(p *Paragraph) { p.Set("X-Note", "a\n b") },
			"# pin for foo\nPackage: foo\nPin: version 1.0\n# why\nPin-Priority: 1001\nExplanation: freeze exception\nX-Note: a\n b\n\n"},
		{"delete", func(p *Paragraph) { p.Del("PIN") },
			"# pin for foo\nPackage: foo\n# why\nPin-Priority: 1001\nExplanation: freeze exception\n\n"},
		{"delete first", func(p *Paragraph) { p.Del("Package") },
			"# pin for foo\nPin: version 1.0\n# why\nPin-Priority: 1001\nExplanation: freeze exception\n\n"},
		{"delete missing keeps raw", func(p *Paragraph) { p.Del("Nope") }, in},
		{"set and restore keeps raw", func(p *Paragraph) { p.Set("Pin", "x"); p.Set("Pin", "version 1.0") }, in},
		{"swap values", func(p *Paragraph) { p.Fields[0].Value, p.Fields[1].Value = p.Fields[1].Value, p.Fields[0].Value },
			"# pin for foo\nPackage: version 1.0\nPin: foo\n# why\nPin-Priority: 1001\nExplanation: freeze exception\n\n"},
		{"delete then append", func(p *Paragraph) { p.Del("Explanation"); p.Set("Explanation", "thawed") },
			"# pin for foo\nPackage: foo\nPin: version 1.0\n# why\nPin-Priority: 1001\nExplanation: thawed\n\n"},
		{"edit Fields directly", func(p *Paragraph) { p.Fields[0].Value = "bar" },
			"# pin for foo\nPackage: bar\nPin: version 1.0\n# why\nPin-Priority: 1001\nExplanation: freeze exception\n\n"},
		{"empty value", func(p *Paragraph) { p.Set("Pin", "") },
			"# pin for foo\nPackage: foo\nPin:\n# why\nPin-Priority: 1001\nExplanation: freeze exception\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := readAll([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			tt.edit(ps[0])
			if got := string(writeAll(t, ps)); got != tt.want {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
			if (ps[0].Raw() != nil) != (tt.want == in) {
				t.Errorf("Raw() = %q", ps[0].Raw())
			}
		})
	}
}

func TestSetDuplicates(t *testing.T) {
	ps, err := readAll([]byte("A: 1\nB: 2\na: 3\nC: 4\nA: 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := ps[0]
	p.Set("a", "x")
	want := []Field{{"A", "x"}, {"B", "2"}, {"C", "4"}}
	if !reflect.DeepEqual(p.Fields, want) {
		t.Errorf("Fields = %q, want %q", p.Fields, want)
	}
	if p.Raw() != nil {
		t.Error("Raw() != nil after modification")
	}
}

func TestBuiltParagraph(t *testing.T) {
	var p Paragraph
	p.Set("Origin", "Debian")
	p.Set("Label", "Debian")
	p.Set("SHA256", "\n abc 12 main/binary-amd64/Packages")
	p.Set("origin", "aptsnap")
	if p.Raw() != nil {
		t.Error("Raw() of built paragraph != nil")
	}
	if p.Line() != 0 {
		t.Error("Line() of built paragraph != 0")
	}
	var b bytes.Buffer
	if err := NewWriter(&b).Write(&p); err != nil {
		t.Fatal(err)
	}
	const want = "Origin: aptsnap\nLabel: Debian\nSHA256:\n abc 12 main/binary-amd64/Packages\n\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	if err := NewWriter(&b).Write(&Paragraph{}); err != nil || b.Len() != 0 {
		t.Errorf("empty paragraph: %v, %q", err, b.String())
	}
}

func TestWriteInvalid(t *testing.T) {
	tests := []Field{
		{"", "x"},
		{"A:B", "x"},
		{"A\nB", "x"},
		{" A", "x"},
		{"\tA", "x"},
		{"#A", "x"},
		{"A", "x\ny"},
		{"A", "x\n"},
		{"A", "x\n\n y"},
		{"A", "x\n \n y"},
		{"A", "x\r"},
		{"A", "x\n y\r"},
	}
	for _, f := range tests {
		var b bytes.Buffer
		err := NewWriter(&b).Write(&Paragraph{Fields: []Field{{"Ok", "1"}, f}})
		if err == nil {
			t.Errorf("Write(%q) succeeded: %q", f, b.String())
		}
		if b.Len() != 0 {
			t.Errorf("Write(%q) wrote %q", f, b.String())
		}
	}
	// Values that look odd but are fine.
	for _, f := range []Field{{"A", "\n x"}, {"A", " x"}, {"A", "x\r\n y"}, {"A", "\r\n y"}, {"\rA", "x"}, {"A", "\t"}} {
		var b bytes.Buffer
		p := &Paragraph{Fields: []Field{f}}
		if err := NewWriter(&b).Write(p); err != nil {
			t.Errorf("Write(%q): %v", f, err)
			continue
		}
		checkRebuild(t, []*Paragraph{p})
	}
}

func TestLine(t *testing.T) {
	in := "\n\nA: 1\n\n# c\n\nB: 2\n continued\n\n\nC: 3"
	ps, err := readAll([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []int{3, 5, 11}
	s := NewScanner([]byte(in))
	for i, p := range ps {
		if p.Line() != want[i] {
			t.Errorf("paragraph %d: Line() = %d, want %d", i, p.Line(), want[i])
		}
		if !s.Scan() || s.Line() != want[i] {
			t.Errorf("paragraph %d: Scanner.Line() = %d, want %d", i, s.Line(), want[i])
		}
	}
}

// errReader returns data, then err.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(&errReader{data: []byte("A: 1\n\nB: 2\n"), err: boom})
	p, err := r.Next()
	if err != nil || p.Get("A") != "1" {
		t.Fatalf("first paragraph: %v, %v", p, err)
	}
	// The second paragraph is not known to be complete: the error wins.
	if _, err := r.Next(); err != boom {
		t.Fatalf("err = %v, want boom", err)
	}
}

func TestSmallReads(t *testing.T) {
	data := genPackages(200, 1)
	want, err := readAll(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, mk := range []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.HalfReader, iotest.DataErrReader} {
		r := NewReader(mk(bytes.NewReader(data)))
		var got []*Paragraph
		for {
			p, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, p)
		}
		if !reflect.DeepEqual(fieldsOf(got), fieldsOf(want)) {
			t.Fatal("small reads give different paragraphs")
		}
		if !bytes.Equal(writeAll(t, got), data) {
			t.Fatal("small reads: round trip differs")
		}
	}
}

func TestLongLine(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	in := "A: " + long + "\n continued " + long + "\n\nB: 2\n"
	r := NewReader(iotest.HalfReader(strings.NewReader(in)))
	p, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if p.Get("A") != long+"\n continued "+long {
		t.Error("long value mangled")
	}
	if p, err = r.Next(); err != nil || p.Get("B") != "2" {
		t.Errorf("second paragraph: %v %v", p, err)
	}
}

// checkScanner checks that Scanner reports the same paragraphs, fields,
// values and error as Reader.
func checkScanner(t testing.TB, data []byte) {
	t.Helper()
	checkScannerOn(t, data, NewScanner(data))
	// Streaming, whole and a byte at a time, it reads the same.
	checkScannerOn(t, data, NewStreamScanner(bytes.NewReader(data)))
	checkScannerOn(t, data, NewStreamScanner(iotest.OneByteReader(bytes.NewReader(data))))
}

func checkScannerOn(t testing.TB, data []byte, s *Scanner) {
	t.Helper()
	ps, rerr := readAll(data)
	i := 0
	for s.Scan() {
		if i >= len(ps) {
			t.Fatalf("Scanner found more paragraphs than Reader (%d)", len(ps))
		}
		p := ps[i]
		if s.NumFields() != len(p.Fields) {
			t.Fatalf("paragraph %d: %d fields, Reader has %d", i, s.NumFields(), len(p.Fields))
		}
		for j, f := range p.Fields {
			name, value := s.FieldAt(j)
			if string(name) != f.Name || string(value) != f.Value {
				t.Fatalf("paragraph %d field %d: %q: %q, Reader has %q", i, j, name, value, f)
			}
			want, _ := p.Lookup(f.Name)
			if got := s.Field(asciiUpper(f.Name)); got == nil || string(got) != want {
				t.Fatalf("paragraph %d: Field(%q) = %q, want %q", i, f.Name, got, want)
			}
		}
		if s.Field("\x00no such field") != nil {
			t.Fatal("Field of missing name != nil")
		}
		if string(s.Bytes()) != string(p.Raw()) {
			t.Fatalf("paragraph %d: Bytes() = %q, Raw() = %q", i, s.Bytes(), p.Raw())
		}
		if s.Line() != p.Line() {
			t.Fatalf("paragraph %d: Line() = %d, Reader says %d", i, s.Line(), p.Line())
		}
		i++
	}
	if i != len(ps) {
		t.Fatalf("Scanner found %d paragraphs, Reader %d", i, len(ps))
	}
	if fmt.Sprint(s.Err()) != fmt.Sprint(rerr) {
		t.Fatalf("Scanner error %v, Reader error %v", s.Err(), rerr)
	}
	if s.Scan() {
		t.Fatal("Scan after end returned true")
	}
}

// genInput makes random deb822-ish input from a set of line shapes.
func genInput(rng *rand.Rand) []byte {
	shapes := []string{
		"Package: foo", "Version: 1.0-1", "Description: short", "a:b", "A:", "A: ",
		"A:  two", "A:\tx", "Trailing: x  ", "SHA256:", " abc 12 main/Packages",
		" continued", "\tcontinued", " .", " x\r", "\t\ty", "# comment", "#", "",
		"", "", " ", "\t", "\r", " \r", "X-Dup: 1", "x-dup: 2", "Name With Space: v",
		"A: b\r\r", "A:\r", "A: \r", "\rB: c", "A: é ü", "A: :::",
	}
	bad := []string{"nocolon", ": empty name", "-----BEGIN PGP"}
	var b []byte
	n := rng.IntN(30)
	crlf := rng.IntN(4) == 0
	for i := 0; i < n; i++ {
		var l string
		if rng.IntN(60) == 0 {
			l = bad[rng.IntN(len(bad))]
		} else {
			l = shapes[rng.IntN(len(shapes))]
		}
		b = append(b, l...)
		if crlf || rng.IntN(20) == 0 {
			b = append(b, '\r')
		}
		b = append(b, '\n')
	}
	if len(b) > 0 && rng.IntN(4) == 0 {
		b = b[:len(b)-1]
	}
	return b
}

func TestProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		data := genInput(rng)
		checkAgainstReference(t, data)
		checkScanner(t, data)
		checkWriteReparse(t, data)
		checkSmallReads(t, data)
	}
}

// checkSmallReads checks that reading data a byte at a time (which makes
// the Reader resume mid-line and mid-paragraph) gives what one read gives.
func checkSmallReads(t testing.TB, data []byte) {
	t.Helper()
	want, werr := readAll(data)
	r := NewReader(iotest.OneByteReader(bytes.NewReader(data)))
	var got []*Paragraph
	var err error
	for {
		var p *Paragraph
		if p, err = r.Next(); err != nil {
			break
		}
		got = append(got, p)
	}
	if err == io.EOF {
		err = nil
	}
	if fmt.Sprint(err) != fmt.Sprint(werr) {
		t.Fatalf("%q: byte-wise read error %v, want %v", data, err, werr)
	}
	if len(got) != len(want) {
		t.Fatalf("%q: byte-wise read %d paragraphs, want %d", data, len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i].Fields, want[i].Fields) || got[i].raw != want[i].raw ||
			got[i].Line() != want[i].Line() || !reflect.DeepEqual(got[i].comments, want[i].comments) {
			t.Fatalf("%q: byte-wise paragraph %d differs", data, i)
		}
	}
}

// checkAgainstReference compares Reader with refParse.
func checkAgainstReference(t testing.TB, data []byte) {
	t.Helper()
	ps, err := readAll(data)
	ref, line, msg := refParse(string(data))
	if msg != "" {
		want := fmt.Sprintf("deb822: line %d: %s", line, msg)
		if err == nil || err.Error() != want {
			t.Fatalf("%q: err = %v, reference %q", data, err, want)
		}
		return
	}
	if err != nil {
		t.Fatalf("%q: %v, reference accepts it", data, err)
	}
	got := fieldsOf(ps)
	if len(got) != len(ref) || (len(got) > 0 && !reflect.DeepEqual(got, ref)) {
		t.Fatalf("%q:\n got %q\nwant %q", data, got, ref)
	}
}

// checkWriteReparse checks that what Reader accepts is written so that it
// reads back with the same fields, both verbatim and rebuilt.
func checkWriteReparse(t testing.TB, data []byte) {
	t.Helper()
	ps, err := readAll(data)
	if err != nil {
		return
	}
	out := writeAll(t, ps)
	back, err := readAll(out)
	if err != nil {
		t.Fatalf("%q: written as %q which fails: %v", data, out, err)
	}
	if !reflect.DeepEqual(fieldsOf(back), fieldsOf(ps)) {
		t.Fatalf("%q: written as %q which reads back as %q, want %q", data, out, fieldsOf(back), fieldsOf(ps))
	}
	if again := writeAll(t, back); !bytes.Equal(again, out) {
		t.Fatalf("%q: second write %q differs from first %q", data, again, out)
	}
	checkRebuild(t, ps)
}

// asciiUpper upper-cases ASCII letters only.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

package aptprefs

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// A realistic file: comments between paragraphs and between fields,
// several blank lines, trailing whitespace, tabs, a continuation line.
const tricky = `# Preferences for the frozen branch.
# Keep this file sorted by hand.

Package: *
Pin: origin deb.example.org
Pin-Priority: 500   

# between paragraphs


Explanation: pin the toolchain
Package: gcc-12 cpp-12
# a comment between fields
Pin: release o=Debian,n=bookworm
Pin-Priority:	990
Explanation: second explanation
 continued here

Package: /^linux-image-/
Pin: version 6.1*
Pin-Priority: -10
  # indented comment
`

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		entries int
	}{
		{"empty", "", 0},
		{"only newline", "\n", 0},
		{"only comments", "# a\n#b\n\n   \n", 0},
		{"comment-only paragraph", "# a\n\n# b\nPackage: x\nPin: origin h\nPin-Priority: 1\n", 1},
		{"tricky", tricky, 3},
		{"no final newline", "Package: a\nPin: origin h\nPin-Priority: 5", 1},
		{"no final newline, trailing spaces", "Package: a\nPin: origin h\nPin-Priority: 5 \t ", 1},
		{"CRLF", "# c\r\nPackage: a\r\nPin: origin h\r\nPin-Priority: 5\r\n\r\nPackage: *\r\nPin: release a=stable\r\nPin-Priority: 100\r\n", 2},
		{"CRLF no final newline", "Package: a\r\nPin: origin h\r\nPin-Priority: 5", 1},
		{"mixed endings", "Package: a\r\nPin: origin h\nPin-Priority: 5\r\n\n\n", 1},
		{"tabs and case", "package:\ta\nPIN:\torigin\th\npin-priority:\t-1\t\n", 1},
		{"whitespace-only separator", "Package: a\nPin: origin h\nPin-Priority: 5\n \t \nPackage: b\nPin: origin h\nPin-Priority: 6\n", 2},
		{"leading blank lines", "\n\n\nPackage: a\nPin: origin h\nPin-Priority: 5\n", 1},
		{"unknown field kept", "Package: a\nX-Note: hi\nPin: origin h\nPin-Priority: 5\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(f.Bytes()); got != tt.in {
				t.Errorf("Bytes() = %q, want %q", got, tt.in)
			}
			if n := len(f.Entries()); n != tt.entries {
				t.Errorf("%d entries, want %d", n, tt.entries)
			}
		})
	}
}

func TestEntries(t *testing.T) {
	f, err := Parse([]byte(tricky))
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Package: "*", Pin: "origin deb.example.org", Priority: 500, Line: 4},
		{
			Package: "gcc-12 cpp-12", Pin: "release o=Debian,n=bookworm", Priority: 990,
			Explanations: []string{"pin the toolchain", "second explanation\ncontinued here"},
			Line:         11,
		},
		{Package: "/^linux-image-/", Pin: "version 6.1*", Priority: -10, Line: 19},
	}
	if got := f.Entries(); !reflect.DeepEqual(got, want) {
		t.Errorf("Entries() =\n%#v\nwant\n%#v", got, want)
	}

	f, err = Parse([]byte("Explanation: Freeze Exception for #1234\nPackage: a\nPin: origin h\nPin-Priority: 999\n\n" +
		"Explanation: freeze exception\nPackage: b\nPin: origin h\nPin-Priority: -1\n\n" +
		"Explanation: not a freeze-exception\nPackage: c\nPin: origin h\nPin-Priority: 100\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range f.Exceptions() {
		got = append(got, e.Package)
	}
	if !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("Exceptions() packages = %v, want [a b]", got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line int
		msg  string
	}{
		{"no priority", "# c\nPackage: a\nPin: origin h\n", 2, "no Pin-Priority"},
		{"no priority, second paragraph", "Package: a\nPin: origin h\nPin-Priority: 1\n\nPackage: b\nPin: origin h\n", 5, "no Pin-Priority"},
		{"priority not an integer", "Package: a\nPin: origin h\nPin-Priority: high\n", 3, "not an integer"},
		{"priority with garbage", "Package: a\nPin: origin h\nPin-Priority: 500 # default\n", 3, "not an integer"},
		{"priority zero", "Package: a\nPin: origin h\nPin-Priority: 0\n", 3, "outside"},
		{"priority out of range", "Package: a\nPin: origin h\nPin-Priority: 40000\n", 3, "outside"},
		{"priority continued", "Package: a\nPin: origin h\nPin-Priority: 1\n 2\n", 3, "continues"},
		{"no package", "Pin: origin h\nPin-Priority: 1\n", 1, "no Package"},
		{"empty package", "Package:\nPin: origin h\nPin-Priority: 1\n", 1, "empty Package"},
		{"no pin", "Package: a\nPin-Priority: 1\n", 1, "no Pin field"},
		{"not a field", "Package: a\nPin origin h\nPin-Priority: 1\n", 2, "expected"},
		{"continuation first", " Package: a\n", 1, "continuation"},
		{"repeated field", "Package: a\nPin: origin h\nPin: origin i\nPin-Priority: 1\n", 3, "repeated"},
		{"space in field name", "Package: a\nPin Priority: 1\n", 2, "bad field name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse error = %v, want a *SyntaxError", err)
			}
			if se.Line != tt.line || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("Parse error = %v, want line %d and %q", err, tt.line, tt.msg)
			}
		})
	}
}

func TestGrantException(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		pkg, host string
		changed   bool
		want      string
	}{
		{
			name: "empty file", in: "", pkg: "hello", host: "deb.example.org", changed: true,
			want: "Explanation: freeze exception\nPackage: hello\nPin: origin deb.example.org\nPin-Priority: 999\n",
		},
		{
			name: "blank-only file", in: "\n\n", pkg: "hello", host: "deb.example.org", changed: true,
			want: "\n\nExplanation: freeze exception\nPackage: hello\nPin: origin deb.example.org\nPin-Priority: 999\n",
		},
		{
			name: "after other entries",
			in:   "# pins\nPackage: *\nPin: origin deb.example.org\nPin-Priority: 500\n",
			pkg:  "hello", host: "deb.example.org", changed: true,
			want: "# pins\nPackage: *\nPin: origin deb.example.org\nPin-Priority: 500\n" +
				"\n" +
				"Explanation: freeze exception\nPackage: hello\nPin: origin deb.example.org\nPin-Priority: 999\n",
		},
		{
			name: "no final newline",
			in:   "Package: *\nPin: origin a\nPin-Priority: 500",
			pkg:  "hello", host: "a", changed: true,
			want: "Package: *\nPin: origin a\nPin-Priority: 500\n\nExplanation: freeze exception\nPackage: hello\nPin: origin a\nPin-Priority: 999\n",
		},
		{
			name: "ends with a blank line",
			in:   "Package: *\nPin: origin a\nPin-Priority: 500\n\n",
			pkg:  "hello", host: "a", changed: true,
			want: "Package: *\nPin: origin a\nPin-Priority: 500\n\nExplanation: freeze exception\nPackage: hello\nPin: origin a\nPin-Priority: 999\n",
		},
		{
			name: "ends with a whitespace line without newline",
			in:   "Package: *\nPin: origin a\nPin-Priority: 500\n  ",
			pkg:  "hello", host: "a", changed: true,
			want: "Package: *\nPin: origin a\nPin-Priority: 500\n  \nExplanation: freeze exception\nPackage: hello\nPin: origin a\nPin-Priority: 999\n",
		},
		{
			name: "ends with a comment",
			in:   "Package: *\nPin: origin a\nPin-Priority: 500\n# end",
			pkg:  "hello", host: "a", changed: true,
			want: "Package: *\nPin: origin a\nPin-Priority: 500\n# end\n\nExplanation: freeze exception\nPackage: hello\nPin: origin a\nPin-Priority: 999\n",
		},
		{
			name: "CRLF file",
			in:   "Package: *\r\nPin: origin a\r\nPin-Priority: 500\r\n",
			pkg:  "hello", host: "a", changed: true,
			want: "Package: *\r\nPin: origin a\r\nPin-Priority: 500\r\n\r\nExplanation: freeze exception\r\nPackage: hello\r\nPin: origin a\r\nPin-Priority: 999\r\n",
		},
		{
			name: "local origin", in: "", pkg: "hello", host: "", changed: true,
			want: "Explanation: freeze exception\nPackage: hello\nPin: origin \"\"\nPin-Priority: 999\n",
		},
		{
			name: "re-grant after thaw edits the priority only",
			in:   "explanation: Freeze exception (bug #1)\npackage: hello\npin: origin \"deb.example.org\"  \npin-priority:  -1  \r\n# trailer\n",
			pkg:  "hello", host: "deb.example.org", changed: true,
			want: "explanation: Freeze exception (bug #1)\npackage: hello\npin: origin \"deb.example.org\"  \npin-priority:  999  \r\n# trailer\n",
		},
		{
			name: "already granted",
			in:   "Explanation: freeze exception\nPackage: hello\nPin: origin a\nPin-Priority: 999\n",
			pkg:  "hello", host: "a", changed: false,
			want: "Explanation: freeze exception\nPackage: hello\nPin: origin a\nPin-Priority: 999\n",
		},
		{
			name: "same package other origin, and not an exception: appended",
			in: "Explanation: freeze exception\nPackage: hello\nPin: origin b\nPin-Priority: -1\n\n" +
				"Package: hello\nPin: origin a\nPin-Priority: 100\n",
			pkg: "hello", host: "a", changed: true,
			want: "Explanation: freeze exception\nPackage: hello\nPin: origin b\nPin-Priority: -1\n\n" +
				"Package: hello\nPin: origin a\nPin-Priority: 100\n\n" +
				"Explanation: freeze exception\nPackage: hello\nPin: origin a\nPin-Priority: 999\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := f.GrantException(tt.pkg, tt.host); got != tt.changed {
				t.Errorf("GrantException = %v, want %v", got, tt.changed)
			}
			if got := string(f.Bytes()); got != tt.want {
				t.Errorf("Bytes() =\n%q\nwant\n%q", got, tt.want)
			}
			g, err := Parse(f.Bytes())
			if err != nil {
				t.Fatalf("re-parse: %v", err)
			}
			if !reflect.DeepEqual(g.Entries(), f.Entries()) {
				t.Errorf("re-parsed entries %#v, in memory %#v", g.Entries(), f.Entries())
			}
		})
	}
}

func TestGrantThawGrant(t *testing.T) {
	in := "# freeze exceptions\nPackage: *\nPin: origin deb.example.org\nPin-Priority: 500\n"
	f, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	granted := in + "\nExplanation: freeze exception\nPackage: hello\nPin: origin deb.example.org\nPin-Priority: 999\n"
	thawed := in + "\nExplanation: freeze exception\nPackage: hello\nPin: origin deb.example.org\nPin-Priority: -1\n"

	steps := []struct {
		op   string
		n    int // changed (0/1) for grant, count for thaw
		want string
	}{
		{"grant", 1, granted},
		{"thaw", 1, thawed},
		{"thaw", 0, thawed},
		{"grant", 1, granted},
		{"grant", 0, granted},
	}
	for i, s := range steps {
		var n int
		switch s.op {
		case "grant":
			if f.GrantException("hello", "deb.example.org") {
				n = 1
			}
		case "thaw":
			n = f.ThawExceptions()
		}
		if n != s.n {
			t.Errorf("step %d (%s): %d, want %d", i, s.op, n, s.n)
		}
		if got := string(f.Bytes()); got != s.want {
			t.Errorf("step %d (%s): Bytes() =\n%q\nwant\n%q", i, s.op, got, s.want)
		}
		if len(f.Exceptions()) != 1 {
			t.Errorf("step %d (%s): %d exceptions, want 1", i, s.op, len(f.Exceptions()))
		}
	}
}

func TestThawExceptions(t *testing.T) {
	in := "# Release pins\r\n" +
		"Package: *\r\n" +
		"Pin: origin deb.example.org\r\n" +
		"Pin-Priority: 500\r\n" +
		"\r\n" +
		"Explanation: freeze exception\r\n" +
		"Package: hello\r\n" +
		"Pin: origin snap.example.org\r\n" +
		"Pin-Priority: 999 \r\n" +
		"\r\n" +
		"# toolchain, not an exception\r\n" +
		"Package: gcc-12\r\n" +
		"Explanation: toolchain\r\n" +
		"Pin: origin snap.example.org\r\n" +
		"Pin-Priority: 999\r\n" +
		"\r\n" +
		"Package: curl libcurl4\r\n" +
		"Pin: origin snap.example.org\r\n" +
		"Explanation: FREEZE EXCEPTION, CVE-2026-0001\r\n" +
		"Pin-Priority:\t1001"
	want := "# Release pins\r\n" +
		"Package: *\r\n" +
		"Pin: origin deb.example.org\r\n" +
		"Pin-Priority: 500\r\n" +
		"\r\n" +
		"Explanation: freeze exception\r\n" +
		"Package: hello\r\n" +
		"Pin: origin snap.example.org\r\n" +
		"Pin-Priority: -1 \r\n" +
		"\r\n" +
		"# toolchain, not an exception\r\n" +
		"Package: gcc-12\r\n" +
		"Explanation: toolchain\r\n" +
		"Pin: origin snap.example.org\r\n" +
		"Pin-Priority: 999\r\n" +
		"\r\n" +
		"Package: curl libcurl4\r\n" +
		"Pin: origin snap.example.org\r\n" +
		"Explanation: FREEZE EXCEPTION, CVE-2026-0001\r\n" +
		"Pin-Priority:\t-1"
	f, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if n := f.ThawExceptions(); n != 2 {
		t.Errorf("ThawExceptions = %d, want 2", n)
	}
	if got := string(f.Bytes()); got != want {
		t.Errorf("Bytes() =\n%q\nwant\n%q", got, want)
	}
	if got := f.OriginPriority("gcc-12", "snap.example.org"); got != 999 {
		t.Errorf("gcc-12 priority %d after thaw, want 999", got)
	}
	if got := f.OriginPriority("libcurl4", "snap.example.org"); got != -1 {
		t.Errorf("libcurl4 priority %d after thaw, want -1", got)
	}
}

func TestOriginPriority(t *testing.T) {
	const prefs = `Package: *
Pin: origin deb.example.org
Pin-Priority: 100

Package: *
Pin: origin deb.example.org
Pin-Priority: 200

Package: hello
Pin: release o=Debian
Pin-Priority: 990

Package: hello
Pin: origin other.example.org
Pin-Priority: 50

Package: lib*-dev
Pin: origin deb.example.org
Pin-Priority: 300

Package: /^python3-(foo|bar)$/
Pin: origin deb.example.org
Pin-Priority: 400

Package: libfoo-dev
Pin: origin deb.example.org
Pin-Priority: 999

Package: zsh bash:amd64 src:coreutils
Pin: origin "deb.example.org"
Pin-Priority: 600

Package: hello
Pin: origin deb.example.org
Pin-Priority: 700

Package: local-tool
Pin: origin ""
Pin-Priority: 1000

Package: *
Pin: origin DEB.EXAMPLE.ORG
Pin-Priority: 800
`
	f, err := Parse([]byte(prefs))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pkg, host string
		want      int
	}{
		{"hello", "deb.example.org", 700},          // release pin ignored, other origin skipped
		{"hello", "other.example.org", 50},         // exact origin
		{"hello", "Other.Example.Org", 50},         // hostnames ignore case
		{"hello", "third.example.org", 0},          // nothing for that origin
		{"unrelated", "deb.example.org", 100},      // first Package: * wins
		{"libfoo-dev", "deb.example.org", 300},     // the glob comes first
		{"LIBFOO-DEV", "deb.example.org", 300},     // globs ignore case
		{"libfoo", "deb.example.org", 100},         // glob needs -dev
		{"python3-foo", "deb.example.org", 400},    // regex
		{"python3-foobar", "deb.example.org", 100}, // anchored regex
		{"zsh", "deb.example.org", 600},            // list, quoted origin
		{"bash", "deb.example.org", 600},           // arch qualifier, no arch asked
		{"bash:amd64", "deb.example.org", 600},     // same arch
		{"bash:i386", "deb.example.org", 100},      // other arch
		{"coreutils", "deb.example.org", 100},      // src: pins are ignored
		{"local-tool", "", 1000},                   // local origin
		{"local-tool", "deb.example.org", 100},     //
		{"hello", "", 0},                           //
	}
	for _, tt := range tests {
		if got := f.OriginPriority(tt.pkg, tt.host); got != tt.want {
			t.Errorf("OriginPriority(%q, %q) = %d, want %d", tt.pkg, tt.host, got, tt.want)
		}
	}

	empty, _ := Parse(nil)
	if got := empty.OriginPriority("hello", "deb.example.org"); got != 0 {
		t.Errorf("empty file: %d, want 0", got)
	}
}

func TestGrantShadowed(t *testing.T) {
	// An earlier specific pin wins over an appended exception: the caller
	// can tell by asking OriginPriority.
	f, err := Parse([]byte("Package: hel*\nPin: origin a\nPin-Priority: 100\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !f.GrantException("hello", "a") {
		t.Fatal("GrantException: no change")
	}
	if got := f.OriginPriority("hello", "a"); got != 100 {
		t.Errorf("OriginPriority = %d, want 100 (shadowed)", got)
	}
}

func TestValidateException(t *testing.T) {
	tests := []struct {
		pkg, host string
		ok        bool
	}{
		{"hello", "deb.example.org", true},
		{"libstdc++6", "", true},
		{"g++-12", "10.0.0.1", true},
		{"Hello", "deb.example.org", false},
		{"a", "deb.example.org", false},
		{"hello world", "deb.example.org", false},
		{"hello", "deb example", false},
		{"hello", "deb.example.org\n", false},
		{"hello", `"x"`, false},
	}
	for _, tt := range tests {
		err := ValidateException(tt.pkg, tt.host)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateException(%q, %q) = %v, want ok=%v", tt.pkg, tt.host, err, tt.ok)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("GrantException with a bad package name did not panic")
		}
	}()
	f, _ := Parse(nil)
	f.GrantException("bad name", "h")
}

func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{
		"", "\n", tricky,
		"Package: a\r\nPin: origin h\r\nPin-Priority: 5",
		"Explanation: freeze exception\nPackage: hello\nPin: origin deb.example.org\nPin-Priority: -1\n",
		"# c\n\n\nPackage: *\nPin: origin deb.example.org\nPin-Priority: 500\n  ",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			return
		}
		if got := p.Bytes(); string(got) != string(data) {
			t.Fatalf("Bytes() = %q, want %q", got, data)
		}
		entries := p.Entries()
		p.GrantException("hello", "deb.example.org")
		g, err := Parse(p.Bytes())
		if err != nil {
			t.Fatalf("parse after grant: %v\n%q", err, p.Bytes())
		}
		if !reflect.DeepEqual(g.Entries(), p.Entries()) {
			t.Fatalf("after grant: re-parsed %#v, in memory %#v", g.Entries(), p.Entries())
		}
		if n := len(p.Entries()); n != len(entries) && n != len(entries)+1 {
			t.Fatalf("grant went from %d entries to %d", len(entries), n)
		}
		found := false
		for _, e := range p.Exceptions() {
			if e.Package == "hello" && e.Priority == 999 {
				found = true
			}
		}
		if !found {
			t.Fatalf("no exception for hello at 999 after grant:\n%q", p.Bytes())
		}
		p.ThawExceptions()
		g, err = Parse(p.Bytes())
		if err != nil {
			t.Fatalf("parse after thaw: %v\n%q", err, p.Bytes())
		}
		if !reflect.DeepEqual(g.Entries(), p.Entries()) {
			t.Fatalf("after thaw: re-parsed %#v, in memory %#v", g.Entries(), p.Entries())
		}
		for _, e := range p.Exceptions() {
			if e.Priority != -1 {
				t.Fatalf("exception %q at %d after thaw", e.Package, e.Priority)
			}
		}
	})
}

// TestPriority: origin and release pins against a package's source, as
// APT reads them.
func TestPriority(t *testing.T) {
	f, err := Parse([]byte(`Package: *
Pin: release o=Debian,n=bookworm
Pin-Priority: 990

Package: *
Pin: release a=unstable
Pin-Priority: 50

Package: firefox-esr
Pin: release o=Debian, n=bookworm-backports
Pin-Priority: 995

Package: linux-*
Pin: release n=/^bookworm-(proposed-)?updates$/
Pin-Priority: 991

Package: *
Pin: origin snap.example
Pin-Priority: 500

Package: tor
Pin: release l=TorProject,c=main
Pin-Priority: 992

Package: *
Pin: release 12.*
Pin-Priority: 700

Package: hello
Pin: version 2.10*
Pin-Priority: 1001
`))
	if err != nil {
		t.Fatal(err)
	}
	bookworm := Source{Host: "snap.example", Origin: "Debian", Label: "Debian", Suite: "stable", Codename: "bookworm", Component: "main"}
	backports := Source{Host: "snap.example", Origin: "Debian", Suite: "stable-backports", Codename: "bookworm-backports"}
	updates := Source{Host: "snap.example", Origin: "Debian", Suite: "stable-updates", Codename: "bookworm-updates"}
	for _, tt := range []struct {
		pkg  string
		src  Source
		want int
	}{
		{"hello", bookworm, 990},
		{"firefox-esr", bookworm, 990},
		{"firefox-esr", backports, 995},
		{"vim", backports, 500},             // the origin entry
		{"linux-image-amd64", updates, 991}, // a regular expression
		{"linux-image-amd64", Source{Codename: "bookworm-proposed-updates"}, 991},
		{"hello", Source{Host: "elsewhere", Suite: "unstable"}, 50}, // a=
		{"tor", Source{Host: "deb.torproject.org", Label: "TorProject", Component: "main"}, 992},
		{"tor", Source{Host: "deb.torproject.org", Label: "TorProject", Component: "contrib"}, 0}, // every item must match
		{"hello", Source{Host: "x", Version: "12.8"}, 700},                                        // a bare release value is a version
		{"hello", Source{Host: "nowhere"}, 0},                                                     // version pins are not about sources
	} {
		if got := f.Priority(tt.pkg, tt.src); got != tt.want {
			t.Errorf("Priority(%s, %+v) = %d, want %d", tt.pkg, tt.src, got, tt.want)
		}
	}
}

package debpkg

import (
	"archive/tar"
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/deb822"
)

// helloControl is a control file with most Packages fields, out of dpkg's
// order, unknown fields and a multi-line Description.
const helloControl = `Package: hello
Version: 1:2.10-3+b1
Architecture: amd64
Maintainer: Test Maintainer <test@example.org>
Installed-Size: 12
Source: hello-src (2.10-3)
Depends: libc6 (>= 2.34)
Pre-Depends: dpkg (>= 1.15)
Recommends: foo
Conflicts: bar
Provides: greeter
Breaks: baz (<< 1)
Replaces: baz (<< 1)
Built-Using: gcc-12 (= 12.2.0-14)
Multi-Arch: foreign
Section: devel
Priority: optional
Homepage: https://example.org/hello
XB-Custom: yes
X-Zeta: z
Original-Maintainer: Someone <s@example.org>
Description: the classic greeting
 GNU hello prints a friendly greeting.
 .
 It is an example of a GNU package,
   with an indented line.
`

// helloStanza is the Packages stanza dpkg-scanpackages (dpkg 1.21.22)
// writes for helloControl, with the @...@ placeholders to fill in.
const helloStanza = `Package: hello
Source: hello-src (2.10-3)
Version: 1:2.10-3+b1
Architecture: amd64
Maintainer: Test Maintainer <test@example.org>
Installed-Size: 12
Pre-Depends: dpkg (>= 1.15)
Depends: libc6 (>= 2.34)
Recommends: foo
Conflicts: bar
Breaks: baz (<< 1)
Replaces: baz (<< 1)
Provides: greeter
Built-Using: gcc-12 (= 12.2.0-14)
Filename: @FILENAME@
Size: @SIZE@
MD5sum: @MD5@
SHA1: @SHA1@
SHA256: @SHA256@
Section: devel
Priority: optional
Multi-Arch: foreign
Homepage: https://example.org/hello
Description: the classic greeting
 GNU hello prints a friendly greeting.
 .
 It is an example of a GNU package,
   with an indented line.
Original-Maintainer: Someone <s@example.org>
X-Zeta: z
Xb-Custom: yes
`

func expectedStanza(filename string, deb []byte) string {
	m, s1, s256 := sums(deb)
	return strings.NewReplacer("@FILENAME@", filename, "@SIZE@", strconv.Itoa(len(deb)), "@MD5@", m, "@SHA1@", s1, "@SHA256@", s256).Replace(helloStanza)
}

// TestReadControlDpkgDeb reads packages dpkg-deb built with every
// compression it offers, and checks the Packages stanza against the one
// dpkg-scanpackages writes.
func TestReadControlDpkgDeb(t *testing.T) {
	needTool(t, "dpkg-deb")
	dir := t.TempDir()
	tests := []struct {
		name       string
		args       []string
		wantMember string
	}{
		{"gzip", []string{"-Zgzip"}, "control.tar.gz"},
		{"xz", []string{"-Zxz"}, "control.tar.xz"},
		{"xz-9e", []string{"-Zxz", "-z9", "-Sextreme"}, "control.tar.xz"},
		{"zstd", []string{"-Zzstd"}, "control.tar.zst"},
		{"zstd-19", []string{"-Zzstd", "-z19"}, "control.tar.zst"},
		{"none", []string{"-Znone"}, "control.tar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := dpkgDeb(t, dir, "hello_"+tt.name+".deb", helloControl, tt.args...)
			deb, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			members, err := readAr(bytes.NewReader(deb), int64(len(deb)))
			if err != nil {
				t.Fatal(err)
			}
			if len(members) != 3 || members[1].name != tt.wantMember {
				t.Fatalf("members %+v, want %s second", members, tt.wantMember)
			}

			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			control, err := ReadControl(f, int64(len(deb)))
			if err != nil {
				t.Fatalf("ReadControl: %v", err)
			}
			if string(control) != helloControl {
				t.Fatalf("control:\n%s\nwant:\n%s", control, helloControl)
			}

			filename := "pool/main/h/hello-src/hello_2.10-3+b1_amd64.deb"
			m, s1, s256 := sums(deb)
			stanza, err := BinaryStanza(control, filename, int64(len(deb)), m, s1, s256)
			if err != nil {
				t.Fatalf("BinaryStanza: %v", err)
			}
			if want := expectedStanza(filename, deb); string(stanza) != want {
				t.Fatalf("stanza:\n%s\nwant:\n%s", stanza, want)
			}
			checkStanzaParses(t, stanza, filename)
		})
	}
}

// checkStanzaParses reads a Packages stanza with the deb822 Scanner.
func checkStanzaParses(t *testing.T, stanza []byte, filename string) {
	t.Helper()
	if bytes.HasSuffix(stanza, []byte("\n\n")) || !bytes.HasSuffix(stanza, []byte("\n")) {
		t.Fatalf("stanza must end with exactly one newline: %q", stanza[max(0, len(stanza)-20):])
	}
	sc := deb822.NewScanner(stanza)
	if !sc.Scan() {
		t.Fatalf("no paragraph: %v", sc.Err())
	}
	if name, _ := sc.FieldAt(0); string(name) != "Package" {
		t.Fatalf("first field %q, want Package", name)
	}
	if got := string(sc.Field("Filename")); got != filename {
		t.Fatalf("Filename %q, want %q", got, filename)
	}
	if got, want := string(sc.Field("Description")), "the classic greeting\n GNU hello prints a friendly greeting.\n .\n It is an example of a GNU package,\n   with an indented line."; got != want {
		t.Fatalf("Description %q, want %q", got, want)
	}
	if sc.Scan() || sc.Err() != nil {
		t.Fatalf("more than one paragraph, or error %v", sc.Err())
	}
}

// TestBinaryStanzaDpkgScanpackages compares BinaryStanza with what
// dpkg-scanpackages writes for the same package, byte for byte, for a
// control file with odd spellings, empty fields and tabs.
func TestBinaryStanzaDpkgScanpackages(t *testing.T) {
	needTool(t, "dpkg-scanpackages")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "repo"), 0o755); err != nil {
		t.Fatal(err)
	}
	controls := map[string]string{
		"hello": helloControl,
		"odd": "package: odd\nVersion: 1.0-1\nx-lower-case: 1\nEmpty: \nArchitecture: all\nMaintainer: M <m@example.org>\n" +
			"Description: odd\n\twith a tab\n .\n ..\n trailing   \nZ-Last: z\nA-First: a\nFilename: ignored\nSize: 1\n",
		"udeb": "Package: di-thing\nPackage-Type: udeb\nVersion: 0.1\nArchitecture: all\nMaintainer: M <m@example.org>\n" +
			"Subarchitecture: generic\nInstaller-Menu-Item: 99\nDescription: d-i\nKernel-Version: 6.1\n",
	}
	for name, control := range controls {
		t.Run(name, func(t *testing.T) {
			sub := filepath.Join(dir, "repo", name)
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			path := dpkgDeb(t, sub, name+".deb", control, "-Zxz")
			os.RemoveAll(path + ".tree")
			want := run(t, dir, "dpkg-scanpackages", "-m", "repo/"+name)
			want = bytes.TrimSuffix(want, []byte("\n"))

			deb, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ReadControl(bytes.NewReader(deb), int64(len(deb)))
			if err != nil {
				t.Fatal(err)
			}
			m, s1, s256 := sums(deb)
			stanza, err := BinaryStanza(got, "repo/"+name+"/"+name+".deb", int64(len(deb)), m, s1, s256)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(stanza, want) {
				t.Fatalf("BinaryStanza:\n%s\ndpkg-scanpackages:\n%s", stanza, want)
			}
		})
	}
}

// TestReadControlGoBuilt reads packages built here, with every
// compression and both spellings of the control file name.
func TestReadControlGoBuilt(t *testing.T) {
	for _, kind := range []string{"", ".gz", ".xz", ".zst"} {
		t.Run("control.tar"+kind, func(t *testing.T) {
			deb := makeDeb(helloControl, kind)
			got, err := ReadControl(bytes.NewReader(deb), int64(len(deb)))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != helloControl {
				t.Fatalf("got %q", got)
			}
		})
	}
	t.Run("plain name, GNU ar names, reserved member", func(t *testing.T) {
		deb := arFile(arEntry{"debian-binary/", []byte("2.0\n")},
			arEntry{"_extra", []byte("x")},
			arEntry{"control.tar.gz/", compress(".gz", tarFile(tarEntry{name: "control", data: helloControl}))},
			arEntry{"data.tar", tarFile()})
		got, err := ReadControl(bytes.NewReader(deb), int64(len(deb)))
		if err != nil || string(got) != helloControl {
			t.Fatalf("got %q, %v", got, err)
		}
	})
}

// TestReadControlErrors checks the errors of broken packages.
func TestReadControlErrors(t *testing.T) {
	good := makeDeb(helloControl, ".gz")
	ctlGz := func(entries ...tarEntry) []byte { return compress(".gz", tarFile(entries...)) }
	deb := func(ctlName string, ctl []byte) []byte {
		return arFile(arEntry{"debian-binary", []byte("2.0\n")}, arEntry{ctlName, ctl}, arEntry{"data.tar.xz", compress(".xz", tarFile())})
	}
	random := make([]byte, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	bigXZ := compress(".xz", tarFile(tarEntry{name: "./control", data: helloControl}))
	setXZDict(bigXZ, 128<<20)

	tests := []struct {
		name    string
		data    []byte
		kind    error
		message string
	}{
		{"empty file", nil, ErrInvalid, "not an ar archive"},
		{"random", random, ErrInvalid, "not an ar archive"},
		{"text", []byte("Package: hello\n"), ErrInvalid, "not an ar archive"},
		{"truncated magic", []byte("!<ar"), ErrTruncated, "truncated"},
		{"truncated member header", good[:40], ErrTruncated, "header at offset 8 cut short"},
		{"truncated in control", good[:200], ErrTruncated, `truncated file: ar member "control.tar.gz"`},
		{"truncated in data", good[:len(good)-10], ErrTruncated, `truncated file: ar member "data.tar.gz"`},
		{"empty ar", []byte(arMagic), ErrInvalid, "no debian-binary"},
		{"first member", arFile(arEntry{"control.tar.gz", ctlGz()}), ErrInvalid, `first ar member is "control.tar.gz"`},
		{"only debian-binary", arFile(arEntry{"debian-binary", []byte("2.0\n")}), ErrInvalid, "no control member"},
		{"no control", arFile(arEntry{"debian-binary", []byte("2.0\n")}, arEntry{"data.tar.gz", compress(".gz", tarFile())}),
			ErrInvalid, "no control member (data.tar.gz comes first)"},
		{"no data", arFile(arEntry{"debian-binary", []byte("2.0\n")}, arEntry{"control.tar.gz", ctlGz(tarEntry{name: "./control", data: helloControl})}),
			ErrInvalid, "no data member"},
		{"stray member", arFile(arEntry{"debian-binary", []byte("2.0\n")}, arEntry{"foo", nil}), ErrInvalid, `unexpected ar member "foo"`},
		{"format 3", arFile(arEntry{"debian-binary", []byte("3.0\n")}, arEntry{"control.tar", tarFile()}, arEntry{"data.tar", nil}),
			ErrUnsupported, "format version 3.0"},
		{"format garbage", arFile(arEntry{"debian-binary", []byte("!\n")}, arEntry{"control.tar", tarFile()}, arEntry{"data.tar", nil}),
			ErrInvalid, "bad format version"},
		{"bad size field", []byte(arMagic + "debian-binary   0           0     0     100644  4x        `\n2.0\n"), ErrInvalid, "bad size"},
		{"bz2", deb("control.tar.bz2", []byte("BZh")), ErrUnsupported, `compression of control member "control.tar.bz2"`},
		{"corrupt gzip", deb("control.tar.gz", []byte("not gzip")), ErrInvalid, "corrupt control.tar.gz"},
		{"corrupt zstd", deb("control.tar.zst", []byte("not zstd at all")), ErrInvalid, "control.tar.zst"},
		{"corrupt xz", deb("control.tar.xz", []byte("not xz at all")), ErrInvalid, "corrupt xz data"},
		{"xz dictionary too large", deb("control.tar.xz", bigXZ), ErrTooLarge, "xz dictionary of 134217728 bytes"},
		{"no control file", deb("control.tar.gz", ctlGz(tarEntry{name: "./md5sums", data: "x"})), ErrInvalid, "has no control file"},
		{"control is a symlink", deb("control.tar.gz", ctlGz(tarEntry{name: "./control", typeflag: tar.TypeSymlink})), ErrInvalid, "not a regular file"},
		{"no Package", deb("control.tar.gz", ctlGz(tarEntry{name: "./control", data: "Version: 1\nArchitecture: all\n"})), ErrInvalid, "no Package field"},
		{"no Version", deb("control.tar.gz", ctlGz(tarEntry{name: "./control", data: "Package: a1\nArchitecture: all\n"})), ErrInvalid, "no Version field"},
		{"no Architecture", deb("control.tar.gz", ctlGz(tarEntry{name: "./control", data: "Package: a1\nVersion: 1\n"})), ErrInvalid, "no Architecture field"},
		{"bad package name", deb("control.tar.gz", ctlGz(tarEntry{name: "./control", data: "Package: ../x\nVersion: 1\nArchitecture: all\n"})), ErrInvalid, "bad Package name"},
		{"two paragraphs", deb("control.tar.gz", ctlGz(tarEntry{name: "./control", data: helloControl + "\nPackage: b\n"})), ErrInvalid, "more than one paragraph"},
		{"syntax error", deb("control.tar.gz", ctlGz(tarEntry{name: "./control", data: "Package: a\nnot a field\n"})), ErrInvalid, "line 2"},
		{"too large control member", deb("control.tar", make([]byte, MaxControlSize+1)), ErrTooLarge, "more than 16777216"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadControl(bytes.NewReader(tt.data), int64(len(tt.data)))
			if err == nil {
				t.Fatalf("ReadControl succeeded: %q", got)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %q is not %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.message) || !strings.HasPrefix(err.Error(), "debpkg: ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line containing %q", err, tt.message)
			}
		})
	}
}

// TestReadControlTruncatedEverywhere cuts a real package at every length:
// each prefix must fail cleanly.
func TestReadControlTruncatedEverywhere(t *testing.T) {
	for _, kind := range []string{".gz", ".xz", ".zst"} {
		deb := makeDeb(helloControl, kind)
		for n := range len(deb) - 1 {
			if _, err := ReadControl(bytes.NewReader(deb[:n]), int64(n)); err == nil {
				t.Fatalf("%s: prefix of %d bytes accepted", kind, n)
			}
		}
	}
}

// setXZDict rewrites the dictionary size of the first block header of an
// xz file made by ulikunitz/xz (12-byte stream header, then the block
// header) and fixes its CRC32.
func setXZDict(data []byte, dict int) {
	hlen := (int(data[12]) + 1) * 4
	h := data[12 : 12+hlen]
	// The LZMA2 filter flags end the header before padding: find 0x21 0x01.
	i := bytes.Index(h[2:], []byte{0x21, 0x01}) + 2
	var d byte
	for d = 0; d < 40; d++ {
		if (2|int(d&1))<<(d/2+11) >= dict {
			break
		}
	}
	h[i+2] = d
	putCRC(h)
}

func TestParseControl(t *testing.T) {
	tests := []struct {
		name    string
		control string
		want    Binary
		err     string
	}{
		{"plain", "Package: hello\nVersion: 2.10-3\nArchitecture: amd64\nSection: devel\nPriority: optional\n",
			Binary{Package: "hello", Version: "2.10-3", Architecture: "amd64", Source: "hello", SourceVersion: "2.10-3", Section: "devel", Priority: "optional"}, ""},
		{"binNMU", "Package: libfoo1\nSource: foo (1.0-1)\nVersion: 1.0-1+b2\nArchitecture: arm64\n",
			Binary{Package: "libfoo1", Version: "1.0-1+b2", Architecture: "arm64", Source: "foo", SourceVersion: "1.0-1"}, ""},
		{"source without version", "Package: a1\nSource: src\nVersion: 1\nArchitecture: all\n",
			Binary{Package: "a1", Version: "1", Architecture: "all", Source: "src", SourceVersion: "1"}, ""},
		{"bad source", "Package: a1\nSource: src 1\nVersion: 1\nArchitecture: all\n", Binary{}, "bad Source"},
		{"bad source version", "Package: a1\nSource: src (a b)\nVersion: 1\nArchitecture: all\n", Binary{}, "bad Version"},
		{"bad version", "Package: a1\nVersion: 1 2\nArchitecture: all\n", Binary{}, "bad Version"},
		{"bad arch", "Package: a1\nVersion: 1\nArchitecture: amd64 i386\n", Binary{}, "bad Architecture"},
		{"duplicate", "Package: a1\nVersion: 1\nversion: 2\nArchitecture: all\n", Binary{}, "duplicate field version"},
		{"multi-line package", "Package: a1\n b\nVersion: 1\nArchitecture: all\n", Binary{}, "Package spans several lines"},
		{"empty", "", Binary{}, "no fields"},
		{"comments only", "# nothing\n", Binary{}, "no fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ParseControl([]byte(tt.control))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *b != tt.want {
				t.Fatalf("got %+v, want %+v", *b, tt.want)
			}
		})
	}
}

func TestBinaryStanzaArguments(t *testing.T) {
	m, s1, s256 := sums(nil)
	tests := []struct {
		name              string
		filename          string
		size              int64
		md5, sha1, sha256 string
		err               string
	}{
		{"ok", "pool/main/h/hello/hello_1_all.deb", 0, m, s1, s256, ""},
		{"newline in filename", "a\nb", 0, m, s1, s256, "bad Filename"},
		{"empty filename", "", 0, m, s1, s256, "bad Filename"},
		{"negative size", "a.deb", -1, m, s1, s256, "negative Size"},
		{"short md5", "a.deb", 0, m[:31], s1, s256, "bad MD5sum"},
		{"upper-case sha1", "a.deb", 0, m, strings.ToUpper(s1), s256, "bad SHA1"},
		{"sha256 not hex", "a.deb", 0, m, s1, strings.Repeat("g", 64), "bad SHA256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := BinaryStanza([]byte(helloControl), tt.filename, tt.size, tt.md5, tt.sha1, tt.sha256)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

func TestPoolDir(t *testing.T) {
	tests := []struct{ component, source, want string }{
		{"main", "hello", "pool/main/h/hello"},
		{"main", "libfoo", "pool/main/libf/libfoo"},
		{"contrib", "lib3ds", "pool/contrib/lib3/lib3ds"},
		{"main", "lib", "pool/main/lib/lib"},
		{"non-free-firmware", "0ad", "pool/non-free-firmware/0/0ad"},
		{"main", "li", "pool/main/l/li"},
	}
	for _, tt := range tests {
		if got := PoolDir(tt.component, tt.source); got != tt.want {
			t.Errorf("PoolDir(%q, %q) = %q, want %q", tt.component, tt.source, got, tt.want)
		}
	}
}

// TestDpkgDebAcceptsGoBuilt checks that the packages the tests build by
// hand are ones dpkg-deb itself reads, so the error cases differ from a
// good package only where they mean to.
func TestDpkgDebAcceptsGoBuilt(t *testing.T) {
	needTool(t, "dpkg-deb")
	dir := t.TempDir()
	for _, kind := range []string{"", ".gz", ".xz", ".zst"} {
		path := filepath.Join(dir, "x"+kind+".deb")
		if err := os.WriteFile(path, makeDeb(helloControl, kind), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("dpkg-deb", "-f", path, "Package").CombinedOutput()
		if err != nil || string(out) != "hello\n" {
			t.Fatalf("dpkg-deb -f on control.tar%s: %v %s", kind, err, out)
		}
	}
}

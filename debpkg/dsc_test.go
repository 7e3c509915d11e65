package debpkg

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/deb822"
	"github.com/aptsnap/aptsnap/index"
)

func TestParseDSC(t *testing.T) {
	u := getUpload(t)
	signer, _ := testSigners(t)
	signed, err := signer.ClearSign(u.dsc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		data []byte
	}{{"unsigned", u.dsc}, {"clearsigned", signed}, {"CRLF", bytes.ReplaceAll(u.dsc, []byte("\n"), []byte("\r\n"))}} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDSC(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if d.Source != "hello" || d.Version != "1.0-1" || d.Format != "3.0 (quilt)" ||
				!slices.Equal(d.Binary, []string{"hello", "hello-doc"}) || !slices.Equal(d.Architecture, []string{"any", "all"}) {
				t.Fatalf("got %+v", d)
			}
			var names []string
			for _, f := range d.Files {
				names = append(names, f.Name)
				if f.SHA1 == "" || f.Section != "" {
					t.Errorf("%s: %+v", f.Name, f)
				}
				if err := d.Check(f.Name, bytes.NewReader(u.files[f.Name])); err != nil {
					t.Error(err)
				}
			}
			if !slices.Equal(names, u.sourceFiles) {
				t.Fatalf("files %v, want %v", names, u.sourceFiles)
			}
			if err := d.Check(u.sourceFiles[0], strings.NewReader("other")); !errors.Is(err, ErrMismatch) {
				t.Fatalf("Check of other content: %v", err)
			}
			if err := d.Check("nope.tar.gz", strings.NewReader("")); !errors.Is(err, ErrMismatch) {
				t.Fatalf("Check of an unlisted file: %v", err)
			}
		})
	}
}

// TestSourceStanza checks the Sources stanza of a real .dsc, and that the
// index package finds its pool files.
func TestSourceStanza(t *testing.T) {
	u := getUpload(t)
	signer, _ := testSigners(t)
	signed, err := signer.ClearSign(u.dsc)
	if err != nil {
		t.Fatal(err)
	}
	for _, dscData := range [][]byte{u.dsc, signed} {
		d, err := ParseDSC(dscData)
		if err != nil {
			t.Fatal(err)
		}
		d.Section, d.Priority = "devel", "optional"
		dir := PoolDir("main", d.Source)
		stanza, err := SourceStanza(d, u.dscName, dscData, dir)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasSuffix(stanza, []byte("\n\n")) || !bytes.HasSuffix(stanza, []byte("\n")) {
			t.Fatalf("stanza must end with exactly one newline:\n%s", stanza)
		}

		// Field order: Package first, the .dsc's fields, then Directory,
		// Priority, Section.
		sc := deb822.NewScanner(stanza)
		if !sc.Scan() {
			t.Fatal(sc.Err())
		}
		var names []string
		for i := range sc.NumFields() {
			n, _ := sc.FieldAt(i)
			names = append(names, string(n))
		}
		want := []string{"Package", "Format", "Binary", "Architecture", "Version", "Maintainer", "Uploaders", "Homepage",
			"Standards-Version", "Vcs-Browser", "Vcs-Git", "Build-Depends", "Package-List",
			"Checksums-Sha1", "Checksums-Sha256", "Files", "Directory", "Priority", "Section"}
		if !slices.Equal(names, want) {
			t.Fatalf("fields %v\nwant %v\n%s", names, want, stanza)
		}
		if got := string(sc.Field("Package-List")); !strings.Contains(got, "\n hello-doc deb devel optional arch=all") {
			t.Errorf("Package-List %q", got)
		}
		m, s1, s256 := sums(dscData)
		for field, sum := range map[string]string{"Files": m, "Checksums-Sha1": s1, "Checksums-Sha256": s256} {
			lines := strings.Split(strings.TrimPrefix(string(sc.Field(field)), "\n"), "\n")
			if len(lines) != 3 || lines[0] != " "+sum+" "+strconv.Itoa(len(dscData))+" "+u.dscName {
				t.Errorf("%s: %q", field, lines)
			}
		}

		// What the mirror's index code takes from it.
		entries, err := index.PoolFiles("Sources", index.Write([]index.Stanza{{Package: "hello", Version: "1.0-1", Raw: stanza}}))
		if err != nil {
			t.Fatalf("index.PoolFiles: %v\n%s", err, stanza)
		}
		var got []string
		for _, e := range entries {
			name := strings.TrimPrefix(e.Path, "pool/main/h/hello/")
			content, ok := u.files[name]
			if !ok || e.Path == name {
				t.Fatalf("unexpected pool entry %s", e.Path)
			}
			if name == u.dscName {
				content = dscData
			}
			if e.Size != int64(len(content)) || e.SHA256 != blob.Sum(content) {
				t.Errorf("%s: size %d sha256 %s, want %d %s", e.Path, e.Size, e.SHA256, len(content), blob.Sum(content))
			}
			got = append(got, name)
		}
		if want := append([]string{u.dscName}, u.sourceFiles...); !slices.Equal(got, want) {
			t.Fatalf("pool files %v, want %v", got, want)
		}
	}
}

func TestSourceStanzaErrors(t *testing.T) {
	u := getUpload(t)
	d, err := ParseDSC(u.dsc)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dscName, dir string
		mod                func(*DSC)
		err                string
	}{
		{"absolute directory", u.dscName, "/pool/main/h/hello", nil, "unsafe Directory"},
		{"dot-dot directory", u.dscName, "pool/../../etc", nil, "unsafe Directory"},
		{"dists directory", u.dscName, "dists/x", nil, "unsafe Directory"},
		{"unclean directory", u.dscName, "pool//main", nil, "unsafe Directory"},
		{"empty directory", u.dscName, "", nil, "unsafe Directory"},
		{"space in directory", u.dscName, "pool/a b", nil, "unsafe Directory"},
		{"slash in dsc name", "../x.dsc", "pool/main/h/hello", nil, "unsafe .dsc file name"},
		{"dsc listed twice", u.sourceFiles[0], "pool/main/h/hello", nil, "listed twice"},
		{"bad source", u.dscName, "pool/main/h/hello", func(d *DSC) { d.Source = "Hello World" }, "bad Source"},
		{"section with newline", u.dscName, "pool/main/h/hello", func(d *DSC) { d.Section = "a\nB: c" }, "several lines"},
		{"file without sha256", u.dscName, "pool/main/h/hello", func(d *DSC) { d.Files[0].SHA256 = "" }, "missing or bad checksum"},
		{"not from ParseDSC", u.dscName, "pool/main/h/hello", func(d *DSC) { *d = DSC{Source: "hello"} }, "does not come from ParseDSC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dd := *d
			dd.Files = slices.Clone(d.Files)
			if tt.mod != nil {
				tt.mod(&dd)
			}
			_, err := SourceStanza(&dd, tt.dscName, u.dsc, tt.dir)
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
	if _, err := SourceStanza(nil, u.dscName, u.dsc, "pool/main/h/hello"); err == nil {
		t.Fatal("nil DSC accepted")
	}
}

// handDSC is a small valid .dsc; tests break it in various ways.
const handDSC = `Format: 1.0
Source: foo
Binary: foo
Architecture: all
Version: 2.0-1
Files:
 d41d8cd98f00b204e9800998ecf8427e 0 foo_2.0-1.tar.gz
Checksums-Sha256:
 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 foo_2.0-1.tar.gz
`

func TestParseDSCErrors(t *testing.T) {
	const sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if _, err := ParseDSC([]byte(handDSC)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, old, new, err string
	}{
		{"no Format", "Format: 1.0\n", "", "no Format"},
		{"no Source", "Source: foo\n", "", "no Source"},
		{"bad Source", "Source: foo\n", "Source: Foo\n", "bad Source name"},
		{"no Version", "Version: 2.0-1\n", "", "bad Version"},
		{"bad Version", "Version: 2.0-1\n", "Version: 2.0 1\n", "bad Version"},
		{"no Files", "Files:\n d41d8cd98f00b204e9800998ecf8427e 0 foo_2.0-1.tar.gz\n", "", "no Files field"},
		{"no Checksums-Sha256", "Checksums-Sha256:\n " + sha + " 0 foo_2.0-1.tar.gz\n", "", "no Checksums-Sha256"},
		{"empty Files", " d41d8cd98f00b204e9800998ecf8427e 0 foo_2.0-1.tar.gz\n", "", "lists no file"},
		{"size mismatch", sha + " 0 ", sha + " 1 ", "size 1 of foo_2.0-1.tar.gz, Files says 0"},
		{"other file", sha + " 0 foo_2.0-1.tar.gz", sha + " 0 bar.tar.gz", "lists bar.tar.gz, Files does not"},
		{"file missing from sha256", sha + " 0 foo_2.0-1.tar.gz\n", "", "does not list foo_2.0-1.tar.gz"},
		{"path in name", "0 foo_2.0-1.tar.gz\nChecksums", "0 ../foo_2.0-1.tar.gz\nChecksums", "unsafe file name"},
		{"listed twice", "0 foo_2.0-1.tar.gz\nChecksums", "0 foo_2.0-1.tar.gz\n d41d8cd98f00b204e9800998ecf8427e 0 foo_2.0-1.tar.gz\nChecksums", "listed twice"},
		{"bad md5", "d41d8cd98f00b204e9800998ecf8427e", "d41d8cd98f00b204e9800998ecf8427", "bad checksum"},
		{"bad size", "e 0 foo", "e -1 foo", "bad size"},
		{"plus size", "e 0 foo", "e +0 foo", "bad size"},
		{"short line", "d41d8cd98f00b204e9800998ecf8427e 0 foo", "d41d8cd98f00b204e9800998ecf8427e foo", "malformed line"},
		{"two paragraphs", "Version: 2.0-1\n", "Version: 2.0-1\n\nSource: bar\n", "more than one paragraph"},
		{"duplicate field", "Version: 2.0-1\n", "Version: 2.0-1\nVERSION: 3\n", "duplicate field"},
		{"signature inside", "Version: 2.0-1\n", "Version: 2.0-1\n-----BEGIN PGP SIGNED MESSAGE-----\n", "data before the"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := replaceOnce(t, []byte(handDSC), tt.old, tt.new)
			_, err := ParseDSC(data)
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

// TestStripSignature checks the armor handling shared by .dsc and .changes
// (without a keyring).
func TestStripSignature(t *testing.T) {
	body := "Source: foo\n-dash: x\n"
	signed := "\n-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nSource: foo\n- -dash: x\n-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n\n"
	got, err := stripSignature([]byte(signed), "x")
	if err != nil || string(got) != body {
		t.Fatalf("got %q, %v", got, err)
	}
	tests := []struct{ name, data, err string }{
		{"text before", "x\n" + signed, "data before"},
		{"text after", signed + "Source: evil\n", "data after the signature block"},
		{"no signature", "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nSource: foo\n", "no -----BEGIN PGP SIGNATURE----- line"},
		{"not closed", "-----BEGIN PGP SIGNED MESSAGE-----\n\nA: b\n-----BEGIN PGP SIGNATURE-----\nabc\n", "not closed"},
		{"bad header", "-----BEGIN PGP SIGNED MESSAGE-----\nnonsense\n\nA: b\n", "malformed armor header"},
		{"no blank line", "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256", "truncated armor headers"},
		{"bare dash", "-----BEGIN PGP SIGNED MESSAGE-----\n\n-A: b\n-----BEGIN PGP SIGNATURE-----\n-----END PGP SIGNATURE-----\n", "not dash-escaped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stripSignature([]byte(tt.data), "x")
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

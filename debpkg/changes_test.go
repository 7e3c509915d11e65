package debpkg

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/pgp"
)

func TestParseChangesSignature(t *testing.T) {
	u := getUpload(t)
	a, b := testSigners(t)
	signed, err := a.ClearSign(u.changes)
	if err != nil {
		t.Fatal(err)
	}
	both, err := pgp.ParseKeyring(append(append([]byte{}, b.PublicKey()...), a.PublicKey()...))
	if err != nil {
		t.Fatal(err)
	}
	tampered := replaceOnce(t, signed, "Distribution: unstable", "Distribution: stable")
	// Appending a file entry after signing must not be possible either.
	tamperedFiles := replaceOnce(t, signed, "Files:\n", "Files:\n 00000000000000000000000000000000 1 devel optional evil.deb\n")

	tests := []struct {
		name       string
		data       []byte
		kr         *pgp.Keyring
		wantSigner string
		kinds      []error
	}{
		{"signed, right keyring", signed, a.Keyring(), a.Fingerprint(), nil},
		{"signed, keyring of two", signed, both, a.Fingerprint(), nil},
		{"signed, no keyring", signed, nil, "", nil},
		{"unsigned, no keyring", u.changes, nil, "", nil},
		{"signed, other keyring", signed, b.Keyring(), "", []error{ErrSignature, pgp.ErrUnknownKey}},
		{"tampered", tampered, a.Keyring(), "", []error{ErrSignature, pgp.ErrBadSignature}},
		{"tampered file list", tamperedFiles, a.Keyring(), "", []error{ErrSignature, pgp.ErrBadSignature}},
		{"unsigned, keyring", u.changes, a.Keyring(), "", []error{ErrUnsigned}},
		{"data after signature, keyring", append(bytes.Clone(signed), "Source: evil\n"...), a.Keyring(), "", []error{ErrSignature, pgp.ErrMalformed}},
		{"data after signature, no keyring", append(bytes.Clone(signed), "Source: evil\n"...), nil, "", []error{ErrInvalid}},
		{"data before signature, keyring", append([]byte("Source: evil\n\n"), signed...), a.Keyring(), "", []error{ErrUnsigned}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseChanges(tt.data, tt.kr)
			if tt.kinds != nil {
				if err == nil {
					t.Fatalf("accepted: %+v", c)
				}
				for _, k := range tt.kinds {
					if !errors.Is(err, k) {
						t.Errorf("error %q is not %v", err, k)
					}
				}
				if msg := err.Error(); !strings.HasPrefix(msg, "debpkg: .changes") || strings.Contains(msg, "\n") || strings.Contains(msg, "InRelease") {
					t.Errorf("message %q", msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Signer != tt.wantSigner {
				t.Errorf("Signer %q, want %q", c.Signer, tt.wantSigner)
			}
			checkHelloChanges(t, u, c)
		})
	}
}

func checkHelloChanges(t *testing.T, u upload, c *Changes) {
	t.Helper()
	if c.Source != "hello" || c.SourceVersion != "1.0-1" || c.Version != "1.0-1" || c.Distribution != "unstable" ||
		!slices.Equal(c.Architecture, []string{"source", "amd64"}) || !slices.Equal(c.Binary, []string{"hello"}) {
		t.Fatalf("got %+v", c)
	}
	if len(c.Files) != 4 {
		t.Fatalf("files %+v", c.Files)
	}
	for _, f := range c.Files {
		if f.Section != "devel" || f.Priority != "optional" || f.SHA1 == "" || len(f.SHA256) != 64 || len(f.MD5) != 32 {
			t.Errorf("%+v", f)
		}
		content, ok := u.files[f.Name]
		if !ok {
			t.Fatalf("unexpected file %s", f.Name)
		}
		if err := c.Check(f.Name, bytes.NewReader(content)); err != nil {
			t.Error(err)
		}
		if err := c.Check(f.Name, bytes.NewReader(append(bytes.Clone(content), 0))); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "size") {
			t.Errorf("longer %s: %v", f.Name, err)
		}
		bad := bytes.Clone(content)
		bad[len(bad)/2] ^= 1
		if err := c.Check(f.Name, bytes.NewReader(bad)); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "MD5") {
			t.Errorf("altered %s: %v", f.Name, err)
		}
	}
	if err := c.Check("other.deb", strings.NewReader("")); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "not listed") {
		t.Errorf("unlisted file: %v", err)
	}
}

// TestFileVerifySums checks that each checksum is compared on its own.
func TestFileVerifySums(t *testing.T) {
	data := []byte("content")
	m, s1, s256 := sums(data)
	f := File{Name: "x", Size: int64(len(data)), MD5: m, SHA1: s1, SHA256: s256}
	if err := f.Verify(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	other := strings.Repeat("0", 64)
	for _, tt := range []struct {
		mod  func(*File)
		want string
	}{
		{func(f *File) { f.MD5 = other[:32] }, "MD5"},
		{func(f *File) { f.SHA1 = other[:40] }, "SHA1"},
		{func(f *File) { f.SHA256 = other }, "SHA256"},
		{func(f *File) { f.Size++ }, "size"},
	} {
		g := f
		tt.mod(&g)
		if err := g.Verify(bytes.NewReader(data)); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v", tt.want, err)
		}
	}
	g := f
	g.SHA1 = ""
	if err := g.Verify(bytes.NewReader(data)); err != nil {
		t.Errorf("without SHA1: %v", err)
	}
}

// handChanges is a small valid .changes; tests break it in various ways.
const handChanges = `Format: 1.8
Source: foo
Binary: foo foo-doc
Architecture: source all
Version: 2.0-1
Distribution: unstable
Files:
 d41d8cd98f00b204e9800998ecf8427e 0 contrib/libs optional foo_2.0-1.dsc
Checksums-Sha256:
 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 foo_2.0-1.dsc
`

func TestParseChangesFields(t *testing.T) {
	c, err := ParseChanges([]byte(handChanges), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := File{Name: "foo_2.0-1.dsc", MD5: "d41d8cd98f00b204e9800998ecf8427e",
		SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Section: "contrib/libs", Priority: "optional"}
	if len(c.Files) != 1 || c.Files[0] != want || !slices.Equal(c.Binary, []string{"foo", "foo-doc"}) {
		t.Fatalf("got %+v", c)
	}
	binNMU, err := ParseChanges(replaceOnce(t, []byte(handChanges), "Source: foo\n", "Source: foo (1.9-3)\n"), nil)
	if err != nil || binNMU.Source != "foo" || binNMU.SourceVersion != "1.9-3" || binNMU.Version != "2.0-1" {
		t.Fatalf("binNMU: %+v, %v", binNMU, err)
	}
	upper, err := ParseChanges(replaceOnce(t, []byte(handChanges), "d41d8cd98f00b204e9800998ecf8427e", "D41D8CD98F00B204E9800998ECF8427E"), nil)
	if err != nil || upper.Files[0].MD5 != want.MD5 {
		t.Fatalf("upper-case checksum: %+v, %v", upper, err)
	}
}

func TestParseChangesErrors(t *testing.T) {
	tests := []struct {
		name, old, new, err string
	}{
		{"no Source", "Source: foo\n", "", "no Source field"},
		{"no Version", "Version: 2.0-1\n", "", "no Version field"},
		{"no Distribution", "Distribution: unstable\n", "", "no Distribution field"},
		{"no Architecture", "Architecture: source all\n", "", "no Architecture field"},
		{"bad Source", "Source: foo\n", "Source: ../foo\n", "bad Source name"},
		{"bad Source version", "Source: foo\n", "Source: foo 1.0\n", "bad Source"},
		{"bad Version", "Version: 2.0-1\n", "Version: 2.0-\n", "bad Version"},
		{"multi-line Distribution", "Distribution: unstable\n", "Distribution: unstable\n stable\n", "spans several lines"},
		{"no Checksums-Sha256", "Checksums-Sha256:", "X:", "no Checksums-Sha256"},
		{"three-field Files", "0 contrib/libs optional foo", "0 foo", "malformed line"},
		{"unsafe name", "optional foo_2.0-1.dsc", "optional /etc/passwd", "unsafe file name"},
		{"size mismatch", "855 0 foo", "855 7 foo", "Files says 0"},
		{"unsigned armor", "Format: 1.8\n", "Format: 1.8\n-----BEGIN PGP SIGNATURE-----\n", "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseChanges(replaceOnce(t, []byte(handChanges), tt.old, tt.new), nil)
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

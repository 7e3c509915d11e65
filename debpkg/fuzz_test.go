package debpkg

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/deb822"
	"github.com/aptsnap/aptsnap/index"
	"github.com/aptsnap/aptsnap/pgp"
)

// Fuzz targets. testdata/fuzz holds, besides what fuzzing found, packages
// dpkg-deb built (gzip, xz, zstd, none) as seeds for FuzzReadControl.

// checkError checks that an error is one line starting with "debpkg: " and
// wraps one of the package's kinds.
func checkError(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if !strings.HasPrefix(msg, "debpkg: ") || strings.Contains(msg, "\n") {
		t.Fatalf("error message %q", msg)
	}
	for _, k := range []error{ErrInvalid, ErrTruncated, ErrUnsupported, ErrTooLarge, ErrUnsigned, ErrSignature, ErrMismatch, ErrNoChangelog} {
		if errors.Is(err, k) {
			return
		}
	}
	t.Fatalf("error %q wraps no kind", msg)
}

// checkBinaryStanza checks what BinaryStanza makes of an accepted control
// file: one paragraph, Package first, the given Filename, the same main
// fields, and a fixed point (the stanza read as a control file gives
// itself back).
func checkBinaryStanza(t *testing.T, control []byte, size int64) {
	t.Helper()
	b, err := ParseControl(control)
	if err != nil {
		t.Fatalf("ParseControl refuses what ReadControl accepted: %v", err)
	}
	m, s1, s256 := sums(control)
	const filename = "pool/main/x/x_1_all.deb"
	stanza, err := BinaryStanza(control, filename, size, m, s1, s256)
	if err != nil {
		t.Fatalf("BinaryStanza: %v\ncontrol: %q", err, control)
	}
	sc := deb822.NewScanner(stanza)
	if !sc.Scan() {
		t.Fatalf("stanza does not parse: %v\n%q", sc.Err(), stanza)
	}
	if name, _ := sc.FieldAt(0); string(name) != "Package" || string(sc.Field("Filename")) != filename ||
		string(sc.Field("SHA256")) != s256 {
		t.Fatalf("stanza %q", stanza)
	}
	if sc.Scan() || sc.Err() != nil {
		t.Fatalf("stanza has more than one paragraph: %q (%v)", stanza, sc.Err())
	}
	b2, err := ParseControl(stanza)
	if err != nil || *b2 != *b {
		t.Fatalf("stanza reads as %+v, %v; control as %+v\n%q", b2, err, b, stanza)
	}
	again, err := BinaryStanza(stanza, filename, size, m, s1, s256)
	if err != nil || !bytes.Equal(again, stanza) {
		t.Fatalf("BinaryStanza of its own output:\n%q\nwant\n%q (%v)", again, stanza, err)
	}
}

// seedDeb is a small .deb for FuzzReadControl: small seeds keep the
// fuzzer's minimization of new inputs short.
func seedDeb(kind string) []byte {
	ctl := tarFile(tarEntry{name: "./control", data: "Package: a1\nVersion: 1\nArchitecture: all\nDescription: x\n\ty\n .\n"})
	if kind == "" {
		ctl = ctl[:1024] // the reader stops at the control file: no need for the end blocks
	}
	return arFile(arEntry{"debian-binary", []byte("2.0\n")}, arEntry{"control.tar" + kind, compress(kind, ctl)},
		arEntry{"data.tar", nil})
}

func FuzzReadControl(f *testing.F) {
	for _, kind := range []string{"", ".gz", ".xz", ".zst"} {
		f.Add(seedDeb(kind))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		control, err := ReadControl(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			checkError(t, err)
			return
		}
		checkBinaryStanza(t, control, int64(len(data)))
	})
}

// FuzzBinaryStanza explores control files directly.
func FuzzBinaryStanza(f *testing.F) {
	f.Add([]byte(helloControl))
	f.Add([]byte(debControl))
	f.Add([]byte("package: odd\nVersion: 1.0-1\nx-lower: 1\nEmpty: \nArchitecture: all\nDescription: odd\n\twith a tab\n .\n ..\n trailing   \nFilename: x\n"))
	f.Add([]byte("Package: a1\r\nVersion: 1\r\nArchitecture: all\r\nDescription:\r\n x\r\n"))
	f.Fuzz(func(t *testing.T, control []byte) {
		if _, err := ParseControl(control); err != nil {
			checkError(t, err)
			return
		}
		checkBinaryStanza(t, control, 1)
	})
}

// FuzzParseDSC checks that an accepted .dsc gives a Sources stanza whose
// pool files the index package reads back: the .dsc and each listed file.
func FuzzParseDSC(f *testing.F) {
	f.Add([]byte(handDSC))
	u := handUpload()
	f.Add(u.dsc)
	if key, err := os.ReadFile("testdata/fuzz-signing-key.asc"); err == nil {
		if s, err := pgp.ParseSigner(key); err == nil {
			if signed, err := s.ClearSign(u.dsc); err == nil {
				f.Add(signed)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDSC(data)
		if err != nil {
			checkError(t, err)
			return
		}
		const dscName, dir = "fuzz_1.dsc", "pool/main/f/fuzz"
		stanza, err := SourceStanza(d, dscName, data, dir)
		for _, f := range d.Files {
			if f.Name == dscName {
				if err == nil {
					t.Fatal("a .dsc listing itself was accepted")
				}
				return
			}
		}
		if err != nil {
			t.Fatalf("SourceStanza: %v", err)
		}
		entries, err := index.PoolFiles("Sources", index.Write([]index.Stanza{{Package: d.Source, Version: d.Version, Raw: stanza}}))
		if err != nil {
			t.Fatalf("index.PoolFiles: %v\n%s", err, stanza)
		}
		if len(entries) != len(d.Files)+1 || entries[0].Path != dir+"/"+dscName ||
			entries[0].SHA256 != blob.Sum(data) || entries[0].Size != int64(len(data)) {
			t.Fatalf("entries %+v for %+v", entries, d.Files)
		}
		for i, f := range d.Files {
			e := entries[i+1]
			if e.Path != dir+"/"+f.Name || e.Size != f.Size || e.SHA256.String() != f.SHA256 {
				t.Fatalf("entry %+v for %+v", e, f)
			}
		}
	})
}

// FuzzParseChanges parses with and without a keyring: whatever the
// keyring accepts, parsing without one accepts the same way.
func FuzzParseChanges(f *testing.F) {
	key, err := os.ReadFile("testdata/fuzz-signing-key.asc")
	if err != nil {
		f.Fatal(err)
	}
	signer, err := pgp.ParseSigner(key)
	if err != nil {
		f.Fatal(err)
	}
	kr := signer.Keyring()
	f.Add([]byte(handChanges))
	u := handUpload()
	f.Add(u.changes)
	for _, c := range [][]byte{[]byte(handChanges), u.changes} {
		signed, err := signer.ClearSign(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(signed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		plain, err := ParseChanges(data, nil)
		if err != nil {
			checkError(t, err)
		} else {
			for _, f := range plain.Files {
				if !validFileName(f.Name) || f.SHA256 == "" || f.MD5 == "" {
					t.Fatalf("file %+v", f)
				}
			}
		}
		verified, verr := ParseChanges(data, kr)
		if verr != nil {
			checkError(t, verr)
			return
		}
		if err != nil {
			t.Fatalf("verified, yet refused without a keyring: %v", err)
		}
		if verified.Signer != signer.Fingerprint() || verified.Source != plain.Source || verified.Version != plain.Version ||
			len(verified.Files) != len(plain.Files) {
			t.Fatalf("verified %+v, plain %+v", verified, plain)
		}
		for i := range plain.Files {
			if verified.Files[i] != plain.Files[i] {
				t.Fatalf("file %d: verified %+v, plain %+v", i, verified.Files[i], plain.Files[i])
			}
		}
	})
}

// FuzzXZ compares the xz reader with github.com/ulikunitz/xz's: what
// ours decodes, theirs decodes to the same bytes (ours is only stricter
// about memory and the container). Theirs runs only on what ours accepts,
// since it allocates whatever dictionary a block header asks for.
func FuzzXZ(f *testing.F) {
	f.Add(compress(".xz", []byte("hello, hello, hello\n")))
	f.Add(compress(".xz", xzSample(3000)))
	f.Add(append(compress(".xz", []byte("a")), compress(".xz", []byte("b"))...))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := newXZReader(bytes.NewReader(data), int64(len(data)), 1<<20)
		if err != nil {
			checkError(t, err)
			return
		}
		ours, err := io.ReadAll(io.LimitReader(r, 1<<20))
		if err != nil {
			checkError(t, err)
			return
		}
		xr, err := xz.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("ours decodes %d bytes, theirs refuses: %v", len(ours), err)
		}
		theirs, err := io.ReadAll(io.LimitReader(xr, int64(len(ours))))
		if err != nil || !bytes.Equal(ours, theirs) {
			t.Fatalf("ours %q, theirs %q (%v)", ours, theirs, err)
		}
		if len(ours) < 1<<20 { // ours ended: theirs must end there too
			if n, _ := xr.Read(make([]byte, 1)); n != 0 {
				t.Fatalf("theirs decodes more than ours (%d bytes)", len(ours))
			}
		}
	})
}

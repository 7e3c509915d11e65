package release

import (
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
)

const debianRelease = `Origin: Debian
Label: Debian
Suite: stable
Version: 12.8
Codename: bookworm
Changelogs: https://metadata.ftp-master.debian.org/changelogs/@CHANGEPATH@_changelog
Date: Sat, 09 Nov 2024 10:06:17 UTC
Acquire-By-Hash: yes
No-Support-for-Architecture-all: Packages
Architectures: all amd64 arm64 armel armhf i386 mips64el mipsel ppc64el s390x
Components: main contrib non-free-firmware non-free
Description: Debian 12.8 Released 09 November 2024
Signed-By: 4D64FEC119C2029067D6E791F8D2585B8783D481
MD5Sum:
 0ed6d4c8891eb86358b94bb35d9e4da4  1484322 contrib/Contents-all
 d0a0325a97c42fd5f66a8c3e29bcea64    98581 contrib/Contents-all.gz
SHA256:
 d6c9c82f4e61b4662f9ba16b9ebb379c57b4943f8b7813091d1f637325ddfb79  1484322 contrib/Contents-all
 3e9a121d599b56c08bc8f144e4830807c77c29d7114316d6984ba54695d3db7b    98581 contrib/Contents-all.gz
 ` + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" + `        0 main/binary-amd64/Packages
`

func TestParse(t *testing.T) {
	r, err := Parse([]byte(debianRelease))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Get("codename"); got != "bookworm" {
		t.Errorf("Codename = %q", got)
	}
	d, err := r.Date()
	if err != nil || !d.Equal(time.Date(2024, 11, 9, 10, 6, 17, 0, time.UTC)) {
		t.Errorf("Date = %s, %v", d, err)
	}
	if vu, err := r.ValidUntil(); err != nil || !vu.IsZero() {
		t.Errorf("ValidUntil = %s, %v; want zero", vu, err)
	}
	if !r.ByHash() {
		t.Error("ByHash = false")
	}
	if len(r.Files) != 3 {
		t.Fatalf("Files = %d, want the 3 SHA256 entries", len(r.Files))
	}
	f := r.Files["contrib/Contents-all.gz"]
	if f.Size != 98581 || f.SHA256.String() != "3e9a121d599b56c08bc8f144e4830807c77c29d7114316d6984ba54695d3db7b" {
		t.Errorf("contrib/Contents-all.gz = %+v", f)
	}
	for _, fld := range r.Fields {
		if fld.Name == "MD5Sum" || fld.Name == "SHA256" {
			t.Errorf("checksum field %s kept among Fields", fld.Name)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", "empty"},
		{"bad line", "Origin: X\nSHA256:\n abc 12\n", "malformed"},
		{"bad digest", "Origin: X\nSHA256:\n abc 12 main/x\n", "digest"},
		{"bad size", "Origin: X\nSHA256:\n " + strings.Repeat("a", 64) + " -3 main/x\n", "bad size"},
		{"not deb822", "this is not a release\n", "line 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2026, 11, 22, 8, 14, 46, 0, time.UTC)
	for _, in := range []string{
		"Sun, 22 Nov 2026 08:14:46 UTC", "Sun, 22 Nov 2026 08:14:46 GMT", "Sun, 22 Nov 2026 08:14:46 +0000",
		"Sun, 22 Nov 2026 09:14:46 +0100", "Sun, 22 Nov 2026 08:14:46 UTC ",
	} {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %s, %v", in, got, err)
		}
	}
	if _, err := ParseTime("yesterday"); err == nil {
		t.Error("ParseTime(yesterday) succeeded")
	}
	if got := FormatTime(want); got != "Sun, 22 Nov 2026 08:14:46 UTC" {
		t.Errorf("FormatTime = %q", got)
	}
}

func TestBuild(t *testing.T) {
	up, err := Parse([]byte(debianRelease))
	if err != nil {
		t.Fatal(err)
	}
	pk := blob.Sum([]byte("Packages"))
	xz := blob.Sum([]byte("Packages.xz"))
	text := Snapshot{
		Upstream: up, Components: []string{"main"}, Architectures: []string{"amd64"},
		ValidUntil:   time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC),
		SnapshotsURL: "http://127.0.0.1:8080/debian/@SNAPSHOTID@/",
		Files: []File{
			{Path: "main/binary-amd64/Packages", Size: 12345678, SHA256: pk},
			{Path: "main/binary-amd64/Packages.xz", Size: 42, SHA256: xz},
		},
	}.Build()
	want := `Origin: Debian
Label: Debian
Suite: stable
Version: 12.8
Codename: bookworm
Changelogs: https://metadata.ftp-master.debian.org/changelogs/@CHANGEPATH@_changelog
Date: Sat, 09 Nov 2024 10:06:17 UTC
Valid-Until: Wed, 02 Dec 2026 08:00:00 UTC
Acquire-By-Hash: yes
No-Support-for-Architecture-all: Packages
Architectures: amd64
Components: main
Description: Debian 12.8 Released 09 November 2024
Snapshots: http://127.0.0.1:8080/debian/@SNAPSHOTID@/
SHA256:
 ` + pk.String() + ` 12345678 main/binary-amd64/Packages
 ` + xz.String() + `       42 main/binary-amd64/Packages.xz
`
	if string(text) != want {
		t.Errorf("Build:\n%s\nwant:\n%s", text, want)
	}
	// What we build parses back to what we meant.
	back, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if vu, _ := back.ValidUntil(); !vu.Equal(time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)) || len(back.Files) != 2 || back.Get("Signed-By") != "" {
		t.Errorf("re-parsed: valid until %s, %d files, Signed-By %q", vu, len(back.Files), back.Get("Signed-By"))
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(debianRelease))
	f.Add([]byte("Date: Sun, 22 Nov 2026 08:14:46 UTC\nValid-Until: x\nSHA256:\n a 1 b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			return
		}
		r.Date()
		r.ValidUntil()
		for p, file := range r.Files {
			if p != file.Path || file.Size < 0 {
				t.Fatalf("inconsistent file %q: %+v", p, file)
			}
		}
		// Whatever parses can be rebuilt and parsed again with the same files.
		text := Snapshot{Upstream: r, ValidUntil: time.Unix(0, 0)}.Build()
		if _, err := Parse(text); err != nil && strings.Contains(err.Error(), "SHA256") {
			t.Fatalf("rebuilt Release does not parse: %v\n%s", err, text)
		}
	})
}

func TestSetValidUntil(t *testing.T) {
	in := "Origin: Debian\nDate: Sat, 09 Nov 2024 10:06:17 UTC\nValid-Until: Sun, 10 Nov 2024 10:06:17 UTC\nSHA256:\n x 1 y\n"
	got, err := SetValidUntil([]byte(in), time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC))
	want := "Origin: Debian\nDate: Sat, 09 Nov 2024 10:06:17 UTC\nValid-Until: Thu, 24 Dec 2026 00:00:00 UTC\nSHA256:\n x 1 y\n"
	if err != nil || string(got) != want {
		t.Fatalf("SetValidUntil = %q, %v", got, err)
	}
	if _, err := SetValidUntil([]byte("Origin: Debian\n"), time.Now()); err == nil {
		t.Fatal("SetValidUntil without a Valid-Until field succeeded")
	}
}

// TestDuplicateFieldsInRelease: a Release with a repeated field is refused
// (APT reads the last, a check of the first would pass what APT sees
// otherwise), however its case.
func TestDuplicateFieldsInRelease(t *testing.T) {
	for _, text := range []string{
		"Origin: Debian\nDate: Sat, 22 Nov 2026 08:14:46 UTC\nDate: Sat, 22 Nov 2025 08:14:46 UTC\n",
		"Origin: Debian\nDate: Sat, 22 Nov 2026 08:14:46 UTC\ndate: Sat, 22 Nov 2025 08:14:46 UTC\n",
		"Valid-Until: Sat, 22 Nov 2026 08:14:46 UTC\nSuite: x\nValid-Until: Sat, 22 Nov 2036 08:14:46 UTC\n",
	} {
		if _, err := Parse([]byte(text)); err == nil || !strings.Contains(err.Error(), "appears twice") {
			t.Errorf("Parse(%q) = %v, want a refusal of the repeated field", text, err)
		}
	}
}

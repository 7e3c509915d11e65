package index

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

const sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestParsePackages(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string // want: "" for success, else an error substring
		n              int
	}{
		{"two", "Package: a\nFilename: pool/main/a/a/a_1_all.deb\nSize: 0\nSHA256: " + sha + "\n\nPackage: b\nFilename: pool/main/b/b/b_1_all.deb\nSize: 0\nSHA256: " + sha + "\n", "", 2},
		{"no trailing newline", "Package: a\nFilename: pool/a.deb\nSize: 0\nSHA256: " + sha, "", 1},
		{"empty", "", "", 0},
		{"missing Filename", "Package: a\nSize: 0\nSHA256: " + sha + "\n", "without Filename", 0},
		{"missing SHA256", "Package: a\nFilename: pool/a.deb\nSize: 0\n", "SHA256", 0},
		{"MD5 only", "Package: a\nFilename: pool/a.deb\nSize: 0\nMD5sum: d41d8cd98f00b204e9800998ecf8427e\n", "SHA256", 0},
		{"bad size", "Package: a\nFilename: pool/a.deb\nSize: -1\nSHA256: " + sha + "\n", "bad Size", 0},
		{"traversal", "Package: a\nFilename: ../../etc/passwd\nSize: 0\nSHA256: " + sha + "\n", "unsafe pool path", 0},
		{"inner traversal", "Package: a\nFilename: pool/../../x.deb\nSize: 0\nSHA256: " + sha + "\n", "unsafe pool path", 0},
		{"absolute", "Package: a\nFilename: /etc/passwd\nSize: 0\nSHA256: " + sha + "\n", "unsafe pool path", 0},
		{"into dists", "Package: a\nFilename: dists/bookworm/InRelease\nSize: 0\nSHA256: " + sha + "\n", "unsafe pool path", 0},
		{"line number", "Package: a\nFilename: pool/a.deb\nSize: 0\nSHA256: " + sha + "\n\nPackage: b\nFilename: pool/b.deb\nSize: x\nSHA256: " + sha + "\n", "line 6", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePackages([]byte(tt.in))
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil || len(got) != tt.n {
				t.Fatalf("got %d entries, %v; want %d", len(got), err, tt.n)
			}
		})
	}
}

func TestParseSources(t *testing.T) {
	in := "Package: hello\nDirectory: pool/main/h/hello\nChecksums-Sha256:\n " + sha + " 10 hello_2.10-3.dsc\n " + sha + " 20 hello_2.10.orig.tar.gz\n\n"
	got, err := parseSources([]byte(in))
	if err != nil || len(got) != 2 || got[1].Path != "pool/main/h/hello/hello_2.10.orig.tar.gz" || got[1].Size != 20 {
		t.Fatalf("parseSources = %+v, %v", got, err)
	}
	for _, bad := range []string{
		"Package: x\nDirectory: pool/main/x\n",
		"Package: x\nDirectory: pool/main/x\nChecksums-Sha256:\n " + sha + " 10\n",
		"Package: x\nDirectory: ../..\nChecksums-Sha256:\n " + sha + " 10 passwd\n",
		"Package: x\nDirectory: pool/x\nChecksums-Sha256:\n " + sha + " 10 ../../../etc/passwd\n",
	} {
		if _, err := parseSources([]byte(bad)); err == nil {
			t.Errorf("parseSources accepted %q", bad)
		}
	}
}

func FuzzParsePackages(f *testing.F) {
	f.Add([]byte("Package: a\nFilename: pool/a.deb\nSize: 0\nSHA256: " + sha + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parsePackages(data)
		// Read from a stream, a byte at a time, the index gives the same.
		streamed, serr := PoolFilesFrom("Packages", iotest.OneByteReader(bytes.NewReader(data)))
		if fmt.Sprint(err) != fmt.Sprint(serr) || !slices.Equal(entries, streamed) {
			t.Fatalf("from a stream: %v, %v; in memory: %v, %v", streamed, serr, entries, err)
		}
		if err != nil {
			return
		}
		for _, e := range entries {
			if checkPoolPath(e.Path) != nil || e.Size < 0 {
				t.Fatalf("accepted unsafe entry %+v", e)
			}
		}
	})
}

package debpkg

import (
	"archive/tar"
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// seedChangelogDeb is a small .deb holding a changelog, its data.tar
// compressed with kind.
func seedChangelogDeb(kind string) []byte {
	data := tarFile(tarEntry{name: "./usr/share/doc/a1/", typeflag: tar.TypeDir},
		tarEntry{name: "./usr/share/doc/a1/changelog.gz", data: "x"},
		tarEntry{name: "./usr/share/doc/a1/changelog.Debian.gz",
			data: string(compress(".gz", []byte("a1 (1) s; urgency=low\n\n  * x\n\n -- M <m@x>  D\n")))})
	return arFile(arEntry{"debian-binary", []byte("2.0\n")},
		arEntry{"control.tar", nil},
		arEntry{"data.tar" + kind, compress(kind, data)})
}

// FuzzReadChangelog checks that ReadChangelog fails cleanly, and that what
// it returns respects the size limit.
func FuzzReadChangelog(f *testing.F) {
	for _, kind := range []string{"", ".gz", ".xz", ".zst"} {
		f.Add(seedChangelogDeb(kind))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ReadChangelog(bytes.NewReader(data), int64(len(data)), "a1")
		if err != nil {
			checkError(t, err)
			return
		}
		if len(got) > MaxChangelogSize {
			t.Fatalf("changelog of %d bytes", len(got))
		}
	})
}

// formatChangelog writes entries back as a changelog.
func formatChangelog(entries []ChangelogEntry) []byte {
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.Package + " (" + e.Version + ") " + e.Distribution + ";")
		if e.Urgency != "" {
			b.WriteString(" urgency=" + e.Urgency)
		}
		b.WriteString("\n\n" + e.Changes + "\n")
		if e.Maintainer != "" {
			b.WriteString(" -- " + e.Maintainer)
			if e.Date != "" {
				b.WriteString("  " + e.Date)
			}
			b.WriteString("\n\n")
		}
	}
	return []byte(b.String())
}

// FuzzParseChangelog checks that the entries ParseChangelog returns, written
// back, read the same.
func FuzzParseChangelog(f *testing.F) {
	f.Add([]byte(certbotChangelog))
	f.Add([]byte("foo (1:2.0~rc1-0.1) a  b ;urgency=high, x=y\r\n\r\n  * one\r\n\t two\r\n -- A <a@b>  D\r\nfoo (1) c\n"))
	f.Add([]byte("a1 (3) s; urgency=low\nnot indented\n --  X Y  Mon\na1 (2) s;\n\n --\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseChangelog(data)
		if err != nil {
			checkError(t, err)
			return
		}
		for _, e := range entries {
			if e.Package == "" || e.Version == "" || e.Distribution == "" {
				t.Fatalf("entry %+v", e)
			}
		}
		if all := EntriesSince(entries, "", ""); !reflect.DeepEqual(all, entries) {
			t.Fatalf("EntriesSince with no bounds: %d entries of %d", len(all), len(entries))
		}
		text := formatChangelog(entries)
		again, err := ParseChangelog(text)
		if err != nil || !reflect.DeepEqual(again, entries) {
			t.Fatalf("written back:\n%q\nreads as\n%#v (%v)\nwant\n%#v", text, again, err, entries)
		}
	})
}

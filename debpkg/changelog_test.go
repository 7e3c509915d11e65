package debpkg

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// certbotChangelog is a changelog.Debian as packages ship it, with an old
// style tail.
const certbotChangelog = `certbot (2.9.0-1) bookworm; urgency=medium

  * New upstream release.
  * Drop patch applied upstream.

 -- Debian Let's Encrypt <team+letsencrypt@tracker.debian.org>  Tue, 05 Mar 2024 10:00:00 +0000

certbot (2.8.0-1) unstable; urgency=low

  [ Jane Doe ]
  * New upstream release.

  [ John Roe ]
  * Bump Standards-Version.

 -- Jane Doe <jane@example.org>  Mon, 05 Feb 2024 09:00:00 +0100

certbot (2.1.0-1) unstable; urgency=medium

  * New upstream release.

 -- Jane Doe <jane@example.org>  Sun, 04 Dec 2022 12:00:00 -0500

Local variables:
mode: debian-changelog
End:
`

// certbotEntries is what ParseChangelog makes of certbotChangelog.
var certbotEntries = []ChangelogEntry{
	{Package: "certbot", Version: "2.9.0-1", Distribution: "bookworm", Urgency: "medium",
		Changes:    "  * New upstream release.\n  * Drop patch applied upstream.\n",
		Maintainer: "Debian Let's Encrypt <team+letsencrypt@tracker.debian.org>", Date: "Tue, 05 Mar 2024 10:00:00 +0000"},
	{Package: "certbot", Version: "2.8.0-1", Distribution: "unstable", Urgency: "low",
		Changes:    "  [ Jane Doe ]\n  * New upstream release.\n\n  [ John Roe ]\n  * Bump Standards-Version.\n",
		Maintainer: "Jane Doe <jane@example.org>", Date: "Mon, 05 Feb 2024 09:00:00 +0100"},
	{Package: "certbot", Version: "2.1.0-1", Distribution: "unstable", Urgency: "medium",
		Changes:    "  * New upstream release.\n",
		Maintainer: "Jane Doe <jane@example.org>", Date: "Sun, 04 Dec 2022 12:00:00 -0500"},
}

const certbotControl = `Package: python3-certbot
Source: certbot
Version: 2.9.0-1
Architecture: all
Maintainer: Debian Let's Encrypt <team+letsencrypt@tracker.debian.org>
Description: main library for certbot
 The library.
`

// debTree describes the tree a test package is built from.
type debTree struct {
	files    map[string][]byte // path under the root: content
	symlinks map[string]string // path under the root: target
}

// buildDeb builds a .deb of tree with dpkg-deb (options extra, such as
// "-Zxz") and returns its content.
func buildDeb(t *testing.T, tree debTree, extra ...string) []byte {
	t.Helper()
	needTool(t, "dpkg-deb")
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	write := func(p string, data []byte) {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("DEBIAN/control", []byte(certbotControl))
	for p, data := range tree.files {
		write(p, data)
	}
	for p, target := range tree.symlinks {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out.deb")
	run(t, dir, "dpkg-deb", append(append([]string{"--root-owner-group"}, extra...), "--build", root, out)...)
	deb, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return deb
}

// TestReadChangelogDpkgDeb reads the changelog of packages dpkg-deb built
// with every compression it offers.
func TestReadChangelogDpkgDeb(t *testing.T) {
	const doc = "usr/share/doc/python3-certbot/"
	upstream := []byte("2024-03-05 Version 2.9.0\n\tLots of changes.\n")
	native := []byte("python3-certbot (1.0) unstable; urgency=low\n\n  * Native.\n\n -- A <a@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n")
	big := bytes.Repeat([]byte("x"), 300<<10)
	layouts := []struct {
		name string
		tree debTree
		want []byte
		kind error // when an error is expected
	}{
		{"changelog.Debian.gz and upstream changelog.gz", debTree{files: map[string][]byte{
			"usr/bin/certbot": []byte("#!/bin/sh\n"),
			"usr/lib/python3/dist-packages/certbot/big.py": big,
			doc + "copyright":              []byte("Format: x\n"),
			doc + "changelog.Debian.gz":    compress(".gz", []byte(certbotChangelog)),
			doc + "changelog.gz":           compress(".gz", upstream),
			"usr/share/man/man1/certbot.1": []byte(".TH certbot\n"),
		}}, []byte(certbotChangelog), nil},
		{"native: changelog.gz only", debTree{files: map[string][]byte{
			doc + "changelog.gz": compress(".gz", native),
			doc + "copyright":    []byte("x\n"),
		}}, native, nil},
		{"no changelog", debTree{files: map[string][]byte{
			doc + "copyright":                         []byte("x\n"),
			"usr/share/doc/other/changelog.Debian.gz": compress(".gz", []byte(certbotChangelog)),
		}}, nil, ErrNoChangelog},
		{"doc dir is a symlink", debTree{files: map[string][]byte{
			"usr/share/doc/certbot/changelog.Debian.gz": compress(".gz", []byte(certbotChangelog)),
		}, symlinks: map[string]string{"usr/share/doc/python3-certbot": "certbot"}}, nil, ErrNoChangelog},
		{"changelog.Debian.gz is a symlink", debTree{files: map[string][]byte{
			"usr/share/doc/certbot/changelog.Debian.gz": compress(".gz", []byte(certbotChangelog)),
		}, symlinks: map[string]string{doc + "changelog.Debian.gz": "../certbot/changelog.Debian.gz"}}, nil, ErrNoChangelog},
		{"changelog too large", debTree{files: map[string][]byte{
			doc + "changelog.Debian.gz": compress(".gz", bytes.Repeat([]byte("  * x\n"), MaxChangelogSize/6+1)),
		}}, nil, ErrTooLarge},
		{"changelog not gzip", debTree{files: map[string][]byte{
			doc + "changelog.Debian.gz": []byte(certbotChangelog),
		}}, nil, ErrInvalid},
	}
	compressions := []struct{ name, arg string }{{"gzip", "-Zgzip"}, {"xz", "-Zxz"}, {"zstd", "-Zzstd"}, {"none", "-Znone"}}
	for _, l := range layouts {
		for _, c := range compressions {
			t.Run(l.name+"/"+c.name, func(t *testing.T) {
				deb := buildDeb(t, l.tree, c.arg)
				got, err := ReadChangelog(bytes.NewReader(deb), int64(len(deb)), "python3-certbot")
				if l.kind != nil {
					if err == nil || !errors.Is(err, l.kind) {
						t.Fatalf("got %d bytes, error %v; want an error wrapping %v", len(got), err, l.kind)
					}
					checkError(t, err)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, l.want) {
					t.Fatalf("got:\n%s\nwant:\n%s", got, l.want)
				}
			})
		}
	}
}

// TestReadChangelogGoBuilt covers what dpkg-deb does not make: other
// member orders and names, broken members.
func TestReadChangelogGoBuilt(t *testing.T) {
	ctl := compress(".gz", tarFile(tarEntry{name: "./control", data: certbotControl}))
	deb := func(dataName string, data []byte) []byte {
		return arFile(arEntry{"debian-binary", []byte("2.0\n")}, arEntry{"control.tar.gz", ctl}, arEntry{dataName, data})
	}
	gz := func(s string) string { return string(compress(".gz", []byte(s))) }
	const doc = "./usr/share/doc/python3-certbot/"
	tests := []struct {
		name    string
		deb     []byte
		pkg     string
		want    string
		kind    error
		message string
	}{
		{"changelog.gz before changelog.Debian.gz", deb("data.tar.xz", compress(".xz", tarFile(
			tarEntry{name: doc + "changelog.gz", data: gz("upstream\n")},
			tarEntry{name: doc + "changelog.Debian.gz", data: gz(certbotChangelog)}))),
			"python3-certbot", certbotChangelog, nil, ""},
		{"names without ./", deb("data.tar", tarFile(
			tarEntry{name: "usr/share/doc/python3-certbot/changelog.Debian.gz", data: gz("x (1) y; urgency=low\n")})),
			"python3-certbot", "x (1) y; urgency=low\n", nil, ""},
		{"changelog.Debian.gz a directory, changelog.gz a file", deb("data.tar.zst", compress(".zst", tarFile(
			tarEntry{name: doc + "changelog.Debian.gz/", typeflag: tar.TypeDir},
			tarEntry{name: doc + "changelog.gz", data: gz("native\n")}))),
			"python3-certbot", "native\n", nil, ""},
		{"concatenated gzip members", deb("data.tar.gz", compress(".gz", tarFile(
			tarEntry{name: doc + "changelog.Debian.gz", data: gz("one\n") + gz("two\n")}))),
			"python3-certbot", "one\ntwo\n", nil, ""},
		{"exactly the limit", deb("data.tar.gz", compress(".gz", tarFile(
			tarEntry{name: doc + "changelog.Debian.gz", data: gz(strings.Repeat("x", MaxChangelogSize))}))),
			"python3-certbot", strings.Repeat("x", MaxChangelogSize), nil, ""},
		{"one byte past the limit", deb("data.tar.gz", compress(".gz", tarFile(
			tarEntry{name: doc + "changelog.Debian.gz", data: gz(strings.Repeat("x", MaxChangelogSize+1))}))),
			"python3-certbot", "", ErrTooLarge, "changelog.Debian.gz is more than 1048576 bytes"},
		{"native changelog.gz too large", deb("data.tar.gz", compress(".gz", tarFile(
			tarEntry{name: doc + "changelog.gz", data: gz(strings.Repeat("x", MaxChangelogSize+1))}))),
			"python3-certbot", "", ErrTooLarge, "changelog.gz is more than"},
		{"empty data.tar", deb("data.tar", nil), "python3-certbot", "", ErrNoChangelog, "no usr/share/doc/python3-certbot/changelog.Debian.gz or changelog.gz in data.tar"},
		{"other package's changelog", deb("data.tar", tarFile(tarEntry{name: "./usr/share/doc/certbot/changelog.Debian.gz", data: gz("x")})),
			"python3-certbot", "", ErrNoChangelog, "no usr/share"},
		{"doc dir symlink", deb("data.tar", tarFile(tarEntry{name: "./usr/share/doc/python3-certbot", typeflag: tar.TypeSymlink},
			tarEntry{name: doc + "changelog.Debian.gz", data: gz("x")})),
			"python3-certbot", "", ErrNoChangelog, `usr/share/doc/python3-certbot is a symbolic link to "target"`},
		{"bz2 data", deb("data.tar.bz2", []byte("BZh")), "python3-certbot", "", ErrUnsupported, `compression of data member "data.tar.bz2"`},
		{"corrupt data.tar.xz", deb("data.tar.xz", []byte("not xz at all")), "python3-certbot", "", ErrInvalid, "corrupt xz data"},
		{"corrupt data.tar.gz", deb("data.tar.gz", []byte("not gzip")), "python3-certbot", "", ErrInvalid, "corrupt data.tar.gz"},
		{"data.tar cut in a file", deb("data.tar", tarFile(tarEntry{name: doc + "changelog.Debian.gz", data: gz(certbotChangelog)})[:600]),
			"python3-certbot", "", ErrInvalid, "changelog.Debian.gz: unexpected EOF"},
		{"not a deb", []byte("hello"), "python3-certbot", "", ErrInvalid, "not an ar archive"},
		{"no data member", arFile(arEntry{"debian-binary", []byte("2.0\n")}, arEntry{"control.tar.gz", ctl}),
			"python3-certbot", "", ErrInvalid, "no data member"},
		{"bad package name", deb("data.tar", nil), "../etc", "", ErrInvalid, `bad package name "../etc"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadChangelog(bytes.NewReader(tt.deb), int64(len(tt.deb)), tt.pkg)
			if tt.kind == nil {
				if err != nil || string(got) != tt.want {
					t.Fatalf("got %.100q, %v; want %.100q", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %.100q, want an error", got)
			}
			checkError(t, err)
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("error %q, want one wrapping %v containing %q", err, tt.kind, tt.message)
			}
		})
	}
}

func TestParseChangelog(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []ChangelogEntry
		message string // of the error, when want is nil
	}{
		{"certbot", certbotChangelog, certbotEntries, ""},
		{"extra blank lines, CRLF, tabs", "\n\nfoo (1:2.0~rc1-0.1) unstable  experimental ;urgency=high, binary-only=yes\r\n" +
			"\r\n\r\n  * one\r\n\t continued\r\n\r\n\r\n -- A B <ab@example.org>  Sat, 01 Jun 2024 00:00:00 +0000   \r\n\r\n\r\n" +
			"foo (1.0-1) UNRELEASED; URGENCY=Low (comment)\n  * first\n -- C <c@example.org> Fri, 31 May 2024 00:00:00 +0000\n",
			[]ChangelogEntry{
				{Package: "foo", Version: "1:2.0~rc1-0.1", Distribution: "unstable experimental", Urgency: "high",
					Changes: "  * one\n\t continued\n", Maintainer: "A B <ab@example.org>", Date: "Sat, 01 Jun 2024 00:00:00 +0000"},
				{Package: "foo", Version: "1.0-1", Distribution: "UNRELEASED", Urgency: "Low (comment)",
					Changes: "  * first\n", Maintainer: "C <c@example.org>", Date: "Fri, 31 May 2024 00:00:00 +0000"},
			}, ""},
		{"no urgency, odd tail", "bar (2) stable;\n\n  * x\n\n -- M <m@x>  d\n\nOld Changelog:\nbar (1) stable; urgency=low\n",
			[]ChangelogEntry{{Package: "bar", Version: "2", Distribution: "stable", Changes: "  * x\n", Maintainer: "M <m@x>", Date: "d"}}, ""},
		{"indented line where a header is expected", "bar (2) stable; urgency=low\n  * x\n -- M <m@x>  d\n  stray\nbar (1) stable; urgency=low\n",
			[]ChangelogEntry{{Package: "bar", Version: "2", Distribution: "stable", Urgency: "low", Changes: "  * x\n", Maintainer: "M <m@x>", Date: "d"}}, ""},
		{"missing trailer, then a header; cut at the end", "a1 (3) s; urgency=low\n\n  * three\n\na1 (2) s; urgency=low\n\n  * two\n",
			[]ChangelogEntry{
				{Package: "a1", Version: "3", Distribution: "s", Urgency: "low", Changes: "  * three\n"},
				{Package: "a1", Version: "2", Distribution: "s", Urgency: "low", Changes: "  * two\n"},
			}, ""},
		{"unindented body line, empty body, trailer without address", "a1 (3) s; urgency=low\nnot indented\n --  X Y  Mon\n" +
			"a1 (2) s; urgency=low\n\n --\n",
			[]ChangelogEntry{
				{Package: "a1", Version: "3", Distribution: "s", Urgency: "low", Changes: "not indented\n", Maintainer: "X Y", Date: "Mon"},
				{Package: "a1", Version: "2", Distribution: "s", Urgency: "low"},
			}, ""},
		{"a dashed line is not a trailer", "a1 (3) s; urgency=low\n  ---------\n -- M <m>  D\n",
			[]ChangelogEntry{{Package: "a1", Version: "3", Distribution: "s", Urgency: "low", Changes: "  ---------\n", Maintainer: "M <m>", Date: "D"}}, ""},
		{"empty", "", nil, "changelog: no entry"},
		{"blank lines only", "\n \n\t\n", nil, "changelog: no entry"},
		{"first line not a header", "Local variables:\nfoo (1) unstable; urgency=low\n", nil, `line 1: not an entry header: "Local variables:"`},
		{"no distribution", "foo (1); urgency=low\n", nil, "line 1"},
		{"no semicolon", "foo (1) unstable urgency=low\n", nil, "line 1"},
		{"space in version", "foo (1 2) unstable; urgency=low\n", nil, "line 1"},
		{"bad package name", "-foo (1) unstable; urgency=low\n", nil, "line 1"},
		{"bad distribution", "foo (1) unst/able; urgency=low\n", nil, "line 1"},
		{"indented header", "\n  foo (1) unstable; urgency=low\n", nil, "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChangelog([]byte(tt.in))
			if tt.want == nil {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				checkError(t, err)
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.message) {
					t.Fatalf("error %q, want ErrInvalid containing %q", err, tt.message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got:\n%#v\nwant:\n%#v", got, tt.want)
			}
		})
	}
}

// TestParseChangelogDpkg compares the header and trailer fields with what
// dpkg-parsechangelog reads.
func TestParseChangelogDpkg(t *testing.T) {
	needTool(t, "dpkg-parsechangelog")
	dir := t.TempDir()
	path := filepath.Join(dir, "changelog")
	if err := os.WriteFile(path, []byte(certbotChangelog), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, dir, "dpkg-parsechangelog", "-l", path, "--all", "--format", "rfc822")
	var versions []string
	for _, e := range certbotEntries {
		versions = append(versions, e.Version)
	}
	var got []string
	for l := range strings.SplitSeq(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "Version: "); ok {
			got = append(got, v)
		}
	}
	if !reflect.DeepEqual(got, versions) {
		t.Fatalf("dpkg-parsechangelog: %q, ParseChangelog: %q", got, versions)
	}
	for i, e := range certbotEntries {
		for _, f := range []struct{ field, want string }{{"Distribution", e.Distribution}, {"Urgency", e.Urgency},
			{"Maintainer", e.Maintainer}, {"Date", e.Date}} {
			out := run(t, dir, "dpkg-parsechangelog", "-l", path, "--offset", strconv.Itoa(i), "--count", "1", "-S", f.field)
			if got := strings.TrimSpace(string(out)); got != f.want {
				t.Errorf("entry %d: dpkg-parsechangelog %s: %q, want %q", i, f.field, got, f.want)
			}
		}
	}
}

func TestEntriesSince(t *testing.T) {
	e := func(v string) ChangelogEntry { return ChangelogEntry{Package: "p", Version: v} }
	entries := []ChangelogEntry{e("2:1.0-1"), e("1.10-1"), e("1.9-2"), e("1.9-1"), e("1.9~rc1-1"), e("1.0-1")}
	tests := []struct {
		after, upTo string
		want        []string
	}{
		{"", "", []string{"2:1.0-1", "1.10-1", "1.9-2", "1.9-1", "1.9~rc1-1", "1.0-1"}},
		{"1.9-1", "1.10-1", []string{"1.10-1", "1.9-2"}},
		{"1.9~rc1-1", "1.9-2", []string{"1.9-2", "1.9-1"}},
		{"1.0-1", "1.9-1", []string{"1.9-1", "1.9~rc1-1"}},
		{"", "1.9-1", []string{"1.9-1", "1.9~rc1-1", "1.0-1"}},
		{"1.10-1", "", []string{"2:1.0-1"}},
		{"1.9-1", "1.9-1", nil},
		{"1.10-1", "1.9-1", nil},
		{"1.9.5", "1.9.6", nil},
		{"1.9-1+deb12u1", "2:0", []string{"1.10-1", "1.9-2"}},
	}
	for _, tt := range tests {
		var got []string
		for _, x := range EntriesSince(entries, tt.after, tt.upTo) {
			got = append(got, x.Version)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("EntriesSince(%q, %q) = %q, want %q", tt.after, tt.upTo, got, tt.want)
		}
	}
}

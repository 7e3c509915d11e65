package stable

import (
	"strings"
	"testing"
)

// ctl is a control file with the given extra fields.
func ctl(pkg, version, arch, extra string) []byte {
	return []byte("Package: " + pkg + "\nVersion: " + version + "\nArchitecture: " + arch + "\n" + extra +
		"Description: test\n x\n")
}

// bin is a binary of source src with control data holding extra.
func bin(src, pkg, version, arch, extra string) Binary {
	return Binary{Package: pkg, Version: version, Arch: arch, Source: src, Control: ctl(pkg, version, arch, extra)}
}

const certbotLog = `certbot (2.9.0-1) bookworm; urgency=medium

  * New upstream release.
  * Depend on python3-josepy.

 -- Jane Doe <jane@example.org>  Tue, 05 Mar 2024 10:00:00 +0000

certbot (2.8.0-1) unstable; urgency=low

  [ Jane Doe ]
  * New upstream release.

  [ John Roe ]
  * Bump Standards-Version.

 -- Jane Doe <jane@example.org>  Mon, 05 Feb 2024 09:00:00 +0100

certbot (2.1.0-1) unstable; urgency=medium

  * New upstream release.

 -- Jane Doe <jane@example.org>  Sun, 04 Dec 2022 12:00:00 -0500

certbot (2.0.0-1) unstable; urgency=medium

  * New upstream release.

 -- Jane Doe <jane@example.org>  Sat, 03 Dec 2022 12:00:00 -0500
`

func TestMajorChanges(t *testing.T) {
	longLog := "big (2.0-1) bookworm; urgency=medium\n\n" + strings.Repeat("  * change\n", 250) +
		"\n -- M <m@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n"
	tests := []struct {
		name       string
		sources    []string
		before     []Binary
		after      []Binary
		changelogs map[string][]byte
		want       string
	}{
		{
			name:    "version change, binaries added and removed, relations, changelog",
			sources: []string{"certbot"},
			before: []Binary{
				bin("certbot", "python3-certbot", "2.1.0-1", "all",
					"Depends: python3-acme (>= 2.1.0), python3:any (>= 3.11)\nBreaks: certbot (<< 0.20)\n"),
				bin("certbot", "python3-certbot", "2.0.0-1", "all", "Depends: python3-acme (>= 2.0.0)\n"), // older: ignored
				bin("certbot", "certbot", "2.1.0-1", "all", "Depends: python3-certbot (= 2.1.0-1)\n"),
				bin("certbot", "oldbin", "2.1.0-1", "amd64", ""),
				bin("certbot", "certbot-tool", "2.1.0-1", "all", ""),
				bin("other", "python3-other", "1.0-1", "all", ""), // another family
			},
			after: []Binary{
				bin("certbot", "python3-certbot", "2.9.0-1", "all",
					"Depends: python3-acme (>= 2.9.0),\n python3:any (>=3.11),  python3-josepy\nBreaks: certbot (<< 0.20)\nProvides: certbot-api (= 2.9)\n"),
				bin("certbot", "certbot", "2.9.0-1", "all", "Depends: python3-certbot (= 2.9.0-1)\n"),
				bin("certbot", "python3-certbot-new", "2.9.0-1", "all", "Depends: python3-certbot\n"),
				bin("certbot", "certbot-tool", "2.9.0-1", "amd64", ""),
			},
			changelogs: map[string][]byte{"certbot": []byte(certbotLog)},
			want: `certbot 2.1.0-1 -> 2.9.0-1
  certbot: 2.1.0-1 -> 2.9.0-1 (all)
  - certbot-tool: 2.1.0-1 (all) [binary removed]
  + certbot-tool: 2.9.0-1 (amd64) [binary added]
  - oldbin: 2.1.0-1 (amd64) [binary removed]
  python3-certbot: 2.1.0-1 -> 2.9.0-1 (all)
  + python3-certbot-new: 2.9.0-1 (all) [binary added]
  Depends of certbot (all): - python3-certbot (= 2.1.0-1); + python3-certbot (= 2.9.0-1)
  Depends of python3-certbot (all):
    - python3-acme (>= 2.1.0)
    + python3-acme (>= 2.9.0)
    + python3-josepy
  Provides of python3-certbot (all): + certbot-api (= 2.9)
  Changelog (2.9.0-1, 2.8.0-1):
    certbot (2.9.0-1) bookworm; urgency=medium
      * New upstream release.
      * Depend on python3-josepy.
     -- Jane Doe <jane@example.org>  Tue, 05 Mar 2024 10:00:00 +0000
    certbot (2.8.0-1) unstable; urgency=low
      [ Jane Doe ]
      * New upstream release.

      [ John Roe ]
      * Bump Standards-Version.
     -- Jane Doe <jane@example.org>  Mon, 05 Feb 2024 09:00:00 +0100
`,
		},
		{
			name:    "architectures grouped, long change wrapped, binNMU source version, Breaks removed",
			sources: []string{"foo"},
			before: []Binary{
				bin("foo", "libfoo1", "1.0-1+b1", "amd64", "Source: foo (1.0-1)\nDepends: libc6 (>= 2.36), libssl3 (>= 3.0.0)\nBreaks: foo-old\n"),
				bin("foo", "libfoo1", "1.0-1+b1", "arm64", "Source: foo (1.0-1)\nDepends: libc6 (>= 2.36), libssl3 (>= 3.0.0)\nBreaks: foo-old\n"),
				bin("foo", "libfoo1", "1.0-1", "i386", "Source: foo\nDepends: libc6 (>= 2.36), libssl3 (>= 3.0.0)\n"),
			},
			after: []Binary{
				bin("foo", "libfoo1", "1.0-2", "amd64", "Source: foo\nDepends: libc6 (>= 2.36), libssl3t64 (>= 3.0.13), libzstd1 (>= 1.5.5), liblzma5 (>= 5.4.1), libbz2-1.0\n"),
				bin("foo", "libfoo1", "1.0-2", "arm64", "Source: foo\nDepends: libc6 (>= 2.36), libssl3t64 (>= 3.0.13), libzstd1 (>= 1.5.5), liblzma5 (>= 5.4.1), libbz2-1.0\n"),
				bin("foo", "libfoo1", "1.0-2", "i386", "Source: foo\nDepends: libc6 (>= 2.36), libssl3 (>= 3.0.0)\nBreaks: foo-old\n"),
			},
			changelogs: map[string][]byte{"foo": []byte("foo (1.0-2) bookworm; urgency=medium\n\n  * Fix CVE-2024-0001.\n\n -- M <m@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n\n" +
				"foo (1.0-1) unstable; urgency=medium\n\n  * Initial release.\n\n -- M <m@example.org>  Sun, 01 Jan 2023 00:00:00 +0000\n")},
			want: `foo 1.0-1 -> 1.0-2
  libfoo1: 1.0-1+b1 -> 1.0-2 (amd64)
  libfoo1: 1.0-1+b1 -> 1.0-2 (arm64)
  libfoo1: 1.0-1 -> 1.0-2 (i386)
  Depends of libfoo1 (amd64, arm64):
    - libssl3 (>= 3.0.0)
    + libssl3t64 (>= 3.0.13)
    + libzstd1 (>= 1.5.5)
    + liblzma5 (>= 5.4.1)
    + libbz2-1.0
  Breaks of libfoo1 (amd64, arm64): - foo-old
  Breaks of libfoo1 (i386): + foo-old
  Changelog (1.0-2):
    foo (1.0-2) bookworm; urgency=medium
      * Fix CVE-2024-0001.
     -- M <m@example.org>  Mon, 01 Jan 2024 00:00:00 +0000
`,
		},
		{
			name:    "new source, no changelog, source given twice, source of the Source field",
			sources: []string{"newsrc", "quiet", "newsrc"},
			before:  []Binary{bin("quiet", "quiet", "1.0-1", "all", "")},
			after: []Binary{
				{Package: "newbin", Version: "0.1-1", Arch: "amd64", Control: ctl("newbin", "0.1-1", "amd64", "Source: newsrc (0.1-1)\nDepends: libc6\n")},
				bin("quiet", "quiet", "1.0-2", "all", ""),
			},
			changelogs: map[string][]byte{"newsrc": []byte("newsrc (0.1-1) bookworm; urgency=low\n\n  * Initial release (Closes: #1).\n\n -- N <n@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n")},
			want: `newsrc 0.1-1 (new in the series)
  + newbin: 0.1-1 (amd64) [binary added]
  Changelog (0.1-1):
    newsrc (0.1-1) bookworm; urgency=low
      * Initial release (Closes: #1).
     -- N <n@example.org>  Mon, 01 Jan 2024 00:00:00 +0000

quiet 1.0-1 -> 1.0-2
  quiet: 1.0-1 -> 1.0-2 (all)
  (no changelog in the upload)
`,
		},
		{
			name:    "unreadable changelog, no entry in range, nothing uploaded, unknown source, relations equal but for spaces",
			sources: []string{"bad", "old", "gone", "nowhere"},
			before: []Binary{
				bin("bad", "bad", "1-1", "all", "Depends: a (>= 1) | b, c\n"),
				bin("old", "old", "1-1", "all", ""),
				bin("gone", "gone", "1-1", "all", ""),
			},
			after: []Binary{
				bin("bad", "bad", "1-2", "all", "Depends: a( >=1 )|b,\n c,\n"),
				bin("old", "old", "1-2", "all", ""),
			},
			changelogs: map[string][]byte{
				"bad": []byte("Local variables:\n"),
				"old": []byte("old (1-1) unstable; urgency=low\n\n  * x\n\n -- M <m@x>  D\n"),
			},
			want: `bad 1-1 -> 1-2
  bad: 1-1 -> 1-2 (all)
  (changelog unreadable: debpkg: changelog: line 1: not an entry header: "Local variables:")

old 1-1 -> 1-2
  old: 1-1 -> 1-2 (all)
  (no changelog entry after 1-1 up to 1-2)

gone 1-1 -> (no binaries uploaded)
  - gone: 1-1 (all) [binary removed]

nowhere (no binaries in the series or the upload)
`,
		},
		{
			name:    "long changelog cut, control characters, unchanged binary, missing control data",
			sources: []string{"big"},
			before: []Binary{
				bin("big", "big", "1.0-1", "all", ""),
				{Package: "big-data", Version: "1.0-1", Arch: "all", Source: "big"},
			},
			after: []Binary{
				bin("big", "big", "2.0-1", "all", ""),
				bin("big", "big-data", "1.0-1", "all", ""),
			},
			changelogs: map[string][]byte{"big": []byte(strings.Replace(longLog, "change\n", "\x1b[31mred\x1b[0m \xff\n", 1))},
			want: "big 1.0-1 -> 2.0-1\n" +
				"  big: 1.0-1 -> 2.0-1 (all)\n" +
				"  big-data: 1.0-1 (all) [unchanged]\n" +
				"  (relations of big-data (all) not compared: no control data)\n" +
				"  Changelog (2.0-1):\n" +
				"    big (2.0-1) bookworm; urgency=medium\n" +
				"      * \uFFFD[31mred\uFFFD[0m \uFFFD\n" +
				strings.Repeat("      * change\n", 198) +
				"    [... 52 more changelog lines]\n",
		},
		{
			name: "nothing",
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MajorChanges(tt.sources, tt.before, tt.after, tt.changelogs)
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
			// Deterministic whatever the order of the binaries.
			rb, ra := reversed(tt.before), reversed(tt.after)
			if again := MajorChanges(tt.sources, rb, ra, tt.changelogs); again != got {
				t.Errorf("binaries in reverse order give:\n%s", again)
			}
		})
	}
}

func reversed(bins []Binary) []Binary {
	out := make([]Binary, len(bins))
	for i, b := range bins {
		out[len(bins)-1-i] = b
	}
	return out
}

func TestDiffRelations(t *testing.T) {
	tests := []struct {
		before, after  string
		removed, added string // joined with "; "
	}{
		{"", "", "", ""},
		{"a, b", "b, a", "", ""},
		{"a (>= 1.0)", "a(>=1.0)", "", ""},
		{"a (>= 1.0) | b", "a (>= 1.0)|b , b", "", "b"},
		{"a, a, b", "c", "a; b", "c"},
		{"a [amd64 i386]", "a [amd64i386]", "a [amd64 i386]", "a [amd64i386]"},
		{"  x\n  (>= 2),\n ,", "", "x (>= 2)", ""},
	}
	for _, tt := range tests {
		r, a := diffRelations(tt.before, tt.after)
		if got, want := strings.Join(r, "; ")+" / "+strings.Join(a, "; "), tt.removed+" / "+tt.added; got != want {
			t.Errorf("diffRelations(%q, %q) = %q, want %q", tt.before, tt.after, got, want)
		}
	}
}

func FuzzMajorChanges(f *testing.F) {
	f.Add("Depends: a (>= 1), b\n", "Depends: a (>= 2), c\nBreaks: d\n", "1.0-1", "2.0-1", []byte(certbotLog))
	f.Add("Source: x (1)\n", "Source: x\n", "1", "1", []byte("x (1) s;\n"))
	f.Fuzz(func(t *testing.T, extraBefore, extraAfter, vBefore, vAfter string, log []byte) {
		before := []Binary{{Package: "p", Version: vBefore, Arch: "all", Source: "s", Control: []byte("Package: p\n" + extraBefore)}}
		after := []Binary{{Package: "p", Version: vAfter, Arch: "all", Source: "s", Control: []byte("Package: p\n" + extraAfter)}}
		got := MajorChanges([]string{"s"}, before, after, map[string][]byte{"s": log})
		if again := MajorChanges([]string{"s"}, before, after, map[string][]byte{"s": log}); again != got {
			t.Fatal("not deterministic")
		}
		if !strings.HasSuffix(got, "\n") {
			t.Fatalf("no final newline:\n%s", got)
		}
		lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, "  Changelog (") && len(lines)-i-1 > maxChangelogLines+1 {
				t.Fatalf("%d changelog lines:\n%s", len(lines)-i-1, got)
			}
		}
		for _, l := range lines {
			if l != strings.TrimRight(l, " \t") || strings.ContainsFunc(l, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
				t.Fatalf("line %q", l)
			}
		}
	})
}

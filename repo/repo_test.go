package repo

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func bin(t *testing.T, kind, pkg, ver, arch, sha string, extra ...string) Entry {
	t.Helper()
	raw := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\n%sFilename: pool/main/%s/%s/%s_%s_%s.deb\nSize: 10\nSHA256: %s\nDescription: test\n multi-line\n",
		pkg, ver, arch, strings.Join(extra, ""), pkg[:1], pkg, pkg, ver, arch, sha)
	e, err := NewEntry(kind, "main", []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func src(t *testing.T, pkg, ver, sha string) Entry {
	t.Helper()
	raw := fmt.Sprintf("Package: %s\nVersion: %s\nDirectory: pool/main/%s/%s\nChecksums-Sha256:\n %s 100 %s_%s.dsc\n", pkg, ver, pkg[:1], pkg, sha, pkg, ver)
	e, err := NewEntry(Source, "main", []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

const (
	shaA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	shaB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func names(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Kind+":"+e.String())
	}
	slices.Sort(out)
	return out
}

func TestAdd(t *testing.T) {
	for _, tc := range []struct {
		name         string
		have         func(t *testing.T) []Entry
		add          func(t *testing.T) Entry
		multi        bool
		wantErr      error // nil: no error; errAny: some error
		wantAdded    bool
		wantReplaced []string
		wantAfter    []string
	}{
		{name: "new", add: func(t *testing.T) Entry { return bin(t, Deb, "hello", "1.0", "amd64", shaA) },
			wantAdded: true, wantAfter: []string{"deb:hello=1.0/amd64"}},
		{name: "identical again", have: func(t *testing.T) []Entry { return []Entry{bin(t, Deb, "hello", "1.0", "amd64", shaA)} },
			add: func(t *testing.T) Entry { return bin(t, Deb, "hello", "1.0", "amd64", shaA) }, wantAfter: []string{"deb:hello=1.0/amd64"}},
		{name: "same version, other content", have: func(t *testing.T) []Entry { return []Entry{bin(t, Deb, "hello", "1.0", "amd64", shaA)} },
			add: func(t *testing.T) Entry { return bin(t, Deb, "hello", "1.0", "amd64", shaB) }, wantErr: ErrConflict, wantAfter: []string{"deb:hello=1.0/amd64"}},
		{name: "source same version, other files", have: func(t *testing.T) []Entry { return []Entry{src(t, "hello", "1.0", shaA)} },
			add: func(t *testing.T) Entry { return src(t, "hello", "1.0", shaB) }, wantErr: ErrConflict, wantAfter: []string{"source:hello=1.0/source"}},
		{name: "new version replaces", have: func(t *testing.T) []Entry {
			return []Entry{bin(t, Deb, "hello", "1.0", "amd64", shaA), bin(t, Deb, "hello", "1.0", "arm64", shaA)}
		},
			add: func(t *testing.T) Entry { return bin(t, Deb, "hello", "2.0", "amd64", shaB) }, wantAdded: true,
			wantReplaced: []string{"deb:hello=1.0/amd64"}, wantAfter: []string{"deb:hello=1.0/arm64", "deb:hello=2.0/amd64"}},
		{name: "multiple versions kept", have: func(t *testing.T) []Entry { return []Entry{bin(t, Deb, "hello", "1.0", "amd64", shaA)} },
			add: func(t *testing.T) Entry { return bin(t, Deb, "hello", "2.0", "amd64", shaB) }, multi: true, wantAdded: true,
			wantAfter: []string{"deb:hello=1.0/amd64", "deb:hello=2.0/amd64"}},
		{name: "udeb beside deb of same name", have: func(t *testing.T) []Entry { return []Entry{bin(t, Deb, "hello", "1.0", "amd64", shaA)} },
			add: func(t *testing.T) Entry { return bin(t, Udeb, "hello", "1.0", "amd64", shaB) }, wantAdded: true,
			wantAfter: []string{"deb:hello=1.0/amd64", "udeb:hello=1.0/amd64"}},
		{name: "arch all, then the same version for amd64", have: func(t *testing.T) []Entry { return []Entry{bin(t, Deb, "hello", "1.0", "all", shaA)} },
			add: func(t *testing.T) Entry { return bin(t, Deb, "hello", "1.0", "amd64", shaB) }, wantErr: ErrConflict, wantAfter: []string{"deb:hello=1.0/all"}},
		{name: "amd64, then the same version for arch all", have: func(t *testing.T) []Entry { return []Entry{bin(t, Deb, "hello", "1.0", "amd64", shaA)} },
			add: func(t *testing.T) Entry { return bin(t, Deb, "hello", "1.0", "all", shaB) }, wantErr: ErrConflict, wantAfter: []string{"deb:hello=1.0/amd64"}},
		{name: "arch all vs amd64, multiple versions", have: func(t *testing.T) []Entry { return []Entry{bin(t, Deb, "hello", "1.0", "all", shaA)} },
			add: func(t *testing.T) Entry { return bin(t, Deb, "hello", "1.0", "amd64", shaB) }, multi: true, wantErr: ErrConflict, wantAfter: []string{"deb:hello=1.0/all"}},
		{name: "amd64 and arm64 of one version", have: func(t *testing.T) []Entry { return []Entry{bin(t, Deb, "hello", "1.0", "amd64", shaA)} },
			add: func(t *testing.T) Entry { return bin(t, Deb, "hello", "1.0", "arm64", shaB) }, wantAdded: true,
			wantAfter: []string{"deb:hello=1.0/amd64", "deb:hello=1.0/arm64"}},
		{name: "architecture not served", add: func(t *testing.T) Entry { return bin(t, Deb, "hello", "1.0", "riscv64", shaA) },
			wantErr: errAny},
		{name: "component not served", add: func(t *testing.T) Entry {
			e := bin(t, Deb, "hello", "1.0", "amd64", shaA)
			e.Component = "contrib"
			return e
		}, wantErr: errAny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Suite{Name: "stable", Components: []string{"main"}, Architectures: []string{"amd64", "arm64"}}
			if tc.have != nil {
				s.Entries = tc.have(t)
			}
			replaced, added, err := s.Add(tc.add(t), tc.multi)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Add: %v", err)
			case tc.wantErr == errAny && err == nil, tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("Add: err %v, want %v", err, tc.wantErr)
			}
			if added != tc.wantAdded {
				t.Errorf("added = %v", added)
			}
			if got := names(replaced); !slices.Equal(got, tc.wantReplaced) {
				t.Errorf("replaced %v, want %v", got, tc.wantReplaced)
			}
			if tc.wantAfter != nil {
				if got := names(s.Entries); !slices.Equal(got, tc.wantAfter) {
					t.Errorf("after: %v, want %v", got, tc.wantAfter)
				}
			}
		})
	}
}

var errAny = errors.New("any error")

func TestFindAndRemove(t *testing.T) {
	s := &Suite{Name: "stable", Components: []string{"main"}, Architectures: []string{"amd64", "arm64"}}
	s.Entries = []Entry{
		bin(t, Deb, "tor", "0.4.8-1", "amd64", shaA),
		bin(t, Deb, "tor", "0.4.8-1", "arm64", shaA),
		bin(t, Deb, "tor", "0.4.9-1", "amd64", shaB),
		bin(t, Deb, "tor-geoipdb", "0.4.9-1", "all", shaB, "Source: tor\n"),
		bin(t, Deb, "libfoo1", "1:2.0-1", "amd64", shaA, "Source: foo (2.0-1)\n"),
		src(t, "tor", "0.4.8-1", shaA),
		src(t, "tor", "0.4.9-1", shaB),
		src(t, "foo", "2.0-1", shaA),
	}
	for _, tc := range []struct {
		pkg, version string
		want         []string
	}{
		{"tor", "", []string{"deb:tor=0.4.9-1/amd64", "source:tor=0.4.9-1/source"}},
		{"tor", "0.4.8-1", []string{"deb:tor=0.4.8-1/amd64", "deb:tor=0.4.8-1/arm64", "source:tor=0.4.8-1/source"}},
		{"tor-geoipdb", "", []string{"deb:tor-geoipdb=0.4.9-1/all", "source:tor=0.4.9-1/source"}},
		{"libfoo1", "", []string{"deb:libfoo1=1:2.0-1/amd64", "source:foo=2.0-1/source"}},
		{"foo", "", []string{"deb:libfoo1=1:2.0-1/amd64", "source:foo=2.0-1/source"}},
		{"tor", "9.9", nil},
		{"nothere", "", nil},
	} {
		if got := names(s.Find(tc.pkg, tc.version)); !slices.Equal(got, tc.want) {
			t.Errorf("Find(%s, %q) = %v, want %v", tc.pkg, tc.version, got, tc.want)
		}
	}
	if got := names(s.Remove("tor", "0.4.8-1")); !slices.Equal(got, []string{"deb:tor=0.4.8-1/amd64", "deb:tor=0.4.8-1/arm64", "source:tor=0.4.8-1/source"}) {
		t.Errorf("Remove(tor, 0.4.8-1) = %v", got)
	}
	if got := names(s.Remove("tor", "")); !slices.Equal(got, []string{"deb:tor=0.4.9-1/amd64", "source:tor=0.4.9-1/source"}) {
		t.Errorf("Remove(tor) = %v", got)
	}
	if got := s.Remove("tor", ""); got != nil {
		t.Errorf("second Remove(tor) = %v", got)
	}
}

func TestIndicesAndLoad(t *testing.T) {
	s := &Suite{Name: "stable", Components: []string{"main"}, Architectures: []string{"amd64", "arm64"}}
	for _, e := range []Entry{
		bin(t, Deb, "zed", "1.0", "amd64", shaA),
		bin(t, Deb, "alpha", "1.0", "all", shaA),
		bin(t, Udeb, "alpha-udeb", "1.0", "amd64", shaA),
		src(t, "zed", "1.0", shaA),
	} {
		if _, _, err := s.Add(e, false); err != nil {
			t.Fatal(err)
		}
	}
	idx := s.Indices()
	var paths []string
	for p := range idx {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	want := []string{"main/binary-amd64/Packages", "main/binary-arm64/Packages",
		"main/debian-installer/binary-amd64/Packages", "main/debian-installer/binary-arm64/Packages", "main/source/Sources"}
	if !slices.Equal(paths, want) {
		t.Fatalf("index paths %v, want %v", paths, want)
	}
	amd := string(idx["main/binary-amd64/Packages"])
	// Sorted by name, every stanza followed by a blank line, "all" in every architecture.
	if !strings.HasPrefix(amd, "Package: alpha\n") || !strings.HasSuffix(amd, "Description: test\n multi-line\n\n") ||
		strings.Count(amd, "\n\n") != 2 || !strings.Contains(amd, "Package: zed\n") {
		t.Errorf("amd64 Packages:\n%s", amd)
	}
	if arm := string(idx["main/binary-arm64/Packages"]); !strings.Contains(arm, "Package: alpha\n") || strings.Contains(arm, "zed") {
		t.Errorf("arm64 Packages:\n%s", arm)
	}
	if di := string(idx["main/debian-installer/binary-arm64/Packages"]); di != "" {
		t.Errorf("arm64 debian-installer Packages should be empty:\n%s", di)
	}
	back, err := Load("stable", s.Components, s.Architectures, idx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(back.Entries), names(s.Entries); !slices.Equal(got, want) {
		t.Errorf("Load(Indices()) = %v, want %v", got, want)
	}
}

// FuzzLoad: any index content either fails to load or loads into a suite
// whose written indices load back to the same entries.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("Package: a\nVersion: 1\nArchitecture: amd64\nSHA256: x\n\nPackage: b\nVersion: 2\nArchitecture: all\n"), []byte("Package: a\nVersion: 1\nChecksums-Sha256:\n x 1 a.dsc\n"))
	f.Add([]byte("Package: a\n"), []byte(""))
	f.Fuzz(func(t *testing.T, packages, sources []byte) {
		files := map[string][]byte{"main/binary-amd64/Packages": packages, "main/source/Sources": sources}
		s, err := Load("s", []string{"main"}, []string{"amd64"}, files)
		if err != nil {
			return
		}
		back, err := Load("s", []string{"main"}, []string{"amd64"}, s.Indices())
		if err != nil {
			t.Fatalf("written indices do not load: %v", err)
		}
		var kept []Entry
		for _, e := range s.Entries {
			if e.Kind == Source || e.Arch == "amd64" || e.Arch == "all" {
				kept = append(kept, e)
			}
		}
		if got, want := names(back.Entries), names(kept); !slices.Equal(got, want) {
			t.Fatalf("round trip: %v, want %v", got, want)
		}
	})
}

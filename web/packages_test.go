package web

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/blob/local"
	"github.com/aptsnap/aptsnap/catalog"
)

func TestDiffPackages(t *testing.T) {
	p := func(name, ver, arch string) pkg { return pkg{name, ver, arch} }
	tests := []struct {
		name     string
		from, to []pkg
		want     []change
	}{
		{"nothing", nil, nil, nil},
		{"same", []pkg{p("a", "1.0", "amd64")}, []pkg{p("a", "1.0", "amd64")}, nil},
		{"equal versions spelled differently", []pkg{p("a", "0:1.0", "amd64")}, []pkg{p("a", "1.0", "amd64")}, nil},
		{"added", nil, []pkg{p("a", "1.0", "all")},
			[]change{{Name: "a", Arch: "all", To: "1.0", Kind: added}}},
		{"removed", []pkg{p("a", "1.0", "all")}, nil,
			[]change{{Name: "a", Arch: "all", From: "1.0", Kind: removed}}},
		{"upgraded revision", []pkg{p("hello", "2.10-1", "amd64")}, []pkg{p("hello", "2.10-2", "amd64")},
			[]change{{Name: "hello", Arch: "amd64", From: "2.10-1", To: "2.10-2", Kind: upgraded}}},
		{"upgraded by epoch despite smaller upstream", []pkg{p("a", "9.0-1", "amd64")}, []pkg{p("a", "1:1.0-1", "amd64")},
			[]change{{Name: "a", Arch: "amd64", From: "9.0-1", To: "1:1.0-1", Kind: upgraded}}},
		{"downgraded by epoch", []pkg{p("a", "2:1.0", "amd64")}, []pkg{p("a", "1:5.0", "amd64")},
			[]change{{Name: "a", Arch: "amd64", From: "2:1.0", To: "1:5.0", Kind: downgraded}}},
		{"tilde sorts before release: upgrade", []pkg{p("a", "1.0~rc1-1", "amd64")}, []pkg{p("a", "1.0-1", "amd64")},
			[]change{{Name: "a", Arch: "amd64", From: "1.0~rc1-1", To: "1.0-1", Kind: upgraded}}},
		{"tilde: downgrade", []pkg{p("a", "1.0-1", "amd64")}, []pkg{p("a", "1.0~beta-1", "amd64")},
			[]change{{Name: "a", Arch: "amd64", From: "1.0-1", To: "1.0~beta-1", Kind: downgraded}}},
		{"stable update numbering", []pkg{p("tzdata", "2026a-0+deb12u1", "all")}, []pkg{p("tzdata", "2026a-0+deb12u2", "all")},
			[]change{{Name: "tzdata", Arch: "all", From: "2026a-0+deb12u1", To: "2026a-0+deb12u2", Kind: upgraded}}},
		{"numeric not lexical", []pkg{p("a", "1.9", "amd64")}, []pkg{p("a", "1.10", "amd64")},
			[]change{{Name: "a", Arch: "amd64", From: "1.9", To: "1.10", Kind: upgraded}}},
		{"architectures are separate packages",
			[]pkg{p("a", "1", "amd64"), p("a", "1", "arm64")}, []pkg{p("a", "2", "amd64"), p("a", "1", "i386")},
			[]change{
				{Name: "a", Arch: "amd64", From: "1", To: "2", Kind: upgraded},
				{Name: "a", Arch: "arm64", From: "1", Kind: removed},
				{Name: "a", Arch: "i386", To: "1", Kind: added},
			}},
		{"several versions count as the newest",
			[]pkg{p("a", "1", "amd64"), p("a", "3", "amd64")}, []pkg{p("a", "3", "amd64"), p("a", "2", "amd64")}, nil},
		{"sorted by name",
			[]pkg{p("z", "1", "all"), p("b", "1", "all")}, []pkg{p("z", "2", "all"), p("a", "1", "all")},
			[]change{
				{Name: "a", Arch: "all", To: "1", Kind: added},
				{Name: "b", Arch: "all", From: "1", Kind: removed},
				{Name: "z", Arch: "all", From: "1", To: "2", Kind: upgraded},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := diffPackages(tt.from, tt.to)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("diffPackages:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParsePackagesAndLookup(t *testing.T) {
	data := []byte("Package: zlib1g\nVersion: 1:1.2.13.dfsg-1\nArchitecture: amd64\nDescription: x\n continued\n\n" +
		"Package: hello\nArchitecture: amd64\nVersion: 2.10-3\n\n" +
		"Package: hello\nVersion: 2.10-2\nArchitecture: amd64\n\n" +
		"Package: base-files\nVersion: 12.4\nArchitecture: all\n")
	got, err := parsePackages(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []pkg{{"base-files", "12.4", "all"}, {"hello", "2.10-2", "amd64"}, {"hello", "2.10-3", "amd64"}, {"zlib1g", "1:1.2.13.dfsg-1", "amd64"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parsePackages = %+v, want %+v", got, want)
	}
	if l := lookup(got, "hello"); len(l) != 2 || l[0].Version != "2.10-2" {
		t.Errorf("lookup hello = %+v", l)
	}
	if l := lookup(got, "hell"); len(l) != 0 {
		t.Errorf("lookup hell = %+v", l)
	}
	if l := lookup(got, "zzz"); len(l) != 0 {
		t.Errorf("lookup zzz = %+v", l)
	}
}

func TestPackageIndices(t *testing.T) {
	f := func(p string) catalog.IndexFile { return catalog.IndexFile{Path: p} }
	got := packageIndices([]catalog.IndexFile{
		f("main/binary-amd64/Packages.xz"), f("main/binary-amd64/Packages.gz"),
		f("contrib/binary-amd64/Packages.xz"),
		f("main/binary-arm64/Packages.gz"), f("main/binary-arm64/Packages"),
		f("main/source/Sources.xz"), f("main/binary-amd64/Release"),
		f("main/debian-installer/binary-amd64/Packages.xz"),
		f("main/i18n/Translation-en.bz2"),
	})
	var s []string
	for _, p := range got {
		s = append(s, p.Comp+"="+p.File.Path)
	}
	want := "contrib=contrib/binary-amd64/Packages.xz main=main/binary-amd64/Packages.gz " +
		"main=main/binary-arm64/Packages main/debian-installer=main/debian-installer/binary-amd64/Packages.xz"
	if strings.Join(s, " ") != want {
		t.Errorf("packageIndices:\n got %s\nwant %s", strings.Join(s, " "), want)
	}
}

// synthetic returns a Packages index of n packages, the i-th at version
// fmt.Sprintf(ver, i).
func synthetic(n int, ver func(i int) string) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "Package: pkg%06d\nSource: src%06d\nVersion: %s\nInstalled-Size: 123\nMaintainer: Someone <x@example.org>\n"+
			"Architecture: amd64\nDepends: libc6 (>= 2.36), libfoo1 (>= 1.0)\nDescription: package %d\n"+
			"Filename: pool/main/p/pkg%06d/pkg%06d_%s_amd64.deb\nSize: 12345\n"+
			"SHA256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n\n",
			i, i, ver(i), i, i, i, ver(i))
	}
	return []byte(b.String())
}

func BenchmarkParsePackages63k(b *testing.B) {
	data := synthetic(63000, func(i int) string { return "1.0-1" })
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := parsePackages(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDiffPackages63k(b *testing.B) {
	x, _ := parsePackages(synthetic(63000, func(i int) string { return "1.0-1" }))
	y, _ := parsePackages(synthetic(63000, func(i int) string {
		if i%50 == 0 {
			return "1.0-2"
		}
		return "1.0-1"
	}))
	for b.Loop() {
		if c := diffLists([][]pkg{x}, [][]pkg{y}); len(c) != 1260 {
			b.Fatal(len(c))
		}
	}
}

func TestIndexCacheSharesAndEvicts(t *testing.T) {
	ctx := context.Background()
	store, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var files []catalog.IndexFile
	for i := range 3 {
		data := synthetic(10, func(int) string { return fmt.Sprintf("%d", i+1) })
		info, err := store.Put(ctx, bytes.NewReader(data), blob.Digest{}, -1)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, catalog.IndexFile{Path: "main/binary-amd64/Packages", SHA256: info.Digest})
	}
	c := newIndexCache(store, 20, "", 0) // room for two indices of 10
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if p, err := c.get(ctx, files[0]); err != nil || len(p) != 10 {
				t.Errorf("get: %d packages, %v", len(p), err)
			}
		})
	}
	wg.Wait()
	if n := c.parses.Load(); n != 1 {
		t.Errorf("8 concurrent gets parsed %d times", n)
	}
	c.get(ctx, files[1])
	c.get(ctx, files[0]) // most recent now; files[1] goes first
	c.get(ctx, files[2])
	if c.pkgs.Cost() != 20 || c.pkgs.Len() != 2 || c.pkgs.Contains(files[1].SHA256) || !c.pkgs.Contains(files[0].SHA256) {
		t.Errorf("after eviction: size %d, %d entries", c.pkgs.Cost(), c.pkgs.Len())
	}
	if p, _ := c.get(ctx, files[2]); p[0].Version != "3" {
		t.Errorf("files[2] = %+v", p[0])
	}
	if _, err := c.get(ctx, catalog.IndexFile{Path: "main/binary-amd64/Packages.xz", SHA256: blob.Sum([]byte("x"))}); err == nil {
		t.Error("missing index: no error")
	}
}

// TestSidecars: the package page's lookups go through the on-disk package
// lists, written once per index (by Warm or on first need), and give what
// a scan of the index gives; PruneSidecars removes those of dead indices.
func TestSidecars(t *testing.T) {
	ctx := context.Background()
	store, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "sidecars")
	var files []catalog.IndexFile
	for i := range 2 {
		data := synthetic(5000, func(j int) string { return fmt.Sprintf("1.%d-%d", i, j%3) })
		data = append(data, fmt.Sprintf("Package: pkg000007\nVersion: 9:%d\nArchitecture: all\n\n", i)...)
		info, err := store.Put(ctx, bytes.NewReader(data), blob.Digest{}, -1)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, catalog.IndexFile{Path: "main/binary-amd64/Packages", SHA256: info.Digest})
	}
	scanner := newIndexCache(store, 0, "", 0)
	c := newIndexCache(store, 0, dir, 0)
	if err := c.warm(ctx, files[0]); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pkg000000", "pkg000007", "pkg004999", "pkg005000", "aaa", "zzz", "pkg00000"} {
		for _, f := range files {
			want, err := scanner.find(ctx, f, name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.find(ctx, f, name)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("find %s: %v, want %v", name, got, want)
			}
		}
	}
	if n := c.sidecars.Load(); n != 2 {
		t.Errorf("%d sidecars written, want 2 (one by warm, one on first need)", n)
	}
	if c.scans.Load() != 0 || c.parses.Load() != 0 {
		t.Errorf("lookups scanned %d / parsed %d indices", c.scans.Load(), c.parses.Load())
	}
	n, err := PruneSidecars(dir, func(d blob.Digest) bool { return d == files[1].SHA256 })
	if err != nil || n != 1 {
		t.Fatalf("PruneSidecars: %d, %v", n, err)
	}
	if _, err := os.Stat(sidecarPath(dir, files[0].SHA256)); !os.IsNotExist(err) {
		t.Errorf("dead sidecar kept: %v", err)
	}
	if _, err := lookupSidecar(dir, files[1].SHA256, "pkg000001"); err != nil {
		t.Errorf("live sidecar: %v", err)
	}
	// A corrupt sidecar is an error, not a wrong answer.
	os.WriteFile(sidecarPath(dir, files[1].SHA256), []byte("garbage"), 0o644)
	if _, err := lookupSidecar(dir, files[1].SHA256, "pkg000001"); err == nil {
		t.Error("corrupt sidecar: no error")
	}
}

// TestScanPackagesMatchesParse: the streaming reader the sidecars use
// gives what the deb822 scanner gives, on odd but valid input too.
func TestScanPackagesMatchesParse(t *testing.T) {
	for _, in := range []string{
		string(synthetic(300, func(i int) string { return fmt.Sprintf("1.%d", i%7) })),
		"Package: a\nVersion: 1\nArchitecture: all\nDescription: x\n Package: fake\n .\n\n\n\nPackage: b\nArchitecture: amd64\nVersion: 2:1.0~rc1\n",
		"package: lower\nversion: 1\narchitecture: amd64\n",
		"Package: nover\n\nPackage: x\nVersion:\t3\nArchitecture: amd64\n\n",
	} {
		want, err := parsePackages([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		got, err := scanPackages(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("scanPackages(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestSidecarDamage: a sidecar damaged the way a crash can leave it (a
// file renamed into place before its blocks reached the disk: zeroed or
// cut short) gives an error or the right answer, never a wrong one, and
// find answers right from a rebuilt one.
func TestSidecarDamage(t *testing.T) {
	ctx := context.Background()
	data := synthetic(3000, func(j int) string { return fmt.Sprintf("1.%d", j%5) })
	pkgs, err := scanPackages(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	good := encodeSidecar(pkgs)
	textAt := len(sidecarMagic) + 4 + 4*len(pkgs)
	zero := func(from, to int) func([]byte) []byte {
		return func(b []byte) []byte {
			clear(b[from:to])
			return b
		}
	}
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"offsets zeroed", zero(len(sidecarMagic)+4, textAt)},
		{"second page of offsets zeroed", zero(len(sidecarMagic)+4+4096, len(sidecarMagic)+4+8192)},
		{"last offsets zeroed", zero(textAt-400, textAt)},
		{"text zeroed", zero(textAt, len(good))},
		{"text tail zeroed", zero(len(good)-4096, len(good))},
		{"cut in the text", func(b []byte) []byte { return b[:len(b)-5000] }},
		{"cut at a line end", func(b []byte) []byte {
			return b[:textAt+bytes.LastIndexByte(b[textAt:len(b)-5000], '\n')+1]
		}},
		{"cut in the offsets", func(b []byte) []byte { return b[:textAt-10] }},
		{"empty", func(b []byte) []byte { return b[:0] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, err := local.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			info, err := store.Put(ctx, bytes.NewReader(data), blob.Digest{}, -1)
			if err != nil {
				t.Fatal(err)
			}
			f := catalog.IndexFile{Path: "main/binary-amd64/Packages", SHA256: info.Digest}
			dir := t.TempDir()
			if err := os.WriteFile(sidecarPath(dir, f.SHA256), tc.damage(bytes.Clone(good)), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"pkg000000", "pkg000001", "pkg000900", "pkg001500", "pkg002998", "pkg002999", "zzz"} {
				want := fmt.Sprint(lookup(pkgs, name))
				if got, err := lookupSidecar(dir, f.SHA256, name); err == nil && fmt.Sprint(got) != want {
					t.Errorf("lookupSidecar %s = %d packages %.60v, want %v or an error", name, len(got), fmt.Sprint(got), want)
				}
			}
			c := newIndexCache(store, 0, dir, 0)
			for _, name := range []string{"pkg000000", "pkg001500", "pkg002999"} {
				got, err := c.find(ctx, f, name)
				if err != nil || fmt.Sprint(got) != fmt.Sprint(lookup(pkgs, name)) {
					t.Errorf("find %s = %.60v, %v", name, fmt.Sprint(got), err)
				}
			}
		})
	}
}

// TestSidecarEmptyFields: a stanza without Version or Architecture (valid,
// see TestScanPackagesMatchesParse) is read back from the sidecar, not
// taken for damage that has the index scanned and the sidecar rewritten
// on every lookup.
func TestSidecarEmptyFields(t *testing.T) {
	ctx := context.Background()
	store, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := "Package: a\nVersion: 1\nArchitecture: all\n\nPackage: nover\n\nPackage: noarch\nVersion: 2\n\nPackage: z\nVersion: 3\nArchitecture: amd64\n\n"
	info, err := store.Put(ctx, strings.NewReader(data), blob.Digest{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	f := catalog.IndexFile{Path: "main/binary-amd64/Packages", SHA256: info.Digest}
	c := newIndexCache(store, 0, t.TempDir(), 0)
	if err := c.warm(ctx, f); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, want string }{
		{"a", "[{a 1 all}]"}, {"nover", "[{nover  }]"}, {"noarch", "[{noarch 2 }]"}, {"z", "[{z 3 amd64}]"}, {"b", "[]"},
	} {
		for range 2 {
			got, err := c.find(ctx, f, tc.name)
			if err != nil || fmt.Sprint(got) != tc.want {
				t.Errorf("find %s = %v, %v; want %s", tc.name, got, err, tc.want)
			}
		}
	}
	if n := c.sidecars.Load(); n != 1 {
		t.Errorf("%d sidecars written, want 1 (by warm)", n)
	}
}

package repogen_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ulikunitz/xz"

	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/repogen"
)

var (
	signerOnce sync.Once
	signer     *pgp.Signer
)

func testSigner(t testing.TB) *pgp.Signer {
	t.Helper()
	signerOnce.Do(func() {
		key, err := pgp.GenerateKey("Sample Archive Key", "archive@example.invalid", pgp.AlgoEd25519)
		if err != nil {
			panic(err)
		}
		if signer, err = pgp.ParseSigner(key); err != nil {
			panic(err)
		}
	})
	return signer
}

var sampleDate = time.Date(2026, 11, 22, 8, 14, 46, 0, time.UTC)

// sampleRepo returns a repository with two suites, several components and
// architectures, arch-all packages, a lib* source and source packages.
func sampleRepo(t testing.TB, dir string) *repogen.Repo {
	return &repogen.Repo{
		Dir: dir, Origin: "Debian", Label: "Debian", Signer: testSigner(t), ByHash: true,
		Suites: []repogen.Suite{
			{
				Name: "bookworm", Architectures: []string{"amd64", "arm64"}, Date: sampleDate, Sources: true,
				Components: map[string][]repogen.Package{
					"main": {
						{Name: "hello", Version: "2.10-3", Arch: "amd64", Description: "example package based on GNU hello"},
						{Name: "hello", Version: "2.10-3", Arch: "arm64", Description: "example package based on GNU hello"},
						{Name: "libfoo1", Source: "libfoo", Version: "1.0-1", Arch: "amd64", Depends: "libc6 (>= 2.36)"},
						{Name: "hello", Version: "2.10-2", Arch: "amd64", Description: "example package based on GNU hello"},
						{Name: "docs-common", Version: "3.0", Arch: "all", Description: "shared documentation"},
					},
					"contrib": {
						{Name: "zz-tool", Version: "0.1-1", Arch: "arm64"},
					},
				},
			},
			{
				Name: "bookworm-updates", Architectures: []string{"amd64"}, Date: sampleDate.Add(time.Hour),
				ValidUntil: sampleDate.Add(7 * 24 * time.Hour),
				Components: map[string][]repogen.Package{
					"main": {
						{Name: "tzdata", Version: "2026a-0+deb12u1", Arch: "all", Description: "time zone data"},
						{Name: "hello", Version: "2.10-3", Arch: "amd64", Description: "example package based on GNU hello"},
					},
				},
			},
		},
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWriteLayout(t *testing.T) {
	dir := t.TempDir()
	r := sampleRepo(t, dir)
	if err := r.Write(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		"pool/main/h/hello/hello_2.10-3_amd64.deb",
		"pool/main/h/hello/hello_2.10-3_arm64.deb",
		"pool/main/h/hello/hello_2.10-2_amd64.deb",
		"pool/main/h/hello/hello_2.10.orig.tar.gz",
		"pool/main/h/hello/hello_2.10-3.debian.tar.xz",
		"pool/main/h/hello/hello_2.10-3.dsc",
		"pool/main/libf/libfoo/libfoo1_1.0-1_amd64.deb",
		"pool/main/libf/libfoo/libfoo_1.0-1.dsc",
		"pool/main/d/docs-common/docs-common_3.0_all.deb",
		"pool/main/d/docs-common/docs-common_3.0.tar.xz",
		"pool/contrib/z/zz-tool/zz-tool_0.1-1_arm64.deb",
		"pool/main/t/tzdata/tzdata_2026a-0+deb12u1_all.deb",
		"dists/bookworm/InRelease",
		"dists/bookworm/Release",
		"dists/bookworm/Release.gpg",
		"dists/bookworm/main/binary-amd64/Packages.xz",
		"dists/bookworm/main/binary-arm64/Release",
		"dists/bookworm/main/source/Sources.gz",
		"dists/bookworm/contrib/binary-amd64/Packages",
		"dists/bookworm-updates/main/binary-amd64/Packages.gz",
	} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("missing %s", p)
		}
	}
	if got := r.PoolPath("main", repogen.Package{Name: "libfoo1", Source: "libfoo", Version: "1:1.0-1", Arch: "amd64"}); got != "pool/main/libf/libfoo/libfoo1_1.0-1_amd64.deb" {
		t.Errorf("PoolPath with epoch = %s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "dists/bookworm-updates/main/source")); err == nil {
		t.Errorf("bookworm-updates has Sources though Sources is off")
	}

	// The exact Packages of bookworm/main/binary-amd64.
	deb := func(p string) (int, string, string) {
		b := readFile(t, filepath.Join(dir, p))
		m, s := md5.Sum(b), sha256.Sum256(b)
		return len(b), hex.EncodeToString(m[:]), hex.EncodeToString(s[:])
	}
	var want strings.Builder
	for _, s := range []struct{ head, file string }{
		{"Package: docs-common\nVersion: 3.0\nArchitecture: all\nMaintainer: " + repogen.Maintainer + "\nInstalled-Size: 6\nDescription: shared documentation\n", "pool/main/d/docs-common/docs-common_3.0_all.deb"},
		{"Package: hello\nVersion: 2.10-2\nArchitecture: amd64\nMaintainer: " + repogen.Maintainer + "\nInstalled-Size: 6\nDescription: example package based on GNU hello\n", "pool/main/h/hello/hello_2.10-2_amd64.deb"},
		{"Package: hello\nVersion: 2.10-3\nArchitecture: amd64\nMaintainer: " + repogen.Maintainer + "\nInstalled-Size: 6\nDescription: example package based on GNU hello\n", "pool/main/h/hello/hello_2.10-3_amd64.deb"},
		{"Package: libfoo1\nSource: libfoo\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: " + repogen.Maintainer + "\nInstalled-Size: 6\nDepends: libc6 (>= 2.36)\nDescription: sample package libfoo1\n", "pool/main/libf/libfoo/libfoo1_1.0-1_amd64.deb"},
	} {
		size, m, sh := deb(s.file)
		fmt.Fprintf(&want, "%sFilename: %s\nSize: %d\nMD5sum: %s\nSHA256: %s\n\n", s.head, s.file, size, m, sh)
	}
	got := string(readFile(t, filepath.Join(dir, "dists/bookworm/main/binary-amd64/Packages")))
	if got != want.String() {
		t.Errorf("Packages:\n%s\nwant:\n%s", got, want.String())
	}
	if got := string(readFile(t, filepath.Join(dir, "dists/bookworm/contrib/binary-amd64/Packages"))); got != "" {
		t.Errorf("contrib amd64 Packages = %q, want empty", got)
	}

	// Compressed indices decompress to the same bytes; gzip has no mtime.
	for _, idx := range []string{"main/binary-amd64/Packages", "main/binary-arm64/Packages", "main/source/Sources", "contrib/binary-arm64/Packages"} {
		plain := readFile(t, filepath.Join(dir, "dists/bookworm", idx))
		zr, err := gzip.NewReader(bytes.NewReader(readFile(t, filepath.Join(dir, "dists/bookworm", idx+".gz"))))
		if err != nil {
			t.Fatal(err)
		}
		if !zr.ModTime.IsZero() || zr.Name != "" {
			t.Errorf("%s.gz header has mtime %v name %q", idx, zr.ModTime, zr.Name)
		}
		gz, _ := io.ReadAll(zr)
		xr, err := xz.NewReader(bytes.NewReader(readFile(t, filepath.Join(dir, "dists/bookworm", idx+".xz"))))
		if err != nil {
			t.Fatal(err)
		}
		xzb, _ := io.ReadAll(xr)
		if !bytes.Equal(gz, plain) || !bytes.Equal(xzb, plain) {
			t.Errorf("%s: compressed variants differ from the plain file", idx)
		}
		if len(plain) > 0 && !bytes.HasSuffix(plain, []byte("\n\n")) {
			t.Errorf("%s: last stanza not followed by a blank line", idx)
		}
	}

	// Release: header fields in dak's order, and every listed file matches.
	rel := string(readFile(t, filepath.Join(dir, "dists/bookworm-updates/Release")))
	wantHead := "Origin: Debian\nLabel: Debian\nSuite: bookworm-updates\nCodename: bookworm-updates\n" +
		"Date: Sun, 22 Nov 2026 09:14:46 UTC\nValid-Until: Sun, 29 Nov 2026 08:14:46 UTC\nAcquire-By-Hash: yes\n" +
		"Architectures: amd64\nComponents: main\nDescription: Debian bookworm-updates\nMD5Sum:\n"
	if !strings.HasPrefix(rel, wantHead) {
		t.Errorf("Release head:\n%s\nwant:\n%s", rel, wantHead)
	}
	for _, suite := range []string{"bookworm", "bookworm-updates"} {
		checkRelease(t, filepath.Join(dir, "dists", suite))
	}
	mainRel := string(readFile(t, filepath.Join(dir, "dists/bookworm/Release")))
	if !strings.Contains(mainRel, "Components: main contrib\n") || !strings.Contains(mainRel, "Architectures: amd64 arm64\n") || strings.Contains(mainRel, "Valid-Until") {
		t.Errorf("bookworm Release:\n%s", mainRel)
	}
	sub := string(readFile(t, filepath.Join(dir, "dists/bookworm/main/source/Release")))
	if sub != "Archive: bookworm\nOrigin: Debian\nLabel: Debian\nAcquire-By-Hash: yes\nComponent: main\nArchitecture: source\n" {
		t.Errorf("source Release:\n%s", sub)
	}

	// Sources: one stanza per source, .dsc first, Directory set.
	src := string(readFile(t, filepath.Join(dir, "dists/bookworm/main/source/Sources")))
	var pkgs []string
	for _, line := range strings.Split(src, "\n") {
		if p, ok := strings.CutPrefix(line, "Package: "); ok {
			pkgs = append(pkgs, p)
		}
	}
	if strings.Join(pkgs, ",") != "docs-common,hello,hello,libfoo" {
		t.Errorf("Sources packages %v", pkgs)
	}
	if !strings.Contains(src, "Package: libfoo\nBinary: libfoo1\nVersion: 1.0-1\n") || !strings.Contains(src, "Directory: pool/main/libf/libfoo\n") {
		t.Errorf("Sources:\n%s", src)
	}

	// Signatures: ours verify, and InRelease carries the Release.
	kr := testSigner(t).Keyring()
	text, _, err := kr.VerifyClearsigned(readFile(t, filepath.Join(dir, "dists/bookworm/InRelease")))
	if err != nil {
		t.Fatal(err)
	}
	release := readFile(t, filepath.Join(dir, "dists/bookworm/Release"))
	if string(text)+"\n" != string(release) {
		t.Errorf("InRelease text differs from Release")
	}
	if _, err := kr.VerifyDetached(release, readFile(t, filepath.Join(dir, "dists/bookworm/Release.gpg"))); err != nil {
		t.Fatal(err)
	}
}

// checkRelease verifies that every file listed in suiteDir/Release has the
// listed size and hashes, that every index file under suiteDir is listed,
// and that by-hash copies exist for Packages and Sources files.
func checkRelease(t *testing.T, suiteDir string) {
	t.Helper()
	rel := readFile(t, filepath.Join(suiteDir, "Release"))
	listed := map[string]bool{}
	field := ""
	sc := bufio.NewScanner(bytes.NewReader(rel))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, " ") {
			field, _, _ = strings.Cut(line, ":")
			continue
		}
		if field != "MD5Sum" && field != "SHA256" {
			t.Fatalf("unexpected multi-line field %s", field)
		}
		// " <hash> <size right-aligned to 8> <path>"
		if len(line) < 2 || line[0] != ' ' {
			t.Fatalf("bad line %q", line)
		}
		parts := strings.Fields(line)
		if len(parts) != 3 {
			t.Fatalf("bad checksum line %q", line)
		}
		hash, sizeStr, name := parts[0], parts[1], parts[2]
		if want := fmt.Sprintf(" %s %8s %s", hash, sizeStr, name); line != want {
			t.Errorf("line %q not formatted as %q", line, want)
		}
		data := readFile(t, filepath.Join(suiteDir, name))
		size, _ := strconv.Atoi(sizeStr)
		if size != len(data) {
			t.Errorf("%s: size %d, listed %d", name, len(data), size)
		}
		var sum, kind string
		if field == "MD5Sum" {
			s := md5.Sum(data)
			sum, kind = hex.EncodeToString(s[:]), "MD5Sum"
		} else {
			s := sha256.Sum256(data)
			sum, kind = hex.EncodeToString(s[:]), "SHA256"
		}
		if sum != hash {
			t.Errorf("%s: %s %s, listed %s", name, field, sum, hash)
		}
		base := filepath.Base(name)
		if strings.HasPrefix(base, "Packages") || strings.HasPrefix(base, "Sources") {
			bh := filepath.Join(suiteDir, filepath.Dir(name), "by-hash", kind, hash)
			if got, err := os.ReadFile(bh); err != nil || !bytes.Equal(got, data) {
				t.Errorf("by-hash copy %s missing or different", bh)
			}
		}
		listed[name] = true
	}
	err := filepath.WalkDir(suiteDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "by-hash" {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(suiteDir, p)
		if !d.IsDir() && !slices.Contains([]string{"Release", "InRelease", "Release.gpg"}, rel) && !listed[filepath.ToSlash(rel)] {
			t.Errorf("%s is not listed in the Release", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWriteWithGpgv(t *testing.T) {
	needTools(t, "gpg", "gpgv")
	dir := t.TempDir()
	if err := sampleRepo(t, dir).Write(); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	keyring := filepath.Join(home, "key.gpg")
	cmd := exec.Command("gpg", "--homedir", home, "--batch", "--dearmor", "-o", keyring)
	cmd.Stdin = bytes.NewReader(testSigner(t).PublicKey())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gpg --dearmor: %v\n%s", err, out)
	}
	for _, suite := range []string{"bookworm", "bookworm-updates"} {
		d := filepath.Join(dir, "dists", suite)
		out := run(t, "gpgv", "--keyring", keyring, filepath.Join(d, "InRelease"))
		if !strings.Contains(out, "Good signature") {
			t.Errorf("gpgv InRelease: %s", out)
		}
		run(t, "gpgv", "--keyring", keyring, filepath.Join(d, "Release.gpg"), filepath.Join(d, "Release"))
	}
}

func TestWriteDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if err := sampleRepo(t, a).Write(); err != nil {
		t.Fatal(err)
	}
	if err := sampleRepo(t, b).Write(); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		if strings.HasSuffix(rel, "InRelease") || strings.HasSuffix(rel, "Release.gpg") {
			return nil
		}
		n++
		other, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil || !bytes.Equal(other, readFile(t, p)) {
			t.Errorf("%s differs between two writes", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Fatalf("compared only %d files", n)
	}
}

func TestWriteRewrite(t *testing.T) {
	dir := t.TempDir()
	r := sampleRepo(t, dir)
	if err := r.Write(); err != nil {
		t.Fatal(err)
	}
	oldPackages := readFile(t, filepath.Join(dir, "dists/bookworm/main/binary-amd64/Packages"))
	oldHash := sha256.Sum256(oldPackages)
	oldRelease := readFile(t, filepath.Join(dir, "dists/bookworm/Release"))

	t.Run("pool conflict leaves everything as it was", func(t *testing.T) {
		r2 := sampleRepo(t, dir)
		r2.Suites[0].Components["main"][2].Description = "changed"
		err := r2.Write()
		if err == nil || !strings.Contains(err.Error(), "repogen: pool file pool/main/libf/libfoo/") ||
			!strings.Contains(err.Error(), "already exists with different content") {
			t.Fatalf("err = %v", err)
		}
		if !bytes.Equal(readFile(t, filepath.Join(dir, "dists/bookworm/Release")), oldRelease) {
			t.Fatal("a failed Write changed dists/")
		}
	})

	t.Run("conflict within one write", func(t *testing.T) {
		r2 := sampleRepo(t, t.TempDir())
		r2.Suites[1].Components["main"][1].Description = "different from bookworm's"
		if err := r2.Write(); err == nil || !strings.Contains(err.Error(), "two different files") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("next generation", func(t *testing.T) {
		r2 := sampleRepo(t, dir)
		r2.Suites = r2.Suites[:1] // drop bookworm-updates
		r2.Suites[0].Date = sampleDate.Add(6 * time.Hour)
		r2.Suites[0].Sources = false
		r2.Suites[0].Components["main"] = append(r2.Suites[0].Components["main"][:1:1],
			repogen.Package{Name: "hello", Version: "2.10-4", Arch: "amd64"})
		if err := r2.Write(); err != nil {
			t.Fatal(err)
		}
		newPackages := string(readFile(t, filepath.Join(dir, "dists/bookworm/main/binary-amd64/Packages")))
		if !strings.Contains(newPackages, "Version: 2.10-4") || strings.Contains(newPackages, "libfoo1") {
			t.Errorf("Packages not rewritten:\n%s", newPackages)
		}
		if _, err := os.Stat(filepath.Join(dir, "dists/bookworm-updates")); err == nil {
			t.Error("dropped suite still in dists/")
		}
		if _, err := os.Stat(filepath.Join(dir, "dists/bookworm/main/source")); err == nil {
			t.Error("Sources still there after turning them off")
		}
		// Old pool files stay; the old by-hash copy stays for clients
		// holding the previous InRelease.
		if _, err := os.Stat(filepath.Join(dir, "pool/main/libf/libfoo/libfoo1_1.0-1_amd64.deb")); err != nil {
			t.Error("old pool file removed")
		}
		bh := filepath.Join(dir, "dists/bookworm/main/binary-amd64/by-hash/SHA256", hex.EncodeToString(oldHash[:]))
		if got, err := os.ReadFile(bh); err != nil || !bytes.Equal(got, oldPackages) {
			t.Error("old by-hash copy removed")
		}
		checkRelease(t, filepath.Join(dir, "dists/bookworm"))
	})
}

func TestWriteInvalid(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *repogen.Repo)
		want   string
	}{
		{"no dir", func(r *repogen.Repo) { r.Dir = "" }, "no output directory"},
		{"no signer", func(r *repogen.Repo) { r.Signer = nil }, "no Signer"},
		{"no suites", func(r *repogen.Repo) { r.Suites = nil }, "no suite"},
		{"duplicate suite", func(r *repogen.Repo) { r.Suites[1].Name = "bookworm" }, "listed twice"},
		{"bad suite name", func(r *repogen.Repo) { r.Suites[0].Name = "../x" }, "invalid suite name"},
		{"no architectures", func(r *repogen.Repo) { r.Suites[0].Architectures = nil }, "no architecture"},
		{"arch all in list", func(r *repogen.Repo) { r.Suites[0].Architectures = []string{"all"} }, "invalid architecture"},
		{"package arch not in suite", func(r *repogen.Repo) {
			r.Suites[1].Components["main"] = append(r.Suites[1].Components["main"], repogen.Package{Name: "x1", Version: "1", Arch: "arm64"})
		}, "not among the suite's architectures"},
		{"duplicate package", func(r *repogen.Repo) {
			r.Suites[1].Components["main"] = append(r.Suites[1].Components["main"], r.Suites[1].Components["main"][0])
		}, "listed twice"},
		{"bad component", func(r *repogen.Repo) { r.Suites[1].Components["../x"] = nil }, "invalid component"},
		{"bad package", func(r *repogen.Repo) {
			r.Suites[1].Components["main"] = append(r.Suites[1].Components["main"], repogen.Package{Name: "X", Version: "1", Arch: "all"})
		}, "invalid package name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			r := sampleRepo(t, dir)
			tt.mutate(r)
			err := r.Write()
			if err == nil || !strings.HasPrefix(err.Error(), "repogen: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("an invalid Write wrote files")
			}
		})
	}
}

// TestSourcePackagesExtract unpacks generated source packages with the real
// dpkg-source, which checks the .dsc checksums and the format.
func TestSourcePackagesExtract(t *testing.T) {
	needTools(t, "dpkg-source")
	dir := t.TempDir()
	if err := sampleRepo(t, dir).Write(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dsc, tree string
	}{
		{"pool/main/h/hello/hello_2.10-3.dsc", "hello-2.10"},
		{"pool/main/libf/libfoo/libfoo_1.0-1.dsc", "libfoo-1.0"},
		{"pool/main/d/docs-common/docs-common_3.0.dsc", "docs-common-3.0"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.dsc), func(t *testing.T) {
			out := t.TempDir()
			cmd := exec.Command("dpkg-source", "--no-check", "-x", filepath.Join(dir, tt.dsc), filepath.Join(out, tt.tree))
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("dpkg-source -x: %v\n%s", err, msg)
			}
			for _, f := range []string{"README", "debian/changelog", "debian/control", "debian/source/format"} {
				if _, err := os.Stat(filepath.Join(out, tt.tree, f)); err != nil {
					t.Errorf("extracted tree lacks %s", f)
				}
			}
			st, err := os.Stat(filepath.Join(out, tt.tree, "debian/rules"))
			if err != nil || st.Mode().Perm()&0o100 == 0 {
				t.Errorf("debian/rules missing or not executable")
			}
		})
	}
}

package repogen_test

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/deb822"
	"github.com/aptsnap/aptsnap/debpkg"
	"github.com/aptsnap/aptsnap/internal/apttest"
	"github.com/aptsnap/aptsnap/repogen"
)

// dpkgDeb builds a .deb with the real dpkg-deb (its defaults: control.tar.xz
// and data.tar.xz), with control as DEBIAN/control.
func dpkgDeb(t *testing.T, control string) []byte {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	for name, data := range map[string]string{
		"DEBIAN/control":                        control,
		"usr/share/doc/bar-utils/copyright":     "public domain\n",
		"usr/share/doc/bar-utils/changelog.gz":  "",
		"usr/share/lintian/overrides/bar-utils": "",
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out.deb")
	run(t, "dpkg-deb", "--root-owner-group", "--build", root, out)
	return readFile(t, out)
}

// barControl is the control file of a package as Debian builds them: a
// binNMU (Source with a version), Multi-Arch, Homepage, a long description.
const barControl = `Package: bar-utils
Source: bar (1.0-1)
Version: 1.0-1+b2
Architecture: amd64
Maintainer: Bar Maintainers <bar@example.invalid>
Installed-Size: 12
Pre-Depends: libc6 (>= 2.34)
Depends: libfoo1 (>= 1:1.0)
Section: admin
Priority: important
Multi-Arch: foreign
Homepage: https://bar.example.invalid/
Description: utilities for bar
 The bar utilities do what bar does,
 over two lines.
 .
 And a second paragraph.
`

// TestRealDebs serves .debs given as bytes: each goes where Debian puts it,
// its Packages stanza is its control file's with the checksums of those
// bytes (and the Priority given over the control file's), and the real
// apt-get downloads them byte for byte, checking those checksums.
func TestRealDebs(t *testing.T) {
	foo, err := repogen.BuildDeb(repogen.Package{Name: "libfoo1", Source: "foo", Version: "1:1.0-1", Arch: "amd64",
		Depends: "libc6 (>= 2.36)", Section: "libs", Priority: "optional", Description: "the foo library"})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		deb      []byte
		filename string
		fields   map[string]string // fields of the stanza besides the control file's
	}
	pkgs := []repogen.Package{{Deb: foo}}
	wants := map[string]want{
		"libfoo1": {foo, "pool/main/f/foo/libfoo1_1.0-1_amd64.deb", nil},
	}
	if _, err := exec.LookPath("dpkg-deb"); err == nil {
		bar := dpkgDeb(t, barControl)
		// Priority as the archive's override file says, not the .deb.
		pkgs = append(pkgs, repogen.Package{Deb: bar, Name: "bar-utils", Priority: "required"})
		wants["bar-utils"] = want{bar, "pool/main/b/bar/bar-utils_1.0-1+b2_amd64.deb", map[string]string{"Priority": "required"}}
	} else {
		t.Log("dpkg-deb not installed: only a .deb made by BuildDeb")
	}
	// A generated package beside them.
	pkgs = append(pkgs, repogen.Package{Name: "hello", Version: "2.10-3", Arch: "amd64"})

	dir := t.TempDir()
	r := &repogen.Repo{Dir: dir, Origin: "Debian", Label: "Debian", Signer: testSigner(t), ByHash: true,
		Suites: []repogen.Suite{{Name: "bookworm", Architectures: []string{"amd64"},
			Date: time.Now().Add(-time.Hour), Components: map[string][]repogen.Package{"main": pkgs}}}}
	if got := r.PoolPath("main", repogen.Package{Deb: foo}); got != wants["libfoo1"].filename {
		t.Errorf("PoolPath of a Deb: %s, want %s", got, wants["libfoo1"].filename)
	}
	if err := r.Write(); err != nil {
		t.Fatal(err)
	}

	packages := readFile(t, filepath.Join(dir, "dists/bookworm/main/binary-amd64/Packages"))
	rd := deb822.NewReader(bytes.NewReader(packages))
	seen := map[string]bool{}
	for {
		st, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := st.Get("Package")
		w, ok := wants[name]
		if !ok {
			if name != "hello" {
				t.Errorf("unexpected stanza %s", name)
			}
			continue
		}
		seen[name] = true
		if got := readFile(t, filepath.Join(dir, filepath.FromSlash(w.filename))); !bytes.Equal(got, w.deb) {
			t.Errorf("%s: %s is not the .deb given", name, w.filename)
		}
		md, s1, s256 := md5.Sum(w.deb), sha1.Sum(w.deb), sha256.Sum256(w.deb)
		fields := map[string]string{
			"Filename": w.filename, "Size": strconv.Itoa(len(w.deb)),
			"MD5sum": hex.EncodeToString(md[:]), "SHA1": hex.EncodeToString(s1[:]), "SHA256": hex.EncodeToString(s256[:]),
		}
		control, err := debpkg.ReadControl(bytes.NewReader(w.deb), int64(len(w.deb)))
		if err != nil {
			t.Fatal(err)
		}
		cp, err := deb822.NewReader(bytes.NewReader(control)).Next()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range cp.Fields {
			if _, set := fields[f.Name]; !set {
				fields[f.Name] = f.Value
			}
		}
		for k, v := range w.fields {
			fields[k] = v
		}
		for k, v := range fields {
			if got := st.Get(k); got != v {
				t.Errorf("%s: %s %q, want %q", name, k, got, v)
			}
		}
		if len(st.Fields) != len(fields) {
			t.Errorf("%s: %d fields, want %d:\n%s", name, len(st.Fields), len(fields), st.Raw())
		}
	}
	for name := range wants {
		if !seen[name] {
			t.Errorf("Packages lists no %s:\n%s", name, packages)
		}
	}

	// The real apt-get checks the stanzas' sizes and checksums.
	if _, err := os.Stat("/usr/bin/apt-get"); err != nil {
		t.Skip("apt-get not installed")
	}
	srv := serve(t, dir)
	a := apttest.New(t, fmt.Sprintf("deb [signed-by=%s] %s/ bookworm main\n", writeKey(t, r.Signer), srv.url))
	if _, err := a.Run("update"); err != nil {
		t.Fatal(err)
	}
	for name, w := range wants {
		if _, err := a.Run("download", name); err != nil {
			t.Fatal(err)
		}
		got := readFile(t, filepath.Join(a.Root(), "download", strings.Replace(filepath.Base(w.filename), "_1.0-1_", "_1%3a1.0-1_", 1)))
		if !bytes.Equal(got, w.deb) {
			t.Errorf("apt-get download %s: not the .deb given", name)
		}
	}
	if _, ok := wants["bar-utils"]; ok {
		out, _, err := a.Exec("apt-cache", "show", "bar-utils")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "\nPriority: required\n") || !strings.Contains(out, "\n And a second paragraph.\n") {
			t.Errorf("apt-cache show bar-utils:\n%s", out)
		}
	}
}

// TestRealDebsInvalid: what a .deb given as bytes must agree with.
func TestRealDebsInvalid(t *testing.T) {
	foo, err := repogen.BuildDeb(repogen.Package{Name: "libfoo1", Source: "foo", Version: "1.0-1", Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		mutate  func(s *repogen.Suite)
		wantErr string
	}{
		{"not a .deb", func(s *repogen.Suite) { s.Components["main"][0].Deb = []byte("!<arch>\nnonsense") }, "package given as a .deb"},
		{"another name", func(s *repogen.Suite) { s.Components["main"][0].Name = "libbar1" }, `name "libbar1", but its .deb says "libfoo1"`},
		{"another version", func(s *repogen.Suite) { s.Components["main"][0].Version = "1.0-2" }, `version "1.0-2"`},
		{"another source", func(s *repogen.Suite) { s.Components["main"][0].Source = "libfoo1" }, `source "libfoo1"`},
		{"another architecture", func(s *repogen.Suite) { s.Components["main"][0].Arch = "all" }, `architecture "all"`},
		{"a description", func(s *repogen.Suite) { s.Components["main"][0].Description = "x" }, "come from its .deb"},
		{"not among the architectures", func(s *repogen.Suite) { s.Architectures = []string{"arm64"} }, "not among the suite's architectures"},
		{"a bad priority", func(s *repogen.Suite) { s.Components["main"][0].Priority = "very high" }, "invalid priority"},
		{"with Translations", func(s *repogen.Suite) { s.Translations = true }, "cannot have Sources, Translations, Contents or Dep11"},
		{"with Sources", func(s *repogen.Suite) { s.Sources = true }, "cannot have Sources"},
		{"a udeb with Contents", func(s *repogen.Suite) {
			s.Components["main"][0].Deb = nil
			s.Components["main"][0].Name, s.Components["main"][0].Version, s.Components["main"][0].Arch = "hello", "1.0", "amd64"
			s.Installer = map[string][]repogen.Package{"main": {{Deb: foo}}}
			s.Contents = true
		}, "cannot have Contents"},
		{"the same twice", func(s *repogen.Suite) { s.Components["main"] = append(s.Components["main"], repogen.Package{Deb: foo}) }, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := repogen.Suite{Name: "bookworm", Architectures: []string{"amd64"},
				Components: map[string][]repogen.Package{"main": {{Deb: foo}}}}
			tt.mutate(&s)
			r := &repogen.Repo{Dir: t.TempDir(), Signer: testSigner(t), Suites: []repogen.Suite{s}}
			err := r.Write()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Write: %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
	// A udeb given as a .deb, without Contents, is fine.
	r := &repogen.Repo{Dir: t.TempDir(), Signer: testSigner(t), Suites: []repogen.Suite{{Name: "bookworm", Architectures: []string{"amd64"},
		Components: map[string][]repogen.Package{"main": {{Name: "hello", Version: "1.0", Arch: "amd64"}}},
		Installer:  map[string][]repogen.Package{"main": {{Deb: foo}}}}}}
	if err := r.Write(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(r.Dir, "pool/main/f/foo/libfoo1_1.0-1_amd64.udeb")); !bytes.Equal(got, foo) {
		t.Error("the udeb is not the bytes given")
	}
	if p := string(readFile(t, filepath.Join(r.Dir, "dists/bookworm/main/debian-installer/binary-amd64/Packages"))); !strings.Contains(p, "Filename: pool/main/f/foo/libfoo1_1.0-1_amd64.udeb\n") {
		t.Errorf("installer Packages:\n%s", p)
	}
	if got, err := repogen.BuildDeb(repogen.Package{Deb: foo}); err != nil || !bytes.Equal(got, foo) {
		t.Errorf("BuildDeb of a Deb: %v, same bytes %v", err, bytes.Equal(got, foo))
	}
}

package repogen_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/repogen"
)

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestBuildDebWithDpkg checks generated .debs with the real dpkg-deb and
// installs them with the real dpkg into a throwaway root.
func TestBuildDebWithDpkg(t *testing.T) {
	needTools(t, "dpkg-deb", "dpkg")
	tests := []struct {
		name       string
		pkg        repogen.Package
		wantFields map[string]string
		wantFiles  []string // paths dpkg-deb --contents must list
		mode       map[string]os.FileMode
	}{
		{
			name:       "default doc file",
			pkg:        repogen.Package{Name: "hello", Version: "2.10-3", Arch: "amd64", Description: "example package based on GNU hello"},
			wantFields: map[string]string{"Package": "hello", "Version": "2.10-3", "Architecture": "amd64", "Description": "example package based on GNU hello", "Maintainer": repogen.Maintainer},
			wantFiles:  []string{"./usr/share/doc/hello/README"},
		},
		{
			name:       "arch all with epoch and depends",
			pkg:        repogen.Package{Name: "tzdata", Version: "1:2026a-0+deb12u1", Arch: "all", Depends: "debconf (>= 0.5) | debconf-2.0"},
			wantFields: map[string]string{"Version": "1:2026a-0+deb12u1", "Architecture": "all", "Depends": "debconf (>= 0.5) | debconf-2.0", "Description": "sample package tzdata"},
			wantFiles:  []string{"./usr/share/doc/tzdata/README"},
		},
		{
			name: "custom files and source",
			pkg: repogen.Package{Name: "libfoo1", Source: "foo", Version: "1.0-1", Arch: "amd64", Files: map[string][]byte{
				"/usr/bin/foo":             []byte("#!/bin/sh\necho foo\n"),
				"./usr/lib/libfoo.so.1":    bytes.Repeat([]byte{0}, 3000),
				"etc/foo/foo.conf":         []byte("x=1\n"),
				"usr/share/doc/libfoo1/ok": nil,
			}},
			wantFields: map[string]string{"Package": "libfoo1", "Source": "foo", "Installed-Size": "14"},
			wantFiles:  []string{"./usr/bin/foo", "./usr/lib/libfoo.so.1", "./etc/foo/foo.conf", "./usr/share/doc/libfoo1/ok"},
			mode:       map[string]os.FileMode{"usr/bin/foo": 0o755, "etc/foo/foo.conf": 0o644},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deb, err := repogen.BuildDeb(tt.pkg)
			if err != nil {
				t.Fatal(err)
			}
			again, err := repogen.BuildDeb(tt.pkg)
			if err != nil || !bytes.Equal(deb, again) {
				t.Fatalf("BuildDeb is not deterministic (err %v)", err)
			}
			dir := t.TempDir()
			path := filepath.Join(dir, tt.pkg.Name+".deb")
			if err := os.WriteFile(path, deb, 0o644); err != nil {
				t.Fatal(err)
			}
			info := run(t, "dpkg-deb", "--info", path)
			if !strings.Contains(info, "new Debian package, version 2.0.") {
				t.Errorf("dpkg-deb --info:\n%s", info)
			}
			for field, want := range tt.wantFields {
				got := strings.TrimSpace(run(t, "dpkg-deb", "--field", path, field))
				if got != want {
					t.Errorf("field %s = %q, want %q", field, got, want)
				}
			}
			contents := run(t, "dpkg-deb", "--contents", path)
			for _, f := range tt.wantFiles {
				if !strings.Contains(contents, " "+f+"\n") {
					t.Errorf("dpkg-deb --contents lacks %s:\n%s", f, contents)
				}
			}
			if !strings.Contains(contents, "root/root") {
				t.Errorf("files not owned by root/root:\n%s", contents)
			}

			// Install into a throwaway root.
			root := filepath.Join(dir, "root")
			for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
				if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, "dpkg", "--root="+root, "--force-depends", "-i", path)
			status := run(t, "dpkg", "--root="+root, "-s", tt.pkg.Name)
			if !strings.Contains(status, "Status: install ok installed") {
				t.Errorf("dpkg -s:\n%s", status)
			}
			run(t, "dpkg", "--root="+root, "--verify", tt.pkg.Name)
			for _, f := range tt.wantFiles {
				if _, err := os.Stat(filepath.Join(root, f)); err != nil {
					t.Errorf("installed file: %v", err)
				}
			}
			for f, want := range tt.mode {
				st, err := os.Stat(filepath.Join(root, f))
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != want {
					t.Errorf("%s mode %v, want %v", f, st.Mode().Perm(), want)
				}
			}
		})
	}
}

func TestBuildDebInvalid(t *testing.T) {
	tests := []struct {
		name string
		pkg  repogen.Package
	}{
		{"empty name", repogen.Package{Version: "1", Arch: "all"}},
		{"upper-case name", repogen.Package{Name: "Hello", Version: "1", Arch: "all"}},
		{"one-letter name", repogen.Package{Name: "h", Version: "1", Arch: "all"}},
		{"bad version", repogen.Package{Name: "hello", Version: "v1", Arch: "all"}},
		{"no arch", repogen.Package{Name: "hello", Version: "1"}},
		{"multi-line description", repogen.Package{Name: "hello", Version: "1", Arch: "all", Description: "a\nb"}},
		{"bad source", repogen.Package{Name: "hello", Source: "Src", Version: "1", Arch: "all"}},
		{"dotdot path", repogen.Package{Name: "hello", Version: "1", Arch: "all", Files: map[string][]byte{"../etc/passwd": nil}}},
		{"file and dir", repogen.Package{Name: "hello", Version: "1", Arch: "all", Files: map[string][]byte{"a": nil, "a/b": nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := repogen.BuildDeb(tt.pkg)
			if err == nil {
				t.Fatal("want error")
			}
			if !strings.HasPrefix(err.Error(), "repogen: ") {
				t.Errorf("error %q lacks the repogen: prefix", err)
			}
		})
	}
}

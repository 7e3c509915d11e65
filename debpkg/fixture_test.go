package debpkg

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// upload is a source package and an upload of it: a .dsc, its files, a
// .deb and a .changes listing them all.
type upload struct {
	dscName     string
	dsc         []byte
	changesName string
	changes     []byte
	files       map[string][]byte // every file the .changes lists, .dsc included
	sourceFiles []string          // the files the .dsc lists, in order
	built       string            // "dpkg" when dpkg-source and dpkg-genchanges made it
}

var (
	uploadOnce sync.Once
	theUpload  upload
	uploadErr  error
)

const sourceControl = `Source: hello
Section: devel
Priority: optional
Maintainer: Test Maintainer <test@example.org>
Uploaders: Other One <other@example.org>
Build-Depends: debhelper-compat (= 13)
Standards-Version: 4.6.2
Homepage: https://example.org/hello
Vcs-Git: https://example.org/hello.git
Vcs-Browser: https://example.org/hello
Rules-Requires-Root: no

Package: hello
Architecture: any
Depends: ${shlibs:Depends}, ${misc:Depends}
Description: the classic greeting
 GNU hello prints a friendly greeting.

Package: hello-doc
Architecture: all
Description: documentation of hello
 The manual.
`

const changelog = `hello (1.0-1) unstable; urgency=medium

  * Initial release.

 -- Test Maintainer <test@example.org>  Mon, 01 Jan 2024 00:00:00 +0000
`

const debControl = `Package: hello
Source: hello
Version: 1.0-1
Architecture: amd64
Maintainer: Test Maintainer <test@example.org>
Installed-Size: 12
Section: devel
Priority: optional
Description: the classic greeting
 GNU hello prints a friendly greeting.
`

// getUpload builds the upload once: with dpkg-source -b and
// dpkg-genchanges when they are installed, else by hand.
func getUpload(t *testing.T) upload {
	t.Helper()
	uploadOnce.Do(func() {
		if _, err := exec.LookPath("dpkg-genchanges"); err == nil {
			theUpload, uploadErr = dpkgUpload()
		} else {
			theUpload = handUpload()
		}
	})
	if uploadErr != nil {
		t.Fatal(uploadErr)
	}
	return theUpload
}

func dpkgUpload() (upload, error) {
	dir, err := os.MkdirTemp("", "debpkg-upload")
	if err != nil {
		return upload{}, err
	}
	defer os.RemoveAll(dir)
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(p), 0o755)
		}
		if err == nil {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
	}
	write("hello-1.0/README", "Hello, world.\n")
	write("hello-1.0/hello.c", "int main(void) { return 0; }\n")
	if err != nil {
		return upload{}, err
	}
	sh := func(wd string, name string, args ...string) error {
		cmd := exec.Command(name, args...)
		cmd.Dir = wd
		cmd.Env = append(os.Environ(), "LC_ALL=C", "SOURCE_DATE_EPOCH=1700000000")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %v: %v\n%s", name, args, err, out)
		}
		return nil
	}
	if err := sh(dir, "tar", "czf", "hello_1.0.orig.tar.gz", "hello-1.0"); err != nil {
		return upload{}, err
	}
	write("hello-1.0/debian/source/format", "3.0 (quilt)\n")
	write("hello-1.0/debian/control", sourceControl)
	write("hello-1.0/debian/changelog", changelog)
	write("hello-1.0/debian/rules", "#!/usr/bin/make -f\n%:\n\tdh $@\n")
	write("pkg/DEBIAN/control", debControl)
	write("pkg/usr/share/doc/hello/README", "Hello, world.\n")
	write("hello-1.0/debian/files", "hello_1.0-1_amd64.deb devel optional\n")
	if err != nil {
		return upload{}, err
	}
	if err := sh(dir, "dpkg-source", "-b", "hello-1.0"); err != nil {
		return upload{}, err
	}
	if err := sh(dir, "dpkg-deb", "--root-owner-group", "-Zxz", "--build", "pkg", "hello_1.0-1_amd64.deb"); err != nil {
		return upload{}, err
	}
	if err := sh(filepath.Join(dir, "hello-1.0"), "dpkg-genchanges", "-sa", "-O../hello_1.0-1_amd64.changes"); err != nil {
		return upload{}, err
	}
	u := upload{dscName: "hello_1.0-1.dsc", changesName: "hello_1.0-1_amd64.changes", files: map[string][]byte{}, built: "dpkg",
		sourceFiles: []string{"hello_1.0.orig.tar.gz", "hello_1.0-1.debian.tar.xz"}}
	for _, name := range []string{u.dscName, "hello_1.0.orig.tar.gz", "hello_1.0-1.debian.tar.xz", "hello_1.0-1_amd64.deb"} {
		if u.files[name], err = os.ReadFile(filepath.Join(dir, name)); err != nil {
			return upload{}, err
		}
	}
	u.dsc = u.files[u.dscName]
	if u.changes, err = os.ReadFile(filepath.Join(dir, u.changesName)); err != nil {
		return upload{}, err
	}
	return u, nil
}

// handUpload writes what dpkg-source and dpkg-genchanges would.
func handUpload() upload {
	u := upload{dscName: "hello_1.0-1.dsc", changesName: "hello_1.0-1_amd64.changes", files: map[string][]byte{},
		sourceFiles: []string{"hello_1.0.orig.tar.gz", "hello_1.0-1.debian.tar.xz"}}
	u.files["hello_1.0.orig.tar.gz"] = compress(".gz", tarFile(tarEntry{name: "hello-1.0/README", data: "Hello, world.\n"}))
	u.files["hello_1.0-1.debian.tar.xz"] = compress(".xz", tarFile(tarEntry{name: "debian/control", data: sourceControl}))
	u.files["hello_1.0-1_amd64.deb"] = makeDeb(debControl, ".xz")
	lists := func(names []string, changes bool) string {
		var files, s1, s256 strings.Builder
		for _, n := range names {
			m, h1, h256 := sums(u.files[n])
			sec := ""
			if changes {
				sec = " devel optional"
			}
			fmt.Fprintf(&files, "\n %s %d%s %s", m, len(u.files[n]), sec, n)
			fmt.Fprintf(&s1, "\n %s %d %s", h1, len(u.files[n]), n)
			fmt.Fprintf(&s256, "\n %s %d %s", h256, len(u.files[n]), n)
		}
		return "Checksums-Sha1:" + s1.String() + "\nChecksums-Sha256:" + s256.String() + "\nFiles:" + files.String() + "\n"
	}
	u.dsc = []byte(`Format: 3.0 (quilt)
Source: hello
Binary: hello, hello-doc
Architecture: any all
Version: 1.0-1
Maintainer: Test Maintainer <test@example.org>
Uploaders: Other One <other@example.org>
Homepage: https://example.org/hello
Standards-Version: 4.6.2
Vcs-Browser: https://example.org/hello
Vcs-Git: https://example.org/hello.git
Build-Depends: debhelper-compat (= 13)
Package-List:
 hello deb devel optional arch=any
 hello-doc deb devel optional arch=all
` + lists(u.sourceFiles, false))
	u.files[u.dscName] = u.dsc
	u.changes = []byte(`Format: 1.8
Date: Mon, 01 Jan 2024 00:00:00 +0000
Source: hello
Binary: hello
Architecture: source amd64
Version: 1.0-1
Distribution: unstable
Urgency: medium
Maintainer: Test Maintainer <test@example.org>
Changed-By: Test Maintainer <test@example.org>
Description:
 hello      - the classic greeting
Changes:
 hello (1.0-1) unstable; urgency=medium
 .
   * Initial release.
` + lists([]string{u.dscName, "hello_1.0.orig.tar.gz", "hello_1.0-1.debian.tar.xz", "hello_1.0-1_amd64.deb"}, true))
	return u
}

// replaceOnce replaces old by new in data, which must hold old.
func replaceOnce(t *testing.T, data []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("%q not found in:\n%s", old, data)
	}
	return bytes.Replace(data, []byte(old), []byte(new), 1)
}

package debpkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/aptsnap/aptsnap/pgp"
)

// arEntry is one member of an ar archive built by arFile.
type arEntry struct {
	name string
	data []byte
}

// arFile builds an ar archive as dpkg-deb writes it.
func arFile(entries ...arEntry) []byte {
	var b bytes.Buffer
	b.WriteString(arMagic)
	for _, e := range entries {
		fmt.Fprintf(&b, "%-16s%-12s%-6s%-6s%-8s%-10d`\n", e.name, "0", "0", "0", "100644", len(e.data))
		b.Write(e.data)
		if len(e.data)%2 == 1 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// tarEntry is one member of a tar archive built by tarFile.
type tarEntry struct {
	name     string
	data     string
	typeflag byte // tar.TypeReg when 0
}

func tarFile(entries ...tarEntry) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: e.typeflag, Format: tar.FormatGNU}
		if e.typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
			h.Linkname = "target"
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte(e.data)); err != nil {
				panic(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// compress compresses data with kind: "" (none), ".gz", ".xz" or ".zst".
func compress(kind string, data []byte) []byte {
	var b bytes.Buffer
	switch kind {
	case "":
		return data
	case ".gz":
		w := gzip.NewWriter(&b)
		w.Write(data)
		if err := w.Close(); err != nil {
			panic(err)
		}
	case ".xz":
		w, err := xz.WriterConfig{DictCap: 1 << 16}.NewWriter(&b)
		if err != nil {
			panic(err)
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			panic(err)
		}
	case ".zst":
		w, err := zstd.NewWriter(&b)
		if err != nil {
			panic(err)
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			panic(err)
		}
	default:
		panic("unknown compression " + kind)
	}
	return b.Bytes()
}

// makeDeb builds a .deb in Go whose control.tar is compressed with kind.
func makeDeb(control, kind string) []byte {
	ctl := tarFile(tarEntry{name: "./", typeflag: tar.TypeDir}, tarEntry{name: "./control", data: control},
		tarEntry{name: "./md5sums", data: "d41d8cd98f00b204e9800998ecf8427e  usr/share/doc/x/y\n"})
	data := tarFile(tarEntry{name: "./usr/share/doc/x/y", data: "hello\n"})
	return arFile(arEntry{"debian-binary", []byte("2.0\n")},
		arEntry{"control.tar" + kind, compress(kind, ctl)},
		arEntry{"data.tar.gz", compress(".gz", data)})
}

// sums returns the lower-case hex MD5, SHA1 and SHA256 of data.
func sums(data []byte) (string, string, string) {
	m, s1, s256 := md5.Sum(data), sha1.Sum(data), sha256.Sum256(data)
	return hex.EncodeToString(m[:]), hex.EncodeToString(s1[:]), hex.EncodeToString(s256[:])
}

// needTool skips the test when a program is not installed.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	return p
}

// run runs a command in dir and returns its standard output.
func run(t testing.TB, dir string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "SOURCE_DATE_EPOCH=1700000000")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.Bytes())
	}
	return out
}

// dpkgDeb builds a .deb with dpkg-deb from a tree holding control as
// DEBIAN/control and returns its path. extra are options such as "-Zxz".
func dpkgDeb(t testing.TB, dir, name, control string, extra ...string) string {
	t.Helper()
	needTool(t, "dpkg-deb")
	root := filepath.Join(dir, name+".tree")
	for _, d := range []string{"DEBIAN", "usr/share/doc/hello"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "DEBIAN/control"), []byte(control), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/share/doc/hello/README"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	args := append([]string{"--root-owner-group"}, extra...)
	args = append(args, "--build", root, out)
	run(t, dir, "dpkg-deb", args...)
	return out
}

var (
	signerOnce sync.Once
	signers    [2]*pgp.Signer
)

// testSigners returns two ed25519 signers, made once per test binary.
func testSigners(t testing.TB) (*pgp.Signer, *pgp.Signer) {
	signerOnce.Do(func() {
		for i := range signers {
			priv, err := pgp.GenerateKey(fmt.Sprintf("debpkg test %d", i), "test@aptsnap.invalid", pgp.AlgoEd25519)
			if err != nil {
				panic(err)
			}
			if signers[i], err = pgp.ParseSigner(priv); err != nil {
				panic(err)
			}
		}
	})
	return signers[0], signers[1]
}

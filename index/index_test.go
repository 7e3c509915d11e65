package index

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

func TestWriteSortsAndTerminates(t *testing.T) {
	got := Write([]Stanza{
		{Package: "zlib1g", Version: "1", Raw: []byte("Package: zlib1g\nVersion: 1")},
		{Package: "hello", Version: "2.10-10", Raw: []byte("Package: hello\nVersion: 2.10-10\n")},
		{Package: "hello", Version: "2.10-9", Raw: []byte("Package: hello\nVersion: 2.10-9\n\n")},
	})
	want := "Package: hello\nVersion: 2.10-9\n\nPackage: hello\nVersion: 2.10-10\n\nPackage: zlib1g\nVersion: 1\n\n"
	if string(got) != want {
		t.Fatalf("Write:\n%q\nwant\n%q", got, want)
	}
	if len(Write(nil)) != 0 {
		t.Error("Write(nil) is not empty")
	}
}

func TestFilterAndCompress(t *testing.T) {
	in := []byte("Package: a\nVersion: 1\nArchitecture: amd64\n\nPackage: b\nVersion: 2\nArchitecture: all\nDescription: x\n more\n\n")
	st, err := Filter(in, func(p, v, a string) bool { return p == "b" && v == "2" && a == "all" })
	if err != nil || len(st) != 1 || strings.TrimRight(string(st[0].Raw), "\n") != "Package: b\nVersion: 2\nArchitecture: all\nDescription: x\n more" {
		t.Fatalf("Filter = %+v, %v", st, err)
	}
	plain := Write(st)
	gz, xzData, err := Compress(plain)
	if err != nil {
		t.Fatal(err)
	}
	gr, _ := gzip.NewReader(bytes.NewReader(gz))
	g, _ := io.ReadAll(gr)
	xr, _ := xz.NewReader(bytes.NewReader(xzData))
	x, _ := io.ReadAll(xr)
	if !bytes.Equal(g, plain) || !bytes.Equal(x, plain) {
		t.Fatal("compressed variants do not decompress to the plain index")
	}
	for _, name := range []string{"Packages", "dir/Packages.gz", "dir/Packages.xz"} {
		data := map[string][]byte{"Packages": plain, "dir/Packages.gz": gz, "dir/Packages.xz": xzData}[name]
		r, err := Decompress(name, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := io.ReadAll(r); !bytes.Equal(b, plain) {
			t.Errorf("Decompress(%s) differs", name)
		}
	}
	if _, err := Decompress("Packages.lzma", bytes.NewReader(nil)); err == nil {
		t.Error("Decompress of .lzma succeeded")
	}
}

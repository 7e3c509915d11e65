package manifest

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	m, err := Parse([]byte(`
packages:
  binary:
    - {package: hello, version: 2.10-3, arch: amd64}
    - package: tzdata
      version: 2026a-0+deb12u1
  source:
    - {package: hello, version: 2.10-3}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Packages.Binary) != 2 || m.Packages.Binary[1].Arch != "" || m.Packages.Source[0].String() != "source hello=2.10-3" ||
		m.Packages.Binary[0].String() != "binary hello=2.10-3 (amd64)" {
		t.Fatalf("parsed %+v", m)
	}
	for _, tt := range []struct{ name, in, want string }{
		{"unknown key", "packages:\n  binary:\n    - {package: a, version: '1', archh: x}\n", "archh"},
		{"no version", "packages:\n  binary:\n    - {package: a}\n", "packages.binary[0]"},
		{"no source name", "packages:\n  source:\n    - {version: '1'}\n", "packages.source[0]"},
		{"empty", "packages: {}\n", "lists no package"},
		{"not yaml", "packages: [\n", "manifest"},
	} {
		if _, err := Parse([]byte(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

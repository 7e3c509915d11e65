package mirror

import (
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/config"
)

func TestMatchSuite(t *testing.T) {
	for _, tt := range []struct {
		pattern, suite string
		want           bool
	}{
		{"buster*", "buster/updates", true},
		{"buster*", "buster-backports", true},
		{"buster/*", "buster/updates", true},
		{"buster/*", "buster-backports", false},
		{"bullseye*", "buster/updates", false},
		{"buster/updates", "buster/updates", true},
	} {
		if got := matchSuite(tt.pattern, tt.suite); got != tt.want {
			t.Errorf("matchSuite(%q, %q) = %v", tt.pattern, tt.suite, got)
		}
	}
}

func TestNarrow(t *testing.T) {
	got := narrow("all amd64 arm64 i386", []string{"i386", "amd64", "riscv64"})
	if strings.Join(got, " ") != "amd64 i386 riscv64" {
		t.Errorf("narrow = %v", got)
	}
}

// TestMetaBase: which Release-listed files an archive mirrors besides its
// pool indices, as Debian and Ubuntu lay them out.
func TestMetaBase(t *testing.T) {
	all := &config.Archive{Components: []string{"main", "contrib"}, Architectures: []string{"amd64"},
		Languages: []string{"*"}, Contents: true, Installer: true, DEP11: true}
	narrowed := &config.Archive{Components: []string{"main"}, Architectures: []string{"amd64"}, Sources: true,
		Languages: []string{"en"}}
	upstream := []string{"all", "amd64", "arm64", "i386"}
	tests := []struct {
		a    *config.Archive
		path string
		base string // "" if not mirrored
	}{
		{all, "main/i18n/Translation-en.xz", "main/i18n/Translation-en"},
		{all, "main/i18n/Translation-de.bz2", "main/i18n/Translation-de"},
		{all, "main/i18n/Index", "main/i18n/Index"},
		{all, "main/i18n/Translation-en.diff/Index", ""},
		{all, "main/Contents-amd64.gz", "main/Contents-amd64"},
		{all, "main/Contents-all", "main/Contents-all"},
		{all, "main/Contents-arm64.gz", ""},
		{all, "main/Contents-source.gz", ""},
		{all, "main/Contents-udeb-amd64.gz", "main/Contents-udeb-amd64"},
		{all, "Contents-amd64.gz", "Contents-amd64"}, // Ubuntu's, for every component
		{all, "Contents-i386.gz", ""},
		{all, "contrib/dep11/Components-amd64.yml.xz", "contrib/dep11/Components-amd64.yml"},
		{all, "main/dep11/Components-arm64.yml.xz", ""},
		{all, "main/dep11/CID-index-i386.json.gz", ""},
		{all, "main/dep11/icons-48x48.tar.gz", "main/dep11/icons-48x48.tar"},
		{all, "non-free/i18n/Translation-en.xz", ""},
		{all, "main/binary-amd64/Packages.xz", ""}, // a pool index: not metadata
		{all, "main/installer-amd64/current/images/SHA256SUMS", ""},
		{all, "main/Contents-amd64.diff/Index", ""},
		{narrowed, "main/i18n/Translation-en.xz", "main/i18n/Translation-en"},
		{narrowed, "main/i18n/Translation-de.bz2", ""},
		{narrowed, "main/i18n/Index", ""},
		{narrowed, "main/Contents-amd64.gz", ""},
		{narrowed, "main/dep11/icons-48x48.tar.gz", ""},
		{&config.Archive{Components: []string{"main"}, Architectures: []string{"amd64"}, Sources: true, Contents: true},
			"main/Contents-source.gz", "main/Contents-source"},
		{&config.Archive{Components: []string{"main"}, Architectures: []string{"amd64"}, Contents: true},
			"main/Contents-udeb-amd64.gz", ""},
	}
	for _, tt := range tests {
		base, ok := metaBase(tt.a, upstream, tt.path)
		if !ok {
			base = ""
		}
		if base != tt.base {
			t.Errorf("metaBase(%s) = %q, want %q", tt.path, base, tt.base)
		}
	}
}

// SetLivePoolMin sets livePoolMin for a test.
func SetLivePoolMin(t *testing.T, n int) {
	old := livePoolMin
	livePoolMin = n
	t.Cleanup(func() { livePoolMin = old })
}

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/release"
	"github.com/aptsnap/aptsnap/repogen"
)

// withEverything makes the upstream publish what Debian's does besides
// Packages: translations, Contents, dep11 and udebs.
func withEverything(r *repogen.Repo) {
	for i := range r.Suites {
		s := &r.Suites[i]
		s.Translations, s.Contents, s.Dep11 = true, true, true
		s.Installer = map[string][]repogen.Package{"main": {{Name: "hello-udeb", Version: "1.0", Arch: "amd64"}}}
	}
}

// contentsConf is the part of apt-file's configuration that has apt fetch
// Contents-<arch> (apt-file ships it in /etc/apt/apt.conf.d; the test's
// apt reads none of the host's).
const contentsConf = `Acquire::IndexTargets::deb::Contents-deb {
	MetaKey "$(COMPONENT)/Contents-$(ARCHITECTURE)";
	ShortDescription "Contents-$(ARCHITECTURE)";
	Description "$(RELEASE)/$(COMPONENT) $(ARCHITECTURE) Contents (deb)";
	KeepCompressed "true";
	PDiffs "false";
};
`

// TestCompleteSnapshotWithApt: a snapshot of an upstream that publishes
// translations and Contents gives the real apt-get its Translation-en
// (apt-cache show prints the long description) and the real apt-file its
// Contents (a search finds a package's file); the udebs and dep11 files
// are served as upstream serves them.
func TestCompleteSnapshotWithApt(t *testing.T) {
	e := newEnv(t)
	e.up.write(0, withEverything)
	snap := e.mustPulse()
	base := "/debian/" + snap.Serial + "/"

	for _, p := range []string{"main/i18n/Translation-en.xz", "main/Contents-amd64.gz", "main/dep11/Components-amd64.yml.xz",
		"main/dep11/icons-48x48.tar.gz", "main/debian-installer/binary-amd64/Packages"} {
		want, err := os.ReadFile(filepath.Join(e.up.dir, "repo/dists/bookworm", p))
		if err != nil {
			t.Fatal(err)
		}
		if code, body := e.get(base + "dists/bookworm/" + p); code != 200 || body != string(want) {
			t.Errorf("%s: %d, byte-identical %v", p, code, body == string(want))
		}
	}
	if code, _ := e.get(base + "pool/main/h/hello-udeb/hello-udeb_1.0_amd64.udeb"); code != 200 {
		t.Errorf("udeb: %d", code)
	}
	// Our Release lists exactly what we serve: every file it lists, plain
	// files upstream does not serve included, answers with its checksum.
	for _, suite := range []string{"bookworm", "bookworm-updates"} {
		_, text := e.get(base + "dists/" + suite + "/Release")
		rel, err := release.Parse([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		for p, f := range rel.Files {
			code, body := e.get(base + "dists/" + suite + "/" + p)
			if code != 200 || blob.Sum([]byte(body)) != f.SHA256 {
				t.Errorf("%s/%s: %d, %d bytes, checksum as listed %v", suite, p, code, len(body), blob.Sum([]byte(body)) == f.SHA256)
			}
		}
		if _, ok := rel.Files["main/i18n/Translation-en"]; !ok {
			t.Errorf("%s: the plain Translation-en APT looks for is not listed", suite)
		}
	}

	a := e.newAPT(t, base, "Acquire::Languages=en")
	a.WriteFile("etc/apt.conf.d/50contents", []byte(contentsConf))
	if out, err := a.Run("update"); err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	lists, _ := filepath.Glob(filepath.Join(a.Root(), "state/lists/*"))
	var translation, contents bool
	for _, l := range lists {
		translation = translation || strings.Contains(l, "_bookworm_main_i18n_Translation-en")
		contents = contents || strings.Contains(l, "_bookworm_main_Contents-amd64")
	}
	if !translation || !contents {
		t.Fatalf("apt fetched Translation-en %v, Contents-amd64 %v: %q", translation, contents, lists)
	}
	out, _, err := a.Exec("apt-cache", "show", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Its long description lives in Translation-en.") {
		t.Errorf("apt-cache show prints no long description:\n%s", out)
	}
	if _, err := os.Stat("/usr/bin/apt-file"); err != nil {
		t.Skip("apt-file not installed (scripts/install-deps installs it)")
	}
	out, _, err = a.Exec("apt-file", "search", "usr/share/doc/libfoo1/README")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "libfoo1: /usr/share/doc/libfoo1/README") {
		t.Errorf("apt-file search found: %q", out)
	}
}

// TestSlashSuite: a suite named as Debian's old security suites,
// "<codename>/updates" (its Release names the codename alone), is
// mirrored and served to the real apt.
func TestSlashSuite(t *testing.T) {
	e := newEnvWith(t, `
[[archive]]
name = "security"
url = "{{UPSTREAM}}"
keyring = "{{KEYRING}}"
suites = ["bookworm/updates"]
components = ["main"]
architectures = ["amd64"]
`)
	e.up.write(0, func(r *repogen.Repo) {
		r.Suites = append(r.Suites, repogen.Suite{Name: "bookworm/updates", Codename: "bookworm", SuiteField: "oldstable-security",
			Architectures: []string{"amd64"}, Date: r.Suites[0].Date,
			Components: map[string][]repogen.Package{"main": {{Name: "hello", Version: "2.10-1+deb12u1", Arch: "amd64"}}}})
	})
	snap, err := e.app.Pulse(t.Context(), "security")
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Suites) != 1 || snap.Suites[0] != "bookworm/updates" {
		t.Fatalf("snapshot suites %q", snap.Suites)
	}
	// The parent directory's suite is another one, still mirrored.
	e.mustPulse()

	_, key := e.get("/keys/aptsnap.asc")
	a := newAPTFor(t, "deb [signed-by=$ROOT/aptsnap.asc] "+e.srv.URL+"/security/"+snap.Serial+"/ bookworm/updates main\n", key)
	if out, err := a.Run("update"); err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	if got := candidate(t, a, "hello"); got != "2.10-1+deb12u1" {
		t.Errorf("hello candidate %s", got)
	}
	if out, err := a.Run("download", "hello"); err != nil {
		t.Fatalf("apt-get download: %v\n%s", err, out)
	}
	if code, _ := e.get("/security/" + snap.Serial + "/dists/bookworm/InRelease"); code != 404 {
		t.Errorf("dists/bookworm of an archive tracking only bookworm/updates: %d", code)
	}
}

package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/release"
)

// TestRealDebian mirrors bookworm-updates (main, amd64) from the real
// Debian archive this machine's apt uses, when scripts/test found it
// answering (APTSNAP_DEBIAN_URL, APTSNAP_DEBIAN_KEYRING): the Packages,
// Translation-en and Contents-amd64 upstream serves are served byte for
// byte; the real apt-get fetches Translation-en and apt-cache shows a
// long description; the real apt-file finds a package's file.
func TestRealDebian(t *testing.T) {
	url, keyring := os.Getenv("APTSNAP_DEBIAN_URL"), os.Getenv("APTSNAP_DEBIAN_KEYRING")
	if url == "" || keyring == "" {
		t.Skip("APTSNAP_DEBIAN_URL and APTSNAP_DEBIAN_KEYRING unset: the real Debian archive is not reachable (scripts/test sets them when it is)")
	}
	e := newEnvWith(t, `
[[archive]]
name = "real"
url = "`+url+`"
keyring = "`+keyring+`"
suites = ["bookworm-updates"]
components = ["main"]
architectures = ["amd64"]
# udebs are not fetched: some networks let .deb through but not .udeb
# (the generated upstream's test covers debian-installer).
installer = false
`)
	start := time.Now()
	snap, err := e.app.Pulse(t.Context(), "real")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pulse of bookworm-updates from %s: %s", url, time.Since(start).Round(time.Millisecond))
	base := "/real/" + snap.Serial + "/"
	_, text := e.get(base + "dists/bookworm-updates/Release")
	rel, err := release.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}

	// Byte for byte: ours against upstream's by-hash copy of the same file.
	checked := 0
	for _, p := range []string{"main/binary-amd64/Packages.xz", "main/i18n/Translation-en.xz", "main/Contents-amd64.gz"} {
		f, ok := rel.Files[p]
		if !ok {
			t.Errorf("our Release does not list %s", p)
			continue
		}
		code, ours := e.get(base + "dists/bookworm-updates/" + p)
		if code != 200 || blob.Sum([]byte(ours)) != f.SHA256 {
			t.Errorf("%s: %d, checksum as listed %v", p, code, blob.Sum([]byte(ours)) == f.SHA256)
			continue
		}
		resp, err := http.Get(url + "/dists/bookworm-updates/" + path.Dir(p) + "/by-hash/SHA256/" + f.SHA256.String())
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			t.Logf("%s: upstream has moved on since the pulse; not compared", p)
			continue
		}
		if err != nil || !bytes.Equal([]byte(ours), theirs) {
			t.Errorf("%s: not byte-identical to upstream's (%d bytes, upstream %d, %v)", p, len(ours), len(theirs), err)
		}
		checked++
	}
	t.Logf("%d indices compared byte for byte with upstream's", checked)

	// apt-get with English translations, and apt-file's Contents target.
	code, key := e.get("/keys/aptsnap.asc")
	if code != 200 {
		t.Fatal("no key")
	}
	a := newAPTFor(t, "deb [signed-by=$ROOT/aptsnap.asc] "+e.srv.URL+base+" bookworm-updates main\n", key, "Acquire::Languages=en")
	a.WriteFile("etc/apt.conf.d/50contents", []byte(contentsConf))
	if out, err := a.Run("update"); err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	lists, _ := os.ReadDir(a.Root() + "/state/lists")
	var translation bool
	for _, l := range lists {
		translation = translation || strings.Contains(l.Name(), "_main_i18n_Translation-en")
	}
	if !translation {
		t.Fatalf("apt did not fetch Translation-en: %v", lists)
	}
	code, packages := e.get(base + "dists/bookworm-updates/main/binary-amd64/Packages")
	name := regexp.MustCompile(`(?m)^Package: (\S+)$`).FindStringSubmatch(packages)
	if code != 200 || name == nil {
		t.Fatalf("Packages: %d", code)
	}
	out, _, err := a.Exec("apt-cache", "show", name[1])
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^Description(-en)?: .+\n .+`).MatchString(out) {
		t.Errorf("apt-cache show %s prints no long description:\n%s", name[1], out)
	}

	// apt-file: a file the snapshot's Contents-amd64 gives a package.
	if _, err := os.Stat("/usr/bin/apt-file"); err != nil {
		t.Skip("apt-file not installed (scripts/install-deps installs it)")
	}
	_, gz := e.get(base + "dists/bookworm-updates/main/Contents-amd64.gz")
	zr, err := gzip.NewReader(strings.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	var file, pkg string
	for sc.Scan() && file == "" {
		if f := strings.Fields(sc.Text()); len(f) == 2 && !strings.Contains(f[1], ",") {
			file, pkg = f[0], path.Base(f[1])
		}
	}
	if file == "" {
		t.Skip("the snapshot's Contents-amd64 lists no file of one package")
	}
	out, _, err = a.Exec("apt-file", "search", file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, pkg+": /"+file) {
		t.Errorf("apt-file search %s: %q, want %s", file, out, pkg)
	}
}

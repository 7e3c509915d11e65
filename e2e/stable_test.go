package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/internal/apttest"
	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/stable"
)

// seriesConfig is a custom archive "ours" with the series stable: its
// suite and both pockets.
func seriesConfig(keyring string) string {
	return fmt.Sprintf(`
[[custom]]
name = "ours"
suites = ["stable", "stable-proposed", "stable-updates"]
components = ["main"]
architectures = ["amd64"]
keyring = %q
public_url = "http://localhost:{{PORT}}"
`, keyring)
}

// pkg is a binary package of the sample family.
type pkg struct {
	name, source, version string
	control               string            // more control lines
	files                 map[string]string // path in the package -> content
}

// famBuilder builds the sample family's packages: binaries with dpkg-deb
// (each shipping its source's changelog), sources with dpkg-source, and
// signed .changes.
type famBuilder struct {
	t      *testing.T
	signer *pgp.Signer
	// changelog holds each source's changelog entries, newest first.
	changelog map[string][]string
}

func (b *famBuilder) entry(src, version, change string) {
	e := fmt.Sprintf("%s (%s) stable; urgency=medium\n\n  * %s\n\n -- Release Team <rt@example.invalid>  Mon, 30 Nov 2026 10:00:00 +0000\n", src, version, change)
	b.changelog[src] = append([]string{e}, b.changelog[src]...)
}

func (b *famBuilder) deb(dir string, p pkg) string {
	t := b.t
	tree := filepath.Join(t.TempDir(), p.name)
	doc := filepath.Join(tree, "usr/share/doc", p.name)
	os.MkdirAll(filepath.Join(tree, "DEBIAN"), 0o755)
	os.MkdirAll(doc, 0o755)
	control := fmt.Sprintf("Package: %s\nSource: %s (%s)\nVersion: %s\nArchitecture: all\nMaintainer: Release Team <rt@example.invalid>\n"+
		"Installed-Size: 1\nSection: misc\nPriority: optional\n%sDescription: %s, of the sample ACME family\n built by the test\n",
		p.name, p.source, p.version, p.version, p.control, p.name)
	os.WriteFile(filepath.Join(tree, "DEBIAN/control"), []byte(control), 0o644)
	var gz bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	w.Write([]byte(strings.Join(b.changelog[p.source], "\n")))
	w.Close()
	os.WriteFile(filepath.Join(doc, "changelog.Debian.gz"), gz.Bytes(), 0o644)
	for name, content := range p.files {
		os.MkdirAll(filepath.Dir(filepath.Join(tree, name)), 0o755)
		os.WriteFile(filepath.Join(tree, name), []byte(content), 0o755)
	}
	out := filepath.Join(dir, fmt.Sprintf("%s_%s_all.deb", p.name, p.version))
	if o, err := exec.Command("dpkg-deb", "--root-owner-group", "-Zxz", "--build", tree, out).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, o)
	}
	return out
}

// upload builds a source at version, its binaries, and a .changes signed
// by the builder's key listing them all; it returns the .changes.
func (b *famBuilder) upload(dir, src, version, change string, bins ...pkg) string {
	t := b.t
	b.entry(src, version, change)
	tree := filepath.Join(dir, src+"-"+strings.SplitN(version, "-", 2)[0])
	os.RemoveAll(tree)
	os.MkdirAll(filepath.Join(tree, "debian/source"), 0o755)
	os.WriteFile(filepath.Join(tree, "debian/source/format"), []byte("1.0\n"), 0o644)
	os.WriteFile(filepath.Join(tree, "debian/control"), []byte(fmt.Sprintf("Source: %s\nSection: misc\nPriority: optional\n"+
		"Maintainer: Release Team <rt@example.invalid>\nStandards-Version: 4.6.2\n\nPackage: %s\nArchitecture: all\nDescription: x\n x\n", src, bins[0].name)), 0o644)
	os.WriteFile(filepath.Join(tree, "debian/changelog"), []byte(strings.Join(b.changelog[src], "\n")), 0o644)
	cmd := exec.Command("dpkg-source", "-b", filepath.Base(tree))
	cmd.Dir = dir
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dpkg-source: %v\n%s", err, o)
	}
	files := []string{filepath.Join(dir, fmt.Sprintf("%s_%s.dsc", src, version)), filepath.Join(dir, fmt.Sprintf("%s_%s.tar.gz", src, version))}
	for _, p := range bins {
		p.source, p.version = src, version
		files = append(files, b.deb(dir, p))
	}
	return changesFor(t, dir, src, version, b.signer, files...)
}

// selftest is acmeclient's program: --selftest fails in the broken build.
func selftest(ok bool) map[string]string {
	code := 1
	if ok {
		code = 0
	}
	return map[string]string{"usr/bin/acmeclient": fmt.Sprintf("#!/bin/sh\n[ \"$1\" = --selftest ] && exit %d\necho acmeclient\n", code)}
}

// smokeScript is the request's smoke test: with the sources the
// verification gives it (APTSNAP_PROPOSED_SOURCES), it downloads
// acmeclient with the real apt-get, unpacks it and runs its self-test.
const smokeScript = `set -e
root=$(pwd)/root
mkdir -p $root/etc/apt.conf.d $root/etc/preferences.d $root/etc/sources.list.d $root/state/lists/partial $root/cache/archives/partial
cp "$APTSNAP_PROPOSED_SOURCES" $root/etc/sources.list
: > $root/status
cat > $root/apt.conf <<EOF
Dir "$root/"; Dir::Etc "$root/etc/"; Dir::State "$root/state/"; Dir::State::status "$root/status";
Dir::Cache "$root/cache/"; Debug::NoLocking "1"; APT::Sandbox::User "root"; Acquire::Languages "none";
EOF
export APT_CONFIG=$root/apt.conf
apt-get -q update
apt-get -q download acmeclient
dpkg-deb -x acmeclient_*.deb unpacked
echo "testing acmeclient from $(ls acmeclient_*.deb)"
./unpacked/usr/bin/acmeclient --selftest
`

// TestStableUpdate runs the whole path of a stable update on a sample
// family of four source packages (a library, a client, two plugins) built
// by dpkg-deb and dpkg-source, with the real apt-get: refusals that change
// nothing, the Major Changes draft, self-review refused, a verification
// that fails (a test plan command, and a reverse dependency the library
// breaks), a fixed upload, verification done, aging on a controlled clock,
// release phased, and APT holding the update back at 0 % and taking it at
// 100 %.
func TestStableUpdate(t *testing.T) {
	bin := aptsnapBinary(t)
	uploader, stranger := newSigner(t, "Uploader"), newSigner(t, "Stranger")
	keyring := filepath.Join(t.TempDir(), "uploaders.asc")
	os.WriteFile(keyring, uploader.PublicKey(), 0o644)
	e := newEnvWith(t, seriesConfig(keyring))
	c := &cli{t: t, bin: bin, config: e.writeConfig(t), server: e.srv.URL}
	rita := createToken(t, c, "reviewer", "rita") // writes and submits the request
	bob := createToken(t, c, "reviewer", "bob")   // reviews it
	mallory := createToken(t, c, "release-manager", "mallory")
	ctx := context.Background()

	fam := &famBuilder{t: t, signer: uploader, changelog: map[string][]string{}}
	dir := t.TempDir()
	lib := func(v, ctl string) pkg { return pkg{name: "python3-acmelib", control: ctl} }
	client := func(ok bool, dep string) pkg {
		return pkg{name: "acmeclient", control: "Depends: python3-acmelib (>= " + dep + ")\n", files: selftest(ok)}
	}
	plugin := func(name string) pkg { return pkg{name: name, control: "Depends: acmeclient\n"} }
	// The series today: the family at 1.0-1, and a dashboard that uses the library.
	var base []string
	base = append(base, fam.upload(dir, "acmelib", "1.0-1", "Initial release.", lib("1.0-1", "")))
	base = append(base, fam.upload(dir, "acmeclient", "1.0-1", "Initial release.", client(true, "1.0")))
	base = append(base, fam.upload(dir, "acme-apache", "1.0-1", "Initial release.", plugin("python3-acme-apache")))
	base = append(base, fam.upload(dir, "acme-nginx", "1.0-1", "Initial release.", plugin("python3-acme-nginx")))
	base = append(base, fam.upload(dir, "dashboard", "4.0-1", "Initial release.", pkg{name: "acme-dashboard", control: "Depends: python3-acmelib (>= 1.0)\n"}))
	c.local(append([]string{"repo", "add", "ours", "stable"}, base...)...)

	// The pockets take nothing but requests.
	if _, stderr, err := c.remoteErr(rita, "repo", "add", "ours", "stable-proposed", base[0]); err == nil || !strings.Contains(stderr, "only through a stable update request") {
		t.Fatalf("repo add into stable-proposed: err %v, %s", err, stderr)
	}
	if _, stderr, err := c.remoteErr(rita, "repo", "copy", "ours", "stable", "stable-updates", "acmelib"); err == nil || !strings.Contains(stderr, "only through a stable update request") {
		t.Fatalf("repo copy into stable-updates: err %v, %s", err, stderr)
	}

	out := c.remote(rita, "update", "new", "ours/stable", "--source", "acmelib,acmeclient,acme-apache,acme-nginx", "--version", "2.0")
	if !strings.HasPrefix(out, "update 1: ") {
		t.Fatalf("update new: %s", out)
	}
	client1 := &api.Client{BaseURL: e.srv.URL}
	show := func() *stable.Request {
		t.Helper()
		r, err := client1.UpdateShow(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	snapshots := func() int { return len(e.serialsOf("ours")) }

	// Refused, changing nothing: an upload at another version, one signed
	// by an unknown key, a package not of the family.
	bad := t.TempDir()
	before, nsnap := show(), snapshots()
	for _, tc := range []struct {
		changes, want string
	}{
		{fam.upload(bad, "acmelib", "2.1-1", "Too new.", lib("2.1-1", "")), "is not at the request's version 2.0"},
		{(&famBuilder{t: t, signer: stranger, changelog: map[string][]string{}}).upload(bad, "acmeclient", "2.0-1", "Stranger.", client(true, "2.0")), "signature"},
		{fam.upload(bad, "dashboard", "5.0-1", "Not ours.", pkg{name: "acme-dashboard"}), "is not of the family"},
	} {
		if _, stderr, err := c.remoteErr(rita, "update", "upload", "1", tc.changes); err == nil || !strings.Contains(stderr, tc.want) ||
			strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("upload %s: err %v, want one line with %q: %s", filepath.Base(tc.changes), err, tc.want, stderr)
		}
	}
	fam.changelog["acmelib"] = fam.changelog["acmelib"][1:]
	if after := show(); after.Revision != before.Revision || snapshots() != nsnap {
		t.Fatalf("refused uploads changed the request (revision %d -> %d) or made snapshots (%d -> %d)", before.Revision, after.Revision, nsnap, snapshots())
	}

	// The family's uploads: the library now breaks the dashboard, and
	// the client's self-test fails.
	up := t.TempDir()
	first := []string{
		fam.upload(up, "acmelib", "2.0-1", "New upstream release.", lib("2.0-1", "Breaks: acme-dashboard (<< 5.0)\n")),
		fam.upload(up, "acmeclient", "2.0-1", "New upstream release.", client(false, "2.0")),
		fam.upload(up, "acme-apache", "2.0-1", "New upstream release.", plugin("python3-acme-apache")),
		fam.upload(up, "acme-nginx", "2.0-1", "New upstream release.", plugin("python3-acme-nginx")),
	}
	c.remote(rita, append([]string{"update", "upload", "1"}, first...)...)
	if snapshots() != nsnap {
		t.Fatal("an upload to a draft went into the archive")
	}
	r := show()
	if r.Draft != wantDraft {
		t.Errorf("[Major Changes] draft:\n%s\nwant:\n%s", r.Draft, wantDraft)
	}

	// Submit refused while a TODO remains, and while the risk is "low".
	if _, stderr, err := c.remoteErr(rita, "update", "submit", "1"); err == nil || !strings.Contains(stderr, "[Impact], [Major Changes], [Test Plan], [Where problems could occur], [Other Info] still hold TODO") {
		t.Fatalf("submit with TODOs: err %v, %s", err, stderr)
	}
	script := filepath.Join(t.TempDir(), "smoke.sh")
	os.WriteFile(script, []byte(smokeScript), 0o644)
	sections := map[string]string{
		"Impact":                     "The ACME client family fails to renew against CAs that dropped the old challenge.",
		"Major Changes":              r.Draft,
		"Test Plan":                  "The install check, then the packaging's smoke test:\n$ sh " + script,
		"Where problems could occur": "low",
		"Other Info":                 "Moved together, as upstream releases them.",
	}
	for name, text := range sections {
		f := filepath.Join(t.TempDir(), "section")
		os.WriteFile(f, []byte(text), 0o644)
		c.remote(rita, "update", "edit", "1", "--section", name, "--file", f)
	}
	if _, stderr, err := c.remoteErr(rita, "update", "submit", "1"); err == nil || !strings.Contains(stderr, "[Where problems could occur] says only \"low\"") {
		t.Fatalf("submit with a low risk: err %v, %s", err, stderr)
	}
	risk := filepath.Join(t.TempDir(), "risk")
	os.WriteFile(risk, []byte("Renewals could fail for sites using the Apache plugin; it would show in the renewal timer's log."), 0o644)
	c.remote(rita, "update", "edit", "1", "--section", "Where problems could occur", "--file", risk)
	c.remote(rita, "update", "submit", "1")
	todo := filepath.Join(t.TempDir(), "todo")
	os.WriteFile(todo, []byte("TODO: say more"), 0o644)
	if _, stderr, err := c.remoteErr(rita, "update", "edit", "1", "--section", "Impact", "--file", todo); err == nil || !strings.Contains(stderr, "would hold a TODO again") {
		t.Fatalf("an edit bringing a TODO back: err %v, %s", err, stderr)
	}

	// Review: not by its author, not by a release manager; by bob, once,
	// however many accept at the same time.
	if _, stderr, err := c.remoteErr(rita, "update", "accept", "1"); err == nil || !strings.Contains(stderr, "a reviewer other than its author must accept it") {
		t.Fatalf("self-review: err %v, %s", err, stderr)
	}
	if _, stderr, err := c.remoteErr(mallory, "update", "accept", "1"); err == nil || !strings.Contains(stderr, "this needs reviewer") {
		t.Fatalf("accept by a release manager: err %v, %s", err, stderr)
	}
	if snapshots() != nsnap || show().State != stable.Submitted {
		t.Fatal("a refused accept changed something")
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 6 {
		wg.Go(func() {
			if _, _, err := c.remoteErr(bob, "update", "accept", "1"); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if r = show(); wins != 1 || r.State != stable.VerificationNeeded || snapshots() != nsnap+1 {
		t.Fatalf("6 accepts at once: %d won, state %s, %d snapshots made; want 1, verification-needed, 1", wins, r.State, snapshots()-nsnap)
	}

	// Verification fails: the self-test, and the dashboard broken by the
	// library. Nothing can be released.
	out, stderr, err := c.remoteErr(rita, "update", "verify", "1")
	if err == nil || !strings.Contains(out, "reverse dependencies in stable and stable-updates: FAILED") ||
		!strings.Contains(out, "acme-dashboard: BROKEN by the update") || !strings.Contains(out, "test plan: FAILED") ||
		!strings.Contains(out, "now verification-failed") || !strings.Contains(out, "install the family from stable-proposed: passed") {
		t.Fatalf("verify of the broken upload: err %v\n%s%s", err, out, stderr)
	}
	if _, stderr, err := c.remoteErr(bob, "update", "release", "1"); err == nil || !strings.Contains(stderr, "it is verification-failed") {
		t.Fatalf("release after a failed verification: err %v, %s", err, stderr)
	}

	// A fixed upload: verification needed again, then done.
	fixed := []string{
		fam.upload(up, "acmelib", "2.0-2", "Drop the Breaks on the dashboard.", lib("2.0-2", "")),
		fam.upload(up, "acmeclient", "2.0-2", "Fix the self-test.", client(true, "2.0")),
	}
	out = c.remote(rita, append([]string{"update", "upload", "1"}, fixed...)...)
	if r = show(); r.State != stable.VerificationNeeded || r.Proposed["acmelib"] != "2.0-2" || r.Proposed["acme-nginx"] != "2.0-1" {
		t.Fatalf("after the fixed upload: %s %v\n%s", r.State, r.Proposed, out)
	}
	proposedAt := r.ProposedAt
	out = c.remote(rita, "update", "verify", "1")
	if r = show(); r.State != stable.VerificationDone {
		t.Fatalf("verify of the fixed upload: %s\n%s", r.State, out)
	}
	comment := r.Verifications[len(r.Verifications)-1].Comment
	for _, want := range []string{"Verification by rita at ", " acme-apache 2.0-1; acme-nginx 2.0-1; acmeclient 2.0-2; acmelib 2.0-2;",
		"- install the family from stable-proposed: passed", "- reverse dependencies in stable and stable-updates: passed",
		"- test plan: sh " + script + ": passed", "Snapshots used: ours/stable " + r.ProposedSerial} {
		if !strings.Contains(comment, want) {
			t.Errorf("the verification comment lacks %q:\n%s", want, comment)
		}
	}

	// Aging: refused before 7 days in -proposed (on the server's clock),
	// refused to the submitter, then released, phased at 10 %.
	if _, stderr, err := c.remoteErr(bob, "update", "release", "1"); err == nil || !strings.Contains(stderr, "the series asks for 7 days") {
		t.Fatalf("release before aging: err %v, %s", err, stderr)
	}
	e.clock.Set(proposedAt.Add(7*24*time.Hour + time.Minute))
	if _, stderr, err := c.remoteErr(rita, "update", "release", "1"); err == nil || !strings.Contains(stderr, "rita wrote or submitted it") {
		t.Fatalf("release by the submitter: err %v, %s", err, stderr)
	}
	out = c.remote(bob, "update", "release", "1")
	if r = show(); r.State != stable.Released || r.Phase != 10 || !strings.Contains(out, "phased at 10%") {
		t.Fatalf("release: %s %d\n%s", r.State, r.Phase, out)
	}
	e.clock.Shift(6*time.Hour + time.Minute)
	if err := e.app.PhaseUpdates(ctx); err != nil {
		t.Fatal(err)
	}
	if r = show(); r.Phase != 20 {
		t.Fatalf("after 6 hours the phase is %d%%, want 20%%", r.Phase)
	}
	c.remote(bob, "update", "halt", "1")
	e.clock.Shift(12 * time.Hour)
	if err := e.app.PhaseUpdates(ctx); err != nil {
		t.Fatal(err)
	}
	if r = show(); r.Phase != 0 || !r.Halted {
		t.Fatalf("halted: phase %d%%, halted %v", r.Phase, r.Halted)
	}

	// The real apt on a machine with the family at 1.0-1: at 0 % the
	// upgrade is held back, at 100 % it is taken.
	port := e.srv.URL[strings.LastIndex(e.srv.URL, ":")+1:]
	sources := func() string {
		serial := e.serialsOf("ours")[len(e.serialsOf("ours"))-1]
		return fmt.Sprintf("deb [signed-by=$ROOT/key.asc] http://localhost:%s/ours/%s/ stable main\n"+
			"deb [signed-by=$ROOT/key.asc] http://localhost:%s/ours/%s/ stable-updates main\n", port, serial, port, serial)
	}
	// The server's clock is a week ahead of this one: its Release files
	// are dated then. APT::Machine-ID makes phasing apply (APT skips it
	// in a chroot without one) and deterministic.
	apt := apttest.New(t, sources(), "APT::Machine-ID=8f2a4c6e0b1d3f5a7c9e1b3d5f7a9c0e", "Acquire::Check-Date=false")
	apt.WriteFile("key.asc", e.app.Signer.PublicKey())
	var status strings.Builder
	for _, p := range []string{"python3-acmelib", "acmeclient", "python3-acme-apache", "python3-acme-nginx"} {
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: misc\nMaintainer: RT <rt@example.invalid>\nArchitecture: all\nVersion: 1.0-1\nDescription: x\n\n", p)
	}
	apt.WriteFile("status", []byte(status.String()))
	upgrade := func() string {
		t.Helper()
		apt.SetSources(sources())
		if out, err := apt.Run("update"); err != nil {
			t.Fatalf("apt-get update: %v\n%s", err, out)
		}
		out, err := apt.Run("-s", "upgrade")
		if err != nil {
			t.Fatalf("apt-get -s upgrade: %v\n%s", err, out)
		}
		return out
	}
	if code, body := e.get("/ours/" + e.serialsOf("ours")[len(e.serialsOf("ours"))-1] + "/dists/stable-updates/main/binary-amd64/Packages"); code != 200 ||
		strings.Count(body, "Phased-Update-Percentage: 0\n") != 4 {
		t.Fatalf("stable-updates Packages at 0%% (%d):\n%s", code, body)
	}
	if out := upgrade(); regexp.MustCompile(`(?m)^Inst `).MatchString(out) ||
		!strings.Contains(out, "kept back:\n  acmeclient python3-acme-apache python3-acme-nginx python3-acmelib\n") {
		t.Fatalf("apt-get -s upgrade at 0%% installs something, or does not keep the family back:\n%s", out)
	}
	c.remote(bob, "update", "phase", "1", "100")
	out = upgrade()
	for _, want := range []string{"Inst python3-acmelib [1.0-1] (2.0-2 ", "Inst acmeclient [1.0-1] (2.0-2 ", "Inst python3-acme-apache [1.0-1] (2.0-1 ", "Inst python3-acme-nginx [1.0-1] (2.0-1 "} {
		if !strings.Contains(out, want) {
			t.Errorf("apt-get -s upgrade at 100%% lacks %q:\n%s", want, out)
		}
	}

	// The record: every change with who and when.
	r = show()
	var hist []string
	for _, ev := range r.History {
		hist = append(hist, ev.By+" "+ev.Action+" "+string(ev.To))
	}
	want := []string{"rita new draft", "rita upload ", "rita edit ", "rita edit ", "rita edit ", "rita edit ", "rita edit ", "rita edit ",
		"rita submit submitted", "bob accept verification-needed", "rita verify verification-failed", "rita upload verification-needed",
		"rita verify verification-done", "bob release released", "aptsnap (phasing schedule) phase ", "bob halt ", "bob phase "}
	if got, _ := json.Marshal(hist); string(got) != mustJSON(want) {
		t.Errorf("history:\n%s\nwant:\n%s", got, mustJSON(want))
	}
	if out := c.local("verify"); !strings.HasSuffix(out, " checked: ok\n") {
		t.Errorf("verify: %q", out)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// wantDraft is the [Major Changes] draft of the first upload, written by
// hand.
const wantDraft = `acmelib 1.0-1 -> 2.0-1
  python3-acmelib: 1.0-1 -> 2.0-1 (all)
  Breaks of python3-acmelib (all): + acme-dashboard (<< 5.0)
  Changelog (2.0-1):
    acmelib (2.0-1) stable; urgency=medium
      * New upstream release.
     -- Release Team <rt@example.invalid>  Mon, 30 Nov 2026 10:00:00 +0000

acmeclient 1.0-1 -> 2.0-1
  acmeclient: 1.0-1 -> 2.0-1 (all)
  Depends of acmeclient (all): - python3-acmelib (>= 1.0); + python3-acmelib (>= 2.0)
  Changelog (2.0-1):
    acmeclient (2.0-1) stable; urgency=medium
      * New upstream release.
     -- Release Team <rt@example.invalid>  Mon, 30 Nov 2026 10:00:00 +0000

acme-apache 1.0-1 -> 2.0-1
  python3-acme-apache: 1.0-1 -> 2.0-1 (all)
  Changelog (2.0-1):
    acme-apache (2.0-1) stable; urgency=medium
      * New upstream release.
     -- Release Team <rt@example.invalid>  Mon, 30 Nov 2026 10:00:00 +0000

acme-nginx 1.0-1 -> 2.0-1
  python3-acme-nginx: 1.0-1 -> 2.0-1 (all)
  Changelog (2.0-1):
    acme-nginx (2.0-1) stable; urgency=medium
      * New upstream release.
     -- Release Team <rt@example.invalid>  Mon, 30 Nov 2026 10:00:00 +0000
`

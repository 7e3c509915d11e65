package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/internal/apttest"
	"github.com/aptsnap/aptsnap/repogen"
)

// branchTree makes a release team's source tree: serials for debian and
// ours (both latest), ours a freeze exception, the server in
// aptsnap.toml, and a preferences file that pins ours low.
func branchTree(t *testing.T, server, prefs string) string {
	t.Helper()
	root := t.TempDir()
	for _, arc := range []string{"debian", "ours"} {
		d := filepath.Join(root, "config/APT_snapshots.d", arc)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "serial"), []byte("latest\n"), 0o644)
	}
	os.WriteFile(filepath.Join(root, "config/APT_snapshots.d/aptsnap.toml"),
		[]byte(fmt.Sprintf("server = %q\nfreeze_exceptions = [\"ours\"]\nexceptions_archive = \"ours\"\n", server)), 0o644)
	os.MkdirAll(filepath.Join(root, "config/chroot_apt"), 0o755)
	os.WriteFile(filepath.Join(root, "config/chroot_apt/preferences"), []byte(prefs), 0o644)
	return root
}

// The branch's preferences before any exception: comments, odd spacing
// and an entry that keeps our own archive below the frozen one.
const branchPrefs = `# Pins of the release branch.
# Our own archive only supplies what is pinned explicitly.

Explanation: keep our archive low
Package: *
Pin: origin localhost
Pin-Priority: 100

# a pin unrelated to freeze exceptions, left alone
Package: docs-common
Pin: release o=Debian
Pin-Priority:   500
`

// TestBranchFreezeAndExceptions runs the consumer verbs on a sample branch
// tree against a server: freeze, thaw, prepare-build and cat-json round
// trips; the freeze-exception archive stays latest; expiry fails near
// expiry and passes after bump; then the real apt-get with the printed
// sources and the branch's preferences picks the frozen hello, the
// granted exception's after `exception grant`, the frozen one again
// after `exception thaw` (apt-cache policy asserted each time).
func TestBranchFreezeAndExceptions(t *testing.T) {
	bin := aptsnapBinary(t)
	e := newEnvWith(t, customConfig(""))
	port := e.srv.URL[strings.LastIndex(e.srv.URL, ":")+1:]
	c := &cli{t: t, bin: bin, config: e.writeConfig(t), server: e.srv.URL}
	rm := createToken(t, c, "release-manager", "rm")
	s1 := e.mustPulse().Serial // hello 2.10-1
	ours0, err := e.app.Pulse(t.Context(), "ours")
	if err != nil {
		t.Fatal(err)
	}
	root := branchTree(t, e.srv.URL, branchPrefs)
	// run runs a consumer verb in the tree, against the server named in
	// aptsnap.toml, with the release manager's token.
	run := func(args ...string) (string, string, error) {
		return c.run(rm, append(args, "--tree", root)...)
	}
	must := func(args ...string) string {
		t.Helper()
		out, stderr, err := run(args...)
		if err != nil {
			t.Fatalf("aptsnap %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		return out
	}

	// Freeze: debian gets its latest serial, ours (a freeze exception) stays latest.
	if out := must("serials", "freeze"); out != "debian: latest -> "+s1+"\nours: latest (unchanged)\n" {
		t.Errorf("freeze:\n%s", out)
	}
	if out := must("serials", "cat"); out != "debian: "+s1+"\nours: latest\n" {
		t.Errorf("cat:\n%s", out)
	}
	frozenJSON := must("serials", "cat-json")
	if frozenJSON != `{"debian":"`+s1+`","ours":"latest"}`+"\n" {
		t.Errorf("cat-json: %q", frozenJSON)
	}
	if out := must("serials", "freeze", "--freeze-exceptions-too", "ours"); out != "ours: latest -> "+ours0.Serial+"\n" {
		t.Errorf("freeze --freeze-exceptions-too ours:\n%s", out)
	}
	if out := must("serials", "thaw", "ours"); out != "ours: "+ours0.Serial+" -> latest\n" {
		t.Errorf("thaw ours:\n%s", out)
	}

	// Upstream moves: the server's latest is a new serial, the branch stays.
	e.up.write(1)
	s2 := e.mustPulse().Serial // hello 2.10-2
	if out := must("serials", "get-latest", "debian"); out != "debian: "+s2+"\n" {
		t.Errorf("get-latest: %q", out)
	}
	if out := must("serials", "prepare-build"); out != "debian: "+s1+"\nours: "+ours0.Serial+"\n" {
		t.Errorf("prepare-build:\n%s", out)
	}
	resolved := mustRead(t, filepath.Join(root, "tmp/APT_snapshots.resolved.json"))
	var set map[string]string
	if err := json.Unmarshal(resolved, &set); err != nil || set["debian"] != s1 || set["ours"] != ours0.Serial {
		t.Errorf("resolved set %s (%v)", resolved, err)
	}
	// cat-json's output with latest in it is refused; a concrete set is taken.
	if _, stderr, err := run("serials", "prepare-build", strings.TrimSpace(frozenJSON)); err == nil || !strings.Contains(stderr, "latest") {
		t.Errorf("prepare-build with latest in the JSON: %v %s", err, stderr)
	}
	if out := must("serials", "prepare-build", `{"debian":"`+s2+`","ours":"`+ours0.Serial+`"}`, "--print-serials-only"); out != s2+"\n"+ours0.Serial+"\n" {
		t.Errorf("prepare-build JSON --print-serials-only: %q", out)
	}
	// Round trip: thaw then freeze gives the newest serials; the tree is back to s1 after writing it.
	if out := must("serials", "thaw"); out != "debian: "+s1+" -> latest\nours: latest (unchanged)\n" {
		t.Errorf("thaw:\n%s", out)
	}
	if out := must("serials", "freeze"); out != "debian: latest -> "+s2+"\nours: latest (unchanged)\n" {
		t.Errorf("second freeze:\n%s", out)
	}
	os.WriteFile(filepath.Join(root, "config/APT_snapshots.d/debian/serial"), []byte(s1+"\n"), 0o644)

	// Expiry: snapshots are valid 10 days; asking for 20 fails, naming the serial.
	if _, stderr, err := run("serials", "expiry", "--min-days", "20"); err == nil || !strings.Contains(stderr, "debian "+s1) {
		t.Errorf("expiry --min-days 20 before bump: %v %s", err, stderr)
	}
	if out := must("serials", "bump", "--days", "30"); !regexp.MustCompile(`^debian ` + s1 + ` valid until \S+ \(was \S+\)\n$`).MatchString(out) {
		t.Errorf("bump:\n%s", out)
	}
	if out := must("serials", "expiry", "--min-days", "20"); !strings.Contains(out, "at least 20") {
		t.Errorf("expiry after bump: %q", out)
	}

	// Sources for the resolved set, in both formats.
	must("serials", "prepare-build")
	keyPath := filepath.Join(t.TempDir(), "aptsnap.asc")
	os.WriteFile(keyPath, e.app.Signer.PublicKey(), 0o644)
	sources := func() string {
		t.Helper()
		must("serials", "prepare-build")
		return must("sources", "--signed-by", keyPath)
	}
	oneLine := sources()
	wantDebian := fmt.Sprintf("deb [signed-by=%s] %s/debian/%s/ bookworm main\n", keyPath, e.srv.URL, s1)
	if !strings.Contains(oneLine, wantDebian) || !strings.Contains(oneLine, "http://localhost:"+port+"/ours/"+ours0.Serial+"/ stable main\n") {
		t.Errorf("sources:\n%s", oneLine)
	}
	deb822 := must("sources", "--format", "deb822", "--signed-by", keyPath)
	if !strings.Contains(deb822, fmt.Sprintf("Types: deb\nURIs: %s/debian/%s/\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: %s\n", e.srv.URL, s1, keyPath)) {
		t.Errorf("deb822 sources:\n%s", deb822)
	}
	if lb := must("sources", "--format", "live-build"); lb != fmt.Sprintf("--mirror-bootstrap %[1]s --mirror-chroot %[1]s --mirror-binary %[1]s\n", e.srv.URL+"/debian/"+s1+"/") {
		t.Errorf("live-build: %q", lb)
	}

	// The real apt with the branch's sources and preferences.
	apt := apttest.New(t, oneLine)
	policy := func(wantCandidate string) string {
		t.Helper()
		apt.SetSources(sources())
		apt.WriteFile("etc/preferences", mustRead(t, filepath.Join(root, "config/chroot_apt/preferences")))
		if out, err := apt.Run("update"); err != nil {
			t.Fatalf("apt-get update: %v\n%s", err, out)
		}
		out, _, err := apt.Exec("apt-cache", "policy", "hello")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "Candidate: "+wantCandidate+"\n") {
			t.Errorf("apt-cache policy hello: want candidate %s\n%s", wantCandidate, out)
		}
		return out
	}
	policy("2.10-1")

	// Grant hello from debian's newest snapshot into ours/stable.
	out := must("exception", "grant", "hello", "--suite", "stable", "--from", "debian")
	if !strings.Contains(out, "added hello 2.10-2 amd64") || !strings.Contains(out, "pinned hello from origin localhost at 999") {
		t.Errorf("exception grant:\n%s", out)
	}
	granted := branchPrefs + "\nExplanation: freeze exception\nPackage: hello\nPin: origin localhost\nPin-Priority: 999\n"
	if got := string(mustRead(t, filepath.Join(root, "config/chroot_apt/preferences"))); got != granted {
		t.Errorf("preferences after grant:\n%s\nwant\n%s", got, granted)
	}
	if out := policy("2.10-2"); !regexp.MustCompile(`(?m)^\s+2\.10-2 999\n\s+\d+ http://localhost:` + port + `/ours/\d{10} stable/main amd64 Packages$`).MatchString(out) {
		t.Errorf("policy after grant does not show the 999 pin:\n%s", out)
	}
	if out := must("exception", "list"); out != "hello\torigin localhost\t999\n" {
		t.Errorf("exception list: %q", out)
	}
	// Granting again changes nothing.
	if out := must("exception", "grant", "hello", "--suite", "stable", "--from", "debian"); !strings.Contains(out, "nothing changed") || !strings.Contains(out, "already") {
		t.Errorf("second grant:\n%s", out)
	}

	// Thaw after the release: -1, the frozen version again; nothing else touched.
	if out := must("exception", "thaw"); !strings.Contains(out, "1 freeze exception pin(s) set to -1") {
		t.Errorf("exception thaw:\n%s", out)
	}
	thawed := strings.Replace(granted, "Pin-Priority: 999\n", "Pin-Priority: -1\n", 1)
	if got := string(mustRead(t, filepath.Join(root, "config/chroot_apt/preferences"))); got != thawed {
		t.Errorf("preferences after thaw:\n%s\nwant\n%s", got, thawed)
	}
	policy("2.10-1")

	// Pruned: debian's newest snapshot carries hello 2.10-2, the
	// exception is no longer needed in ours.
	if out := must("exception", "prune", "--dry-run"); !regexp.MustCompile(`(?m)^would remove hello 2\.10-2 from ours/stable: debian/` + s2 + ` bookworm \(o=Debian,a=bookworm,n=bookworm\) carries 2\.10-2$`).MatchString(out) {
		t.Errorf("exception prune --dry-run:\n%s", out)
	}
	if pkgs, _ := e.app.RepoList(t.Context(), "ours", "stable"); !slices.ContainsFunc(pkgs, func(p api.Package) bool { return p.Package == "hello" }) {
		t.Fatalf("a dry run removed hello: %+v", pkgs)
	}
	if out := must("exception", "prune"); !strings.Contains(out, "removed hello 2.10-2 from ours/stable") {
		t.Errorf("exception prune:\n%s", out)
	}
	if pkgs, _ := e.app.RepoList(t.Context(), "ours", "stable"); slices.ContainsFunc(pkgs, func(p api.Package) bool { return p.Package == "hello" }) {
		t.Errorf("hello still in ours/stable after prune: %+v", pkgs)
	}
	// A thawed exception no mirrored archive carries yet is kept.
	deb, err := repogen.BuildDeb(repogen.Package{Name: "hello", Version: "2.10-9", Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	debPath := filepath.Join(t.TempDir(), "hello_2.10-9_amd64.deb")
	os.WriteFile(debPath, deb, 0o644)
	if _, err := e.app.RepoAdd(t.Context(), api.AddRequest{Archive: "ours", Suite: "stable", Files: []string{debPath}}); err != nil {
		t.Fatal(err)
	}
	if out := must("exception", "thaw", "--prune"); !strings.Contains(out, "kept hello 2.10-9 in ours/stable: no mirrored archive carries it") {
		t.Errorf("exception thaw --prune:\n%s", out)
	}

	// The rule: when the distribution the package comes from is pinned
	// at 990 or more, granting adds no pin.
	pinned := "Package: *\nPin: release o=Debian,n=bookworm\nPin-Priority: 990\n"
	os.WriteFile(filepath.Join(root, "config/chroot_apt/preferences"), []byte(pinned), 0o644)
	out = must("exception", "grant", "libfoo1", "--suite", "testing", "--from", "debian")
	if !strings.Contains(out, "added libfoo1 1.0-1 amd64") || !strings.Contains(out, "libfoo1 comes from debian/"+s2+" bookworm (o=Debian,a=bookworm,n=bookworm), pinned at 990") {
		t.Errorf("grant from a distribution pinned at 990:\n%s", out)
	}
	if got := string(mustRead(t, filepath.Join(root, "config/chroot_apt/preferences"))); got != pinned {
		t.Errorf("a grant from a distribution pinned at 990 changed the preferences:\n%s", got)
	}
}

// TestTaggedBranch: a stable branch whose serial files name the tag of
// its last release builds from /tagged/: prepare-build keeps the tag,
// sources prints /tagged/<tag>/<archive>/ lines the real apt-get uses
// (the tagged versions, whatever the archives' newest), expiry passes
// whatever the minimum (a tag never expires), and a missing tag is said.
func TestTaggedBranch(t *testing.T) {
	bin := aptsnapBinary(t)
	e := newEnvWith(t, customConfig(""))
	c := &cli{t: t, bin: bin, config: e.writeConfig(t), server: e.srv.URL}
	rm := createToken(t, c, "release-manager", "rm")
	s1 := e.mustPulse().Serial // hello 2.10-1
	ours, err := e.app.Pulse(t.Context(), "ours")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.TagCreate(t.Context(), "6.1", map[string]string{"debian": s1, "ours": ours.Serial}, nil); err != nil {
		t.Fatal(err)
	}
	e.up.write(1)
	e.mustPulse() // hello 2.10-2, the newest

	root := branchTree(t, e.srv.URL, branchPrefs)
	for _, arc := range []string{"debian", "ours"} {
		os.WriteFile(filepath.Join(root, "config/APT_snapshots.d", arc, "serial"), []byte("tagged/6.1\n"), 0o644)
	}
	must := func(args ...string) string {
		t.Helper()
		out, stderr, err := c.run(rm, append(args, "--tree", root)...)
		if err != nil {
			t.Fatalf("aptsnap %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		return out
	}
	if out := must("serials", "prepare-build"); out != "debian: tagged/6.1\nours: tagged/6.1\n" {
		t.Errorf("prepare-build:\n%s", out)
	}
	if out := must("serials", "expiry", "--min-days", "3650"); !strings.Contains(out, "at least 3650") {
		t.Errorf("expiry of a tagged branch: %q", out)
	}
	if out := must("serials", "freeze"); !strings.Contains(out, "debian: tagged/6.1 (unchanged)") {
		t.Errorf("freeze of a tagged branch:\n%s", out)
	}
	keyPath := filepath.Join(t.TempDir(), "aptsnap.asc")
	os.WriteFile(keyPath, e.app.Signer.PublicKey(), 0o644)
	sources := must("sources", "--signed-by", keyPath)
	if want := fmt.Sprintf("deb [signed-by=%s] %s/tagged/6.1/debian/ bookworm main\n", keyPath, e.srv.URL); !strings.Contains(sources, want) ||
		!strings.Contains(sources, "/tagged/6.1/ours/ stable main\n") {
		t.Errorf("sources:\n%s", sources)
	}
	apt := apttest.New(t, sources)
	if out, err := apt.Run("update"); err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	if got := candidate(t, apt, "hello"); got != "2.10-1" {
		t.Errorf("hello from the tag: %s, want the tagged 2.10-1", got)
	}

	if _, err := e.app.TagDelete(t.Context(), "6.1", false); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := c.run(rm, "serials", "prepare-build", "--tree", root); err == nil || !strings.Contains(stderr, "builds from tagged/6.1, which the server does not have") {
		t.Errorf("prepare-build with the tag deleted: %v %s", err, stderr)
	}
	// A frozen serial the server does not have: prepare-build and sources say so.
	os.WriteFile(filepath.Join(root, "config/APT_snapshots.d/debian/serial"), []byte("2001010101\n"), 0o644)
	os.WriteFile(filepath.Join(root, "config/APT_snapshots.d/ours/serial"), []byte("latest\n"), 0o644)
	for _, verb := range [][]string{{"serials", "prepare-build"}, {"sources"}} {
		os.Remove(filepath.Join(root, "tmp/APT_snapshots.resolved.json"))
		if _, stderr, err := c.run(rm, append(verb, "--tree", root)...); err == nil || !strings.Contains(stderr, "debian builds from 2001010101, which the server does not have") {
			t.Errorf("%s with a serial the server lacks: %v %s", verb[0], err, stderr)
		}
	}
}

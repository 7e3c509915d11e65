package e2e

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/blob/local"
	"github.com/aptsnap/aptsnap/repogen"
)

// cli runs the aptsnap binary, locally on a configuration file or against
// the env's server with a token.
type cli struct {
	t      *testing.T
	bin    string
	config string
	server string
}

// run runs the binary with args and the given APTSNAP_TOKEN, and returns
// its stdout and stderr.
func (c *cli) run(token string, args ...string) (stdout, stderr string, err error) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "APTSNAP_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "APTSNAP_TOKEN="+token)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// local runs a verb on the configuration and fails the test if it fails.
func (c *cli) local(args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run("", append([]string{"--config", c.config}, args...)...)
	if err != nil {
		c.t.Fatalf("aptsnap --config %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// remote runs a verb against the server with token and fails the test if it fails.
func (c *cli) remote(token string, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.remoteErr(token, args...)
	if err != nil {
		c.t.Fatalf("aptsnap --server %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (c *cli) remoteErr(token string, args ...string) (string, string, error) {
	c.t.Helper()
	return c.run(token, append([]string{"--server", c.server}, args...)...)
}

// same runs a verb both ways and checks that the outputs are identical.
func (c *cli) same(token string, args ...string) string {
	c.t.Helper()
	l, r := c.local(args...), c.remote(token, args...)
	if l != r {
		c.t.Fatalf("aptsnap %s: output differs\n--config:\n%s--server:\n%s", strings.Join(args, " "), l, r)
	}
	return l
}

var bumpLine = regexp.MustCompile(`^debian ([0-9]{10}) valid until (\S+) \(was (\S+)\)\n$`)

// TestCLILocalAndRemote runs the lifecycle verbs of the binary locally
// (--config) and against the server (--server, APTSNAP_TOKEN) on the same
// installation: same output both ways; roles enforced remotely.
func TestCLILocalAndRemote(t *testing.T) {
	bin := aptsnapBinary(t)
	e := newEnv(t)
	e.clock.Set(time.Now().Add(-20 * 24 * time.Hour))
	expired := e.mustPulse() // valid for 10 days: expired 10 days ago
	e.clock.Set(time.Now())
	e.up.write(1)
	live := e.mustPulse()
	// Files written within the last second are not swept (a pulse may be
	// about to use them): age the store so that the two dry runs below see
	// the same thing whenever they run.
	local := e.app.Store.(*local.Store)
	old := time.Now().Add(-time.Hour)
	e.app.Store.Walk(context.Background(), func(i blob.Info) error { return os.Chtimes(local.Path(i.Digest), old, old) })

	c := &cli{t: t, bin: bin, config: e.writeConfig(t), server: e.srv.URL}

	// Tokens: the first one locally (nothing to authenticate with yet),
	// the next one through the API with the first.
	out, note, err := c.run("", "--config", c.config, "token", "create", "--role", "admin", "--name", "ci-admin")
	admin := strings.TrimSuffix(out, "\n")
	if err != nil || !strings.HasPrefix(admin, "aptsnap_") || strings.Contains(admin, "\n") {
		t.Fatalf("token create: %v\nstdout %q\n%s", err, out, note)
	}
	if !strings.Contains(note, "only time") || !strings.Contains(note, "ci-admin") {
		t.Errorf("token create says nothing about the secret not being stored: %q", note)
	}
	manager := strings.TrimSuffix(c.remote(admin, "token", "create", "--role", "release-manager", "--name", "ci-rm"), "\n")
	if !strings.HasPrefix(manager, "aptsnap_") || manager == admin {
		t.Fatalf("remote token create printed %q", manager)
	}
	if list := c.same(admin, "token", "list"); !regexp.MustCompile(`(?m)^ci-admin +admin +\S+Z\nci-rm +release-manager +\S+Z$`).MatchString(list) {
		t.Errorf("token list:\n%s", list)
	}

	// Reading.
	list := c.same("", "snapshot", "list")
	for _, s := range []string{expired.Serial, live.Serial} {
		if !strings.Contains(list, "debian   "+s+"  ") {
			t.Errorf("snapshot list lacks %s:\n%s", s, list)
		}
	}
	verifyOK := regexp.MustCompile(`^verify: [1-9]\d* snapshot\(s\), [1-9]\d* file\(s\) \([0-9.]+ k?B\), [1-9]\d* signature\(s\) checked: ok\n$`)
	if got := c.same(admin, "verify"); !verifyOK.MatchString(got) {
		t.Errorf("verify: %q", got)
	}
	// An unknown archive is an error, both ways, naming the archives.
	for _, args := range [][]string{{"verify", "debain"}, {"snapshot", "list", "debain"}} {
		_, lerr, err1 := c.run("", append([]string{"--config", c.config}, args...)...)
		_, rerr, err2 := c.remoteErr(admin, args...)
		if err1 == nil || err2 == nil || lerr != rerr || !strings.Contains(lerr, `no archive "debain" in the configuration (archives: debian`) {
			t.Errorf("%s: local %v %q, remote %v %q", strings.Join(args, " "), err1, lerr, err2, rerr)
		}
	}

	// Tags: made remotely by the release manager from a manifest file,
	// listed the same both ways, refused without a token.
	mf := filepath.Join(t.TempDir(), "manifest.yaml")
	os.WriteFile(mf, []byte("packages:\n  binary:\n    - {package: hello, version: 2.10-2, arch: amd64}\n"), 0o644)
	if got := c.remote(manager, "tag", "create", "rel-1", "--from", "debian="+live.Serial, "--manifest", mf); got != "tagged rel-1: debian from "+live.Serial+" (bookworm, bookworm-updates)\n" {
		t.Errorf("tag create: %q", got)
	}
	if _, _, err := c.remoteErr("", "tag", "create", "rel-2", "--from", "debian="+live.Serial); err == nil {
		t.Error("tag create without a token succeeded")
	}
	if tags := c.same("", "tag", "list"); !regexp.MustCompile(`(?m)^rel-1 +debian +\S+Z +bookworm,bookworm-updates$`).MatchString(tags) {
		t.Errorf("tag list:\n%s", tags)
	}
	if code, body := e.get("/tagged/rel-1/debian/dists/bookworm/main/binary-amd64/Packages"); code != 200 || strings.Count(body, "Package: ") != 1 {
		t.Errorf("tagged Packages: %d\n%s", code, body)
	}

	// What GC would do.
	dry := c.same(admin, "gc", "--dry-run")
	if !regexp.MustCompile(`^expired debian ` + expired.Serial + `\ngc: 1 snapshot\(s\), [1-9][0-9]* file\(s\), [0-9.]+ [kM]?B would be deleted, [1-9][0-9]* kept\n$`).MatchString(dry) {
		t.Errorf("gc --dry-run:\n%s", dry)
	}

	// Bump locally, then remotely with the release manager: each shows
	// the Valid-Until the other set, and both ways list the same after.
	l := bumpLine.FindStringSubmatch(c.local("bump", "debian", live.Serial, "30"))
	r := bumpLine.FindStringSubmatch(c.remote(manager, "bump", "debian", live.Serial, "40"))
	if l == nil || r == nil || l[1] != live.Serial || r[1] != live.Serial {
		t.Fatalf("bump outputs: local %q, remote %q", l, r)
	}
	if r[3] != l[2] {
		t.Errorf("the remote bump says it was valid until %s, the local bump had set %s", r[3], l[2])
	}
	for _, b := range []struct {
		until string
		days  int
	}{{l[2], 30}, {r[2], 40}} {
		if u, err := time.Parse(time.RFC3339, b.until); err != nil || time.Until(u) < time.Duration(b.days)*24*time.Hour-time.Minute || time.Until(u) > time.Duration(b.days)*24*time.Hour {
			t.Errorf("bump %d days: valid until %s (%v)", b.days, b.until, err)
		}
	}
	if list := c.same("", "snapshot", "list", "debian"); !strings.Contains(list, r[2]) {
		t.Errorf("snapshot list after bumps lacks %s:\n%s", r[2], list)
	}

	// A release manager may not collect; nobody without a token may.
	for _, tc := range []struct {
		token string
		want  []string
	}{{manager, []string{`the token in APTSNAP_TOKEN ("ci-rm") has role release-manager; this needs admin`}},
		{"", []string{"this needs an API token of role admin: set APTSNAP_TOKEN"}},
		{"aptsnap_wrong", []string{"the token in APTSNAP_TOKEN is unknown or revoked"}}} {
		out, errOut, err := c.remoteErr(tc.token, "gc")
		if err == nil {
			t.Fatalf("gc with token %q succeeded:\n%s", tc.token, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("gc with token %q: stderr %q lacks %q", tc.token, errOut, w)
			}
		}
	}
	if after := c.same(admin, "gc", "--dry-run"); after != dry {
		t.Fatalf("refused gc changed something: dry run now\n%s", after)
	}

	// The real thing, remotely; then there is nothing left to do either way.
	gc := c.remote(admin, "gc")
	if !regexp.MustCompile(` kept \(catalog [0-9.]+[mµn]?s, sweep [0-9.]+[mµn]?s\)\n$`).MatchString(gc) {
		t.Errorf("gc does not say how long its catalog part and its sweep took:\n%s", gc)
	}
	gc = regexp.MustCompile(` \(catalog .*\)`).ReplaceAllString(gc, "")
	if want := strings.Replace(dry, "would be deleted", "deleted", 1); gc != want {
		t.Errorf("gc:\n%swant (as the dry run said)\n%s", gc, want)
	}
	if got := c.same(admin, "gc", "--dry-run"); !regexp.MustCompile(`^gc: 0 snapshot\(s\), 0 file\(s\), 0 B would be deleted, [1-9][0-9]* kept\n$`).MatchString(got) {
		t.Errorf("gc --dry-run after gc:\n%s", got)
	}
	if list := c.same("", "snapshot", "list"); strings.Contains(list, expired.Serial) || !strings.Contains(list, live.Serial) {
		t.Errorf("snapshot list after gc:\n%s", list)
	}
	if got := c.same(admin, "verify"); !verifyOK.MatchString(got) {
		t.Errorf("verify after gc: %q", got)
	}

	// Bumping a collected snapshot is a clear error, both ways.
	_, lerr, err1 := c.run("", "--config", c.config, "bump", "debian", expired.Serial, "5")
	_, rerr, err2 := c.remoteErr(manager, "bump", "debian", expired.Serial, "5")
	if want := "aptsnap: bump debian/" + expired.Serial + ": no snapshot " + expired.Serial + " of debian (collected, or never made)\n"; err1 == nil || err2 == nil || lerr != want || rerr != want {
		t.Errorf("bump of a collected snapshot: local %v %q, remote %v %q", err1, lerr, err2, rerr)
	}

	// Revoked, the release manager's token stops working at once.
	if got := c.remote(admin, "token", "revoke", "ci-rm"); got != "revoked token ci-rm\n" {
		t.Errorf("token revoke: %q", got)
	}
	if _, errOut, err := c.remoteErr(manager, "bump", "debian", live.Serial, "1"); err == nil || !strings.Contains(errOut, "unknown or revoked") {
		t.Errorf("bump with a revoked token: %v %q", err, errOut)
	}
}

// TestWithdrawAndDryRuns: snapshot expire withdraws a bad snapshot at
// once (no longer served, the trace file and latest move back), refuses
// the only one; untrack and tag delete --dry-run say what would go and
// change nothing; usage errors exit 2.
func TestWithdrawAndDryRuns(t *testing.T) {
	bin := aptsnapBinary(t)
	e := newEnv(t)
	c := &cli{t: t, bin: bin, config: e.writeConfig(t), server: e.srv.URL}
	admin := createToken(t, c, "admin", "root")
	s1 := e.mustPulse()
	if _, errOut, err := c.remoteErr(admin, "snapshot", "expire", "debian", s1.Serial); err == nil ||
		!strings.Contains(errOut, "is the only snapshot of debian: withdrawn, the archive would serve nothing") {
		t.Errorf("expire of the only snapshot: %v %q", err, errOut)
	}
	e.up.write(1)
	s2 := e.mustPulse()
	if _, err := e.app.TagCreate(t.Context(), "keep", map[string]string{"debian": s2.Serial}, nil); err != nil {
		t.Fatal(err)
	}

	// Dry runs change nothing.
	if out := c.same(admin, "untrack", "--dry-run", "debian", "bookworm-*"); out != "would untrack bookworm-updates from debian (2 snapshots)\n" {
		t.Errorf("untrack --dry-run: %q", out)
	}
	if out := c.same(admin, "tag", "delete", "--dry-run", "keep"); out != "would delete tag keep (1 snapshot(s))\n" {
		t.Errorf("tag delete --dry-run: %q", out)
	}
	if code, _ := e.get("/debian/" + s2.Serial + "/dists/bookworm-updates/InRelease"); code != 200 {
		t.Errorf("untrack --dry-run untracked: %d", code)
	}
	if code, _ := e.get("/tagged/keep/debian/dists/bookworm/InRelease"); code != 200 {
		t.Errorf("tag delete --dry-run deleted: %d", code)
	}

	// Withdrawn: gone at once, the newest moves back.
	if out := c.remote(admin, "snapshot", "expire", "debian", s2.Serial); !strings.HasPrefix(out, "withdrew debian/"+s2.Serial+" (made ") {
		t.Errorf("snapshot expire: %q", out)
	}
	if code, _ := e.get("/debian/" + s2.Serial + "/dists/bookworm/InRelease"); code != 404 {
		t.Errorf("a withdrawn snapshot answers %d", code)
	}
	if _, trace := e.get("/debian/project/trace/debian"); !strings.HasPrefix(trace, "Archive serial: "+s1.Serial+"\n") {
		t.Errorf("trace after withdrawal: %q", trace)
	}
	if code, _ := e.get("/tagged/keep/debian/dists/bookworm/InRelease"); code != 200 {
		t.Errorf("withdrawing a snapshot took its tag: %d", code)
	}
	if _, errOut, err := c.remoteErr(admin, "snapshot", "expire", "debian", "nonsense"); err == nil ||
		!strings.Contains(errOut, `snapshot expire debian/nonsense: "nonsense" is not a serial (YYYYMMDDNN)`) {
		t.Errorf("expire of a non-serial: %v %q", err, errOut)
	}

	// What cannot run exits 2, saying why.
	for _, args := range [][]string{{"snapshot", "exprie"}, {"snapshot", "expire", "debian"}, {"gc", "--now"}} {
		_, errOut, err := c.run("", append([]string{"--config", c.config}, args...)...)
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.HasPrefix(errOut, "aptsnap: ") {
			t.Errorf("%s: %v %q, want exit status 2", strings.Join(args, " "), err, errOut)
		}
	}
}

// TestMessages: what a user gets wrong is said in the words of what they
// did, the same locally and against a server, once, without the names of
// aptsnap's insides.
func TestMessages(t *testing.T) {
	bin := aptsnapBinary(t)
	e := newEnvWith(t, customConfig(""))
	c := &cli{t: t, bin: bin, config: e.writeConfig(t), server: e.srv.URL}
	admin := createToken(t, c, "admin", "root")
	s1 := e.mustPulse()
	if _, err := e.app.TagCreate(t.Context(), "6.1", map[string]string{"debian": s1.Serial}, nil); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 300)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"repo", "copy", "ours", "stable", "testing", "nosuchpkg"}, "repo copy: nosuchpkg is not in ours/stable"},
		{[]string{"untrack", "debain", "sid"}, `untrack: no archive "debain" in the configuration (archives: debian, ours)`},
		{[]string{"bump", "debian", "@6.1", "3"}, "bump debian/@6.1: a tagged snapshot never expires: there is nothing to bump"},
		{[]string{"bump", "debian", "latest", "3"}, `bump debian/latest: "latest" is not a serial (YYYYMMDDNN)`},
		{[]string{"verify", "debian", "x1"}, `verify debian/x1: "x1" is not a serial (YYYYMMDDNN) nor @TAG`},
		{[]string{"tag", "create", long, "--from", "debian=" + s1.Serial}, "tag create: a tag name is at most 64 characters, not 300"},
		{[]string{"tag", "delete", "nosuch"}, "tag delete: no tag nosuch"},
		{[]string{"bump", "debian", "2001010101", "3"}, "bump debian/2001010101: no snapshot 2001010101 of debian (collected, or never made)"},
	} {
		_, lerr, err1 := c.run("", append([]string{"--config", c.config}, tt.args...)...)
		_, rerr, err2 := c.remoteErr(admin, tt.args...)
		want := "aptsnap: " + tt.want + "\n"
		if err1 == nil || lerr != want {
			t.Errorf("%s locally: %v\n%q\nwant\n%q", strings.Join(tt.args, " "), err1, lerr, want)
		}
		if err2 == nil || rerr != want {
			t.Errorf("%s remotely: %v\n%q\nwant\n%q", strings.Join(tt.args, " "), err2, rerr, want)
		}
		for _, leak := range []string{"catalog:", "404", "400", "not found:", "invalid argument", "map["} {
			if strings.Contains(lerr+rerr, leak) {
				t.Errorf("%s: the message says %q", strings.Join(tt.args, " "), leak)
			}
		}
	}
}

// TestPulseAllAndShutdown: pulse --all pulses every archive (at once, by
// default), printing each serial in order; serve says it shuts down on
// SIGTERM and exits cleanly.
func TestPulseAllAndShutdown(t *testing.T) {
	bin := aptsnapBinary(t)
	e := newEnvWith(t, customConfig(""))
	cfg := e.writeConfig(t)
	c := &cli{t: t, bin: bin, config: cfg}
	out := c.local("pulse", "--all")
	if !regexp.MustCompile(`^debian \d{10}\nours \d{10}\n$`).MatchString(out) {
		t.Errorf("pulse --all: %q", out)
	}
	if _, errOut, err := c.run("", "--config", cfg, "pulse"); err == nil || !strings.Contains(errOut, "name the archives, or give --all") {
		t.Errorf("pulse without archives: %v %q", err, errOut)
	}

	// serve on a port of its own, then SIGTERM.
	text, _ := os.ReadFile(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	os.WriteFile(cfg, []byte("listen = \""+addr+"\"\n"+string(text)), 0o644)
	cmd := exec.Command(bin, "--config", cfg, "serve", "--no-schedule")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	up := false
	for range 100 {
		if resp, err := http.Get("http://" + addr + "/debian/project/trace/debian"); err == nil {
			resp.Body.Close()
			up = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !up {
		cmd.Process.Kill()
		t.Fatalf("serve never answered:\n%s", logs.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("serve did not stop on SIGTERM:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Errorf("no shutdown line:\n%s", logs.String())
	}
}

// TestWithdrawCustom: a custom archive's newest snapshot holds its
// contents: it is not withdrawn until a fixed one is published; an older
// one is, and its serial is never given again.
func TestWithdrawCustom(t *testing.T) {
	e := newEnvWith(t, customConfig(""))
	ctx := t.Context()
	deb, err := repogen.BuildDeb(repogen.Package{Name: "bad", Version: "1.0", Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "bad_1.0_amd64.deb")
	os.WriteFile(p, deb, 0o644)
	first, err := e.app.Pulse(ctx, "ours")
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.app.RepoAdd(ctx, api.AddRequest{Archive: "ours", Suite: "stable", Files: []string{p}})
	if err != nil || res.Serial == "" {
		t.Fatalf("repo add: %+v %v", res, err)
	}
	if _, err := e.app.Expire(ctx, "ours", res.Serial); err == nil || !strings.Contains(err.Error(), "remove the bad packages first") {
		t.Errorf("withdrawing a custom archive's newest: %v", err)
	}
	fixed, err := e.app.RepoRemove(ctx, "ours", "stable", []string{"bad"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.Expire(ctx, "ours", res.Serial); err != nil {
		t.Fatalf("withdrawing the bad snapshot once fixed: %v", err)
	}
	again, err := e.app.Pulse(ctx, "ours")
	if err != nil || again.Serial == res.Serial || again.Serial <= fixed.Serial {
		t.Errorf("after a withdrawal: %s, %v (first %s, withdrawn %s, fixed %s)", again.Serial, err, first.Serial, res.Serial, fixed.Serial)
	}
	if code, _ := e.get("/ours/" + res.Serial + "/dists/stable/InRelease"); code != 404 {
		t.Errorf("the withdrawn serial answers %d", code)
	}
}

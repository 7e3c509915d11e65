package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/app"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/internal/apttest"
	"github.com/aptsnap/aptsnap/internal/pgtest"
	"github.com/aptsnap/aptsnap/internal/s3test"
)

// TestMigrate copies an installation with 10 snapshots (pulses, a custom
// archive's imports, a tag), a token and a pending change into another
// data directory with `aptsnap migrate`: a run killed midway is finished
// by the next; every snapshot keeps its serial and its signed Release
// bytes; verify is clean; the real apt-get works against the copy with
// the token; a later run copies only what is new.
func TestMigrate(t *testing.T) {
	bin := aptsnapBinary(t)
	e := newEnvWith(t, customConfig(""))
	ctx := context.Background()
	for g := range 6 {
		e.up.write(g, manyPackages(300))
		e.mustPulse()
	}
	dir := t.TempDir()
	for i := range 3 {
		deb := buildDeb(t, dir, "migrated", fmt.Sprintf("1.%d", i), "amd64", "gzip", fmt.Sprintf("build %d\n", i))
		if _, err := e.app.RepoAdd(ctx, api.AddRequest{Archive: "ours", Suite: "stable", Files: []string{deb}, Publish: true}); err != nil {
			t.Fatal(err)
		}
	}
	serials := e.serials()
	if _, err := e.app.TagCreate(ctx, "release-1", map[string]string{"debian": serials[2]}, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(serials) + len(e.serialsOf("ours")); n != 9 {
		t.Fatalf("%d snapshots, want 9 and a tag", n)
	}
	src := e.writeConfig(t)
	c := &cli{t: t, bin: bin, config: src}
	secret := createToken(t, c, "admin", "ops")

	// The target: another data directory.
	target := filepath.Join(t.TempDir(), "target.toml")
	text, _ := os.ReadFile(src)
	os.WriteFile(target, []byte(strings.Replace(string(text), e.cfg.DataDir, filepath.Join(t.TempDir(), "data"), 1)), 0o644)

	// Killed as it copies files, then run again.
	cmd := exec.Command(bin, "migrate", "--from", src, "--to", target, "--parallel", "1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	out := c.local("migrate", "--from", src, "--to", target)
	m := regexp.MustCompile(`snapshots: (\d+) copied, (\d+) already there;`).FindStringSubmatch(out)
	if m == nil || atoi(m[1])+atoi(m[2]) != 11 || !strings.HasSuffix(out, " checked: ok\n") {
		t.Fatalf("migrate after a killed one:\n%s", out)
	}
	t.Logf("the killed run had copied %s snapshots; the second copied %s", m[2], m[1])

	// The copy: same serials, same signed bytes, the token works.
	tcfg, err := config.Load(target)
	if err != nil {
		t.Fatal(err)
	}
	b, err := app.Open(ctx, tcfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	get := func(base, path string) string {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s%s: %d", base, path, resp.StatusCode)
		}
		return string(body)
	}
	for _, p := range []string{"/debian/" + serials[0] + "/dists/bookworm/InRelease", "/debian/" + serials[len(serials)-1] + "/dists/bookworm-updates/InRelease",
		"/ours/" + e.serialsOf("ours")[2] + "/dists/stable/InRelease", "/tagged/release-1/debian/dists/bookworm/Release", "/debian/project/trace/debian"} {
		if a, z := get(e.srv.URL, p), get(srv.URL, p); a != z {
			t.Errorf("%s differs in the copy", p)
		}
	}
	if toks, err := (&api.Client{BaseURL: srv.URL, Token: secret}).ListTokens(ctx); err != nil || len(toks) != 1 {
		t.Errorf("the migrated token: %v %v", toks, err)
	}
	apt := apttest.New(t, fmt.Sprintf("deb [signed-by=$ROOT/key.asc] %s/debian/%s/ bookworm main\n", srv.URL, serials[len(serials)-1]))
	apt.WriteFile("key.asc", b.Signer.PublicKey())
	if out, err := apt.Run("update"); err != nil {
		t.Fatalf("apt-get update from the copy: %v\n%s", err, out)
	}
	if _, stderr, err := apt.Exec("apt-get", "download", "hello"); err != nil {
		t.Fatalf("apt-get download from the copy: %v\n%s", err, stderr)
	}

	// A later run copies what is new only.
	e.up.write(6, manyPackages(300))
	e.mustPulse()
	out = c.local("migrate", "--from", src, "--to", target)
	if !strings.Contains(out, "snapshots: 1 copied, 11 already there; pulses 1, tokens 0, requests 0") {
		t.Errorf("a second migrate:\n%s", out)
	}
	// Into PostgreSQL + S3, and back into another data directory.
	dsn, ep := pgtest.Start(t), s3test.Start(t)
	creds := filepath.Join(t.TempDir(), "s3.env")
	os.WriteFile(creds, []byte("AWS_ACCESS_KEY_ID="+ep.AccessKey+"\nAWS_SECRET_ACCESS_KEY="+ep.SecretKey+"\n"), 0o600)
	scale := filepath.Join(t.TempDir(), "scale.toml")
	os.WriteFile(scale, []byte(strings.Replace(string(text), e.cfg.DataDir, filepath.Join(t.TempDir(), "data"), 1)+
		fmt.Sprintf("\n[catalog]\npostgres = %q\n[store]\ns3_endpoint = %q\ns3_bucket = %q\ns3_region = %q\ncredentials_file = %q\n",
			dsn, ep.URL, ep.Bucket, ep.Region, creds)), 0o644)
	out = c.local("migrate", "--from", src, "--to", scale)
	if !strings.Contains(out, "snapshots: 12 copied, 0 already there") || !strings.HasSuffix(out, " checked: ok\n") {
		t.Errorf("migrate into PostgreSQL + S3:\n%s", out)
	}
	back := filepath.Join(t.TempDir(), "back.toml")
	os.WriteFile(back, []byte(strings.Replace(string(text), e.cfg.DataDir, filepath.Join(t.TempDir(), "data"), 1)), 0o644)
	out = c.local("migrate", "--from", scale, "--to", back)
	if !strings.Contains(out, "snapshots: 12 copied, 0 already there") || !strings.Contains(out, "tokens 1") || !strings.HasSuffix(out, " checked: ok\n") {
		t.Errorf("migrate back from PostgreSQL + S3:\n%s", out)
	}

	// Into itself: refused.
	if _, stderr, err := c.run("", "migrate", "--from", src, "--to", src); err == nil || !strings.Contains(stderr, "describe the same storage") {
		t.Errorf("migrate into itself: %v %s", err, stderr)
	}
}

func atoi(s string) int {
	n := 0
	fmt.Sscan(s, &n)
	return n
}

package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/app"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/datadir"
	"github.com/aptsnap/aptsnap/internal/testenv"
	"github.com/aptsnap/aptsnap/repogen"
)

// TestWiring opens an installation the way the CLI does and checks that
// each engine is reached and each listener hears: a pulse is served at
// once (the server's caches hear of it) and gets its web package lists, an
// import, a bump and a GC work through the operations the API serves, and
// the metrics count the pulse.
func TestWiring(t *testing.T) {
	ctx := context.Background()
	up := testenv.NewUpstream(t)
	up.Write(repogen.Suite{Name: "stable", Architectures: []string{"amd64"}, Date: time.Now().Add(-time.Hour),
		Components: map[string][]repogen.Package{"main": {{Name: "hello", Version: "1.0", Arch: "amd64"}}}})
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
data_dir = %q
public_url = "http://snap.example"
[[archive]]
name = "debian"
url = %q
keyring = %q
suites = ["stable"]
components = ["main"]
architectures = ["amd64"]
[[custom]]
name = "ours"
suites = ["stable"]
`, dir, up.URL(), up.Keyring)))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/debian/project/trace/debian"); code != http.StatusNotFound {
		t.Fatalf("trace before any pulse: %d", code)
	}
	snap, err := a.Pulse(ctx, "debian")
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get("/debian/project/trace/debian"); code != 200 || !strings.Contains(body, "Archive serial: "+snap.Serial) {
		t.Errorf("trace after a pulse: %d %q (the server's cache did not hear of it)", code, body)
	}
	if code, body := get("/debian/" + snap.Serial + "/dists/stable/InRelease"); code != 200 || !strings.Contains(body, "Valid-Until:") {
		t.Errorf("InRelease: %d\n%s", code, body)
	}
	if lists, _ := os.ReadDir(datadir.Dir(dir).PackageLists()); len(lists) == 0 {
		t.Error("the web UI wrote no package list for the new snapshot")
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `aptsnap_pulses_total{archive="debian",result="ok"} 1`) {
		t.Errorf("metrics do not count the pulse:\n%s", body)
	}

	deb, err := repogen.BuildDeb(repogen.Package{Name: "tool", Version: "1.0", Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "tool_1.0_amd64.deb")
	os.WriteFile(p, deb, 0o644)
	res, err := a.RepoAdd(ctx, api.AddRequest{Archive: "ours", Suite: "stable", Files: []string{p}})
	if err != nil || len(res.Added) != 1 || res.Added[0].Package != "tool" {
		t.Fatalf("RepoAdd = %+v, %v", res, err)
	}
	if code, _ := get("/ours/" + res.Serial + "/dists/stable/main/binary-amd64/Packages"); code != 200 {
		t.Errorf("the import's snapshot is not served: %d", code)
	}
	b, err := a.Bump(ctx, "debian", snap.Serial, 30, false)
	if err != nil || !b.Snapshot.ValidUntil.After(snap.ValidUntil) {
		t.Errorf("Bump = %+v, %v", b, err)
	}
	if _, body := get("/debian/" + snap.Serial + "/dists/stable/Release"); !strings.Contains(body, b.Snapshot.ValidUntil.Format("02 Jan 2006")) {
		t.Errorf("the bumped Release is not served (stale cache?):\n%s", body)
	}
	newer, err := a.Pulse(ctx, "debian")
	if err != nil {
		t.Fatal(err)
	}
	a.Now = func() time.Time { return time.Now().Add(100 * 24 * time.Hour) }
	g, err := a.GC(ctx, false)
	if err != nil || len(g.Expired) != 1 || g.Expired[0].Serial != snap.Serial {
		t.Errorf("GC = %+v, %v; want debian's older snapshot collected, the newest of each archive kept", g, err)
	}
	if code, _ := get("/debian/" + newer.Serial + "/dists/stable/InRelease"); code != 200 {
		t.Errorf("debian's newest snapshot, expired, is not kept: %d", code)
	}
	if code, _ := get("/debian/" + snap.Serial + "/dists/stable/InRelease"); code != http.StatusNotFound {
		t.Errorf("a collected snapshot is still served: %d", code)
	}
	if v, err := a.Verify(ctx, "", ""); err != nil || len(v.Problems) != 0 {
		t.Errorf("Verify = %v, %v", v.Problems, err)
	}
}

// TestHealth: 200 while the catalog and the store answer; 503 naming the
// part that does not.
func TestHealth(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf("data_dir = %q\n", dir)))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	get := func() (int, string) {
		resp, err := http.Get(srv.URL + app.HealthPath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != 200 || body != `{"status":"ok","catalog":"ok","store":"ok"}`+"\n" {
		t.Errorf("healthy: %d %s", code, body)
	}
	// The file store's directory gone (a lost mount).
	blobs := datadir.Dir(dir).Blobs()
	if err := os.RemoveAll(blobs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blobs, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := get(); code != 503 || !strings.Contains(body, `"status":"degraded","catalog":"ok","store":"unreachable: `) {
		t.Errorf("store gone: %d %s", code, body)
	}
	// The catalog closed.
	a.Catalog.Close()
	if code, body := get(); code != 503 || !strings.Contains(body, `"catalog":"unreachable: `) {
		t.Errorf("catalog closed: %d %s", code, body)
	}
}

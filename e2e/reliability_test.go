package e2e

import (
	"context"
	"database/sql"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/datadir"
	"github.com/aptsnap/aptsnap/internal/hostile"
	"github.com/aptsnap/aptsnap/mirror"
)

// TestIdenticalIndexInTwoArchives: two archives whose snapshots hold the
// same index bytes (one upstream mirrored twice; one .deb added to two
// custom archives) each serve every pool file their indices list, and
// verify checks that they do.
func TestIdenticalIndexInTwoArchives(t *testing.T) {
	e := newEnvWith(t, `
[[archive]]
name = "debian2"
url = "{{UPSTREAM}}"
keyring = "{{KEYRING}}"
suites = ["bookworm"]
components = ["main"]
architectures = ["amd64"]
`+customConfig("")+`
[[custom]]
name = "ours2"
suites = ["stable"]
`)
	ctx := context.Background()
	filenames := regexp.MustCompile(`(?m)^Filename: (.+)$`)
	check := func(archive, serial, suite string) {
		t.Helper()
		code, pkgs := e.get("/" + archive + "/" + serial + "/dists/" + suite + "/main/binary-amd64/Packages")
		if code != 200 {
			t.Fatalf("%s %s Packages: %d", archive, serial, code)
		}
		ms := filenames.FindAllStringSubmatch(pkgs, -1)
		if len(ms) == 0 {
			t.Fatalf("%s %s: no package listed", archive, serial)
		}
		for _, m := range ms {
			if code, _ := e.get("/" + archive + "/" + serial + "/" + m[1]); code != 200 {
				t.Errorf("%s %s: %s answers %d", archive, serial, m[1], code)
			}
		}
	}
	for _, arc := range []string{"debian", "debian2"} {
		snap, err := e.app.Pulse(ctx, arc)
		if err != nil {
			t.Fatal(err)
		}
		check(arc, snap.Serial, "bookworm")
	}
	deb := buildDeb(t, t.TempDir(), "tool", "1.0", "amd64", "gzip", "tool\n")
	for _, arc := range []string{"ours", "ours2"} {
		res, err := e.app.RepoAdd(ctx, api.AddRequest{Archive: arc, Suite: "stable", Files: []string{deb}})
		if err != nil {
			t.Fatal(err)
		}
		check(arc, res.Serial, "stable")
	}
	if v, err := e.app.Verify(ctx, "", ""); err != nil || len(v.Problems) != 0 {
		t.Errorf("verify: %v %v", v.Problems, err)
	}
}

// TestDuplicateFieldsInRelease: an upstream Release, validly signed, with a
// field twice is refused: APT reads the last Date, a check of the first
// would let through what APT sees otherwise.
func TestDuplicateFieldsInRelease(t *testing.T) {
	e := newEnv(t)
	e.mustPulse()
	e.up.write(1)
	if err := hostile.Resign(filepath.Join(e.up.dir, "repo"), "bookworm", e.up.signer,
		hostile.Twice("Date", "Sat, 01 Jan 2000 00:00:00 UTC")); err != nil {
		t.Fatal(err)
	}
	before := e.serials()
	if _, err := e.pulse(); err == nil || !strings.Contains(err.Error(), "Date appears twice") {
		t.Fatalf("pulse of a Release with two Date fields: %v", err)
	}
	if after := e.serials(); len(after) != len(before) {
		t.Errorf("a snapshot was made: %v -> %v", before, after)
	}
}

// TestTimestampURLStable: a timestamp URL answered while a snapshot waits
// for the catalog (another process holds its write lock) gives the same
// answer after that snapshot is committed.
func TestTimestampURLStable(t *testing.T) {
	e := newEnv(t)
	e.mustPulse()
	e.up.write(1)
	// Another process writes the catalog for a while.
	db, err := sql.Open("sqlite", "file:"+datadir.Dir(e.cfg.DataDir).Catalog())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := e.pulse(); done <- err }()
	time.Sleep(2500 * time.Millisecond)                                    // the pulse has fetched generation 1 and waits for the catalog
	stamp := time.Now().Add(-time.Second).UTC().Format("20060102T150405Z") // answered once a second past
	url := "/debian/" + stamp + "/dists/bookworm/InRelease"
	code, first := e.get(url)
	if code != 200 {
		t.Fatalf("GET %s: %d", url, code)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, again := e.get(url); again != first {
		t.Errorf("GET %s changed its answer once the waiting snapshot was committed:\nbefore:\n%s\nafter:\n%s", url, first, again)
	}
	// An instant not reached yet is refused: snapshots made until then
	// would change its answer.
	future := "/debian/" + time.Now().Add(time.Hour).UTC().Format("20060102T150405Z") + "/dists/bookworm/InRelease"
	if code, _ := e.get(future); code != http.StatusNotFound {
		t.Errorf("GET %s: %d, want 404 for a timestamp in the future", future, code)
	}
}

// TestArchiveEmptiedByGC: when an archive's pulses fail for longer than
// its snapshots live, GC keeps its newest snapshot, flagged stale in the
// snapshot list, the web UI and the metrics, so that latest and the trace
// file still answer.
func TestArchiveEmptiedByGC(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first := e.mustPulse()
	e.up.write(1)
	last := e.mustPulse()
	e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return true
	})
	e.clock.Shift(11 * 24 * time.Hour)
	defer e.clock.Set(time.Now())
	if _, err := e.pulse(); err == nil {
		t.Fatal("a pulse of a down upstream succeeded")
	}
	res, err := e.app.GC(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Expired) != 1 || res.Expired[0].Serial != first.Serial {
		t.Errorf("gc collected %+v, want only %s", res.Expired, first.Serial)
	}
	if code, body := e.get("/debian/project/trace/debian"); code != 200 || !strings.Contains(body, "Archive serial: "+last.Serial) {
		t.Errorf("trace after gc: %d %q", code, body)
	}
	if code, _ := e.get("/debian/" + last.Serial + "/dists/bookworm/InRelease"); code != 200 {
		t.Errorf("the newest snapshot after gc: %d", code)
	}
	snaps, err := e.app.Snapshots(ctx, "debian")
	if err != nil || len(snaps) != 1 || !snaps[0].Stale {
		t.Errorf("snapshot list: %+v, %v; want the newest, stale", snaps, err)
	}
	if _, body := e.get("/ui/debian/"); !strings.Contains(body, "stale") {
		t.Error("the web UI does not say the archive is stale")
	}
	if _, body := e.get("/metrics"); !strings.Contains(body, `aptsnap_archive_stale{archive="debian"} 1`) {
		t.Error("no stale metric")
	}
}

// TestEndlessUpstreamBody: a pool file answered with a chunked body that
// never ends fails the pulse at once, having read no more than the size
// its index lists, instead of filling the disk.
func TestEndlessUpstreamBody(t *testing.T) {
	e := newEnv(t)
	e.mustPulse()
	e.up.write(1)
	stored := func() (n int64) {
		e.app.Store.Walk(context.Background(), func(i blob.Info) error { n += i.Size; return nil })
		return n
	}
	before := stored()
	e.up.setFault(hostile.Endless(hostile.Suffix(".deb"), nil))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := e.app.Pulse(ctx, "debian"); err == nil || ctx.Err() != nil {
		t.Fatalf("pulse against an endless body: %v (context: %v), want a refusal before the deadline", err, ctx.Err())
	}
	tmp, _ := os.ReadDir(filepath.Join(datadir.Dir(e.cfg.DataDir).Blobs(), "tmp"))
	if grew := stored() - before; grew > 1<<20 || len(tmp) != 0 {
		t.Errorf("the store grew by %d bytes, %d temporary files left, for a file listed at a few hundred", grew, len(tmp))
	}
}

// TestDecompressionBomb: a signed Packages.gz of a few hundred kB that
// decompresses to 300 MiB is refused having decompressed no more than the
// plain size the Release lists.
func TestDecompressionBomb(t *testing.T) {
	e := newEnv(t)
	e.mustPulse()
	e.up.write(1)
	if err := hostile.Bomb(filepath.Join(e.up.dir, "repo"), "bookworm", "main/binary-amd64", 300<<20, true, e.up.signer); err != nil {
		t.Fatal(err)
	}
	e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/Packages") || strings.Contains(r.URL.Path, "/by-hash/") { // read the bomb
			http.NotFound(w, r)
			return true
		}
		return false
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := e.pulse()
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("a pulse against a decompression bomb succeeded")
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("the pulse allocated %d MiB for an index listed at a few kB: %v", alloc>>20, err)
	}
}

// TestStalledUpstream: an upstream that stops sending mid-file fails the
// pulse as stalled once stall_timeout passes, instead of holding it (and
// every other pulse of the archive) for 30 minutes per try.
func TestStalledUpstream(t *testing.T) {
	e := newEnvWith(t, "\n[downloads]\nstall_timeout = \"1s\"\n")
	e.mustPulse()
	e.up.write(1)
	e.up.setFault(hostile.Stall(hostile.Suffix(".deb"), hostile.From(filepath.Join(e.up.dir, "repo"), "/debian"), 10))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := e.app.Pulse(ctx, "debian")
	if err == nil || mirror.Reason(err) != "stalled" || ctx.Err() != nil {
		t.Fatalf("pulse against a stalled upstream after %s: %v (%s)", time.Since(start).Round(time.Second), err, mirror.Reason(err))
	}
	if _, body := e.get("/metrics"); !strings.Contains(body, `aptsnap_pulses_total{archive="debian",result="stalled"} 1`) {
		t.Error("the metrics do not count a stalled pulse")
	}
}

// TestBumpShortens: a bump to a Valid-Until earlier than the snapshot's
// is refused, saying so, unless --allow-shorten is given.
func TestBumpShortens(t *testing.T) {
	e := newEnv(t)
	snap := e.mustPulse() // valid 10 days
	c := &cli{t: t, bin: aptsnapBinary(t), config: e.writeConfig(t)}
	out, stderr, err := c.run("", "--config", c.config, "bump", "debian", snap.Serial, "3")
	if err == nil || !strings.Contains(stderr, "would shorten") {
		t.Fatalf("a bump shortening a snapshot's life: %v\n%s%s", err, out, stderr)
	}
	if s, _ := e.app.Catalog.Snapshot(context.Background(), "debian", snap.Serial); !s.ValidUntil.Equal(snap.ValidUntil) {
		t.Errorf("a refused bump changed Valid-Until to %s", s.ValidUntil)
	}
	if out := c.local("bump", "debian", snap.Serial, "3", "--allow-shorten"); !strings.Contains(out, "valid until") {
		t.Errorf("bump --allow-shorten: %s", out)
	}
}

// TestEmptySuffixRange: "Range: bytes=-0" is answered 416, not 206 with
// an empty body, for an index, a pool file and a Release alike.
func TestEmptySuffixRange(t *testing.T) {
	e := newEnv(t)
	snap := e.mustPulse()
	base := e.srv.URL + "/debian/" + snap.Serial + "/"
	for _, p := range []string{"dists/bookworm/InRelease", "dists/bookworm/main/binary-amd64/Packages", "pool/main/h/hello/hello_2.10-1_amd64.deb"} {
		req, _ := http.NewRequest("GET", base+p, nil)
		req.Header.Set("Range", "bytes=-0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes */") {
			t.Errorf("%s with Range bytes=-0: %d, Content-Range %q", p, resp.StatusCode, resp.Header.Get("Content-Range"))
		}
	}
}

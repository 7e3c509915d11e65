package e2e

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/blob/local"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/repogen"
)

// pulseAt pulses with the clock set to t, then back to real time.
func (e *env) pulseAt(t time.Time) catalog.Snapshot {
	e.t.Helper()
	e.clock.Set(t)
	defer e.clock.Set(time.Now())
	return e.mustPulse()
}

// ageStore sets the modification time of every stored file d into the past.
func (e *env) ageStore(d time.Duration) {
	e.t.Helper()
	local := e.app.Store.(*local.Store)
	old := time.Now().Add(-d)
	e.app.Store.Walk(context.Background(), func(i blob.Info) error {
		return os.Chtimes(local.Path(i.Digest), old, old)
	})
}

// storedFiles lists every file in the store.
func (e *env) storedFiles() map[blob.Digest]bool {
	e.t.Helper()
	out := map[blob.Digest]bool{}
	if err := e.app.Store.Walk(context.Background(), func(i blob.Info) error { out[i.Digest] = true; return nil }); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func dateLine(release string) string {
	for _, l := range strings.Split(release, "\n") {
		if strings.HasPrefix(l, "Date: ") {
			return l
		}
	}
	return ""
}

// TestBump: an expired snapshot that apt refuses is accepted after a bump,
// keeps its Date, survives GC; a collected snapshot cannot be bumped.
func TestBump(t *testing.T) {
	e := newEnv(t)
	old := e.pulseAt(time.Now().Add(-11 * 24 * time.Hour)) // expired yesterday
	e.up.write(1)
	gone := e.pulseAt(time.Now().Add(-10*24*time.Hour - time.Hour))
	e.up.write(2)
	e.mustPulse() // the newest, which GC keeps whatever its age
	_, before := e.get("/debian/" + old.Serial + "/dists/bookworm/Release")

	a := e.newAPT(t, "/debian/"+old.Serial+"/")
	if _, err := a.Run("update"); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("apt-get update before the bump: %v", err)
	}
	res, err := e.app.Bump(context.Background(), "debian", old.Serial, 5, false)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(res.Snapshot.ValidUntil); d < 5*24*time.Hour-time.Minute || d > 5*24*time.Hour+time.Minute {
		t.Errorf("valid until %s, want now + 5 days", res.Snapshot.ValidUntil)
	}
	if !res.Previous.Equal(old.ValidUntil) {
		t.Errorf("previous valid until %s, want %s", res.Previous, old.ValidUntil)
	}
	_, after := e.get("/debian/" + old.Serial + "/dists/bookworm/Release")
	if dateLine(after) == "" || dateLine(after) != dateLine(before) {
		t.Errorf("Date changed by a bump: %q -> %q", dateLine(before), dateLine(after))
	}
	if out, err := a.Run("update"); err != nil {
		t.Fatalf("apt-get update after the bump: %v\n%s", err, out)
	}
	if got := candidate(t, a, "hello"); got != "2.10-1" {
		t.Errorf("hello candidate %s", got)
	}

	gc, err := e.app.GC(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(gc.Expired) != 1 || gc.Expired[0].Serial != gone.Serial {
		t.Fatalf("gc expired %+v, want only %s", gc.Expired, gone.Serial)
	}
	if code, _ := e.get("/debian/" + old.Serial + "/dists/bookworm/InRelease"); code != 200 {
		t.Errorf("bumped snapshot after gc: %d", code)
	}
	e.fingerprint(old.Serial)
	if _, err := e.app.Bump(context.Background(), "debian", gone.Serial, 5, false); !errors.Is(err, catalog.ErrNotFound) || !strings.Contains(err.Error(), "collected") {
		t.Errorf("bump of a collected snapshot: %v", err)
	}
	for _, days := range []int{0, -1, 200000} {
		if _, err := e.app.Bump(context.Background(), "debian", old.Serial, days, false); err == nil {
			t.Errorf("bump by %d days succeeded", days)
		}
	}
}

// TestGCUnderLoad: while clients fetch a live snapshot and a pulse is
// downloading (and about to reuse a file only expired snapshots had), GC
// collects the expired snapshots: no failed request on live files, the
// expired ones answer 404, the pulse's snapshot is complete, and the store
// holds nothing no snapshot needs.
func TestGCUnderLoad(t *testing.T) {
	e := newEnv(t)
	ago := func(d time.Duration) time.Time { return time.Now().Add(-d) }
	s1 := e.pulseAt(ago(20 * 24 * time.Hour)) // generation 0: hello 2.10-1
	e.up.write(1)
	s2 := e.pulseAt(ago(19 * 24 * time.Hour))
	e.up.write(2)
	live := e.mustPulse()
	livePrints := e.fingerprint(live.Serial)
	_, p1 := e.get("/debian/" + s1.Serial + "/dists/bookworm/main/binary-amd64/Packages")
	oldHello := filename(p1, "hello")

	// Clients hammer the live snapshot.
	stop := make(chan struct{})
	var bad atomic.Int64
	var requests atomic.Int64
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				for p, want := range livePrints {
					select {
					case <-stop:
						return
					default:
					}
					url := e.srv.URL + p
					if !strings.HasPrefix(p, "/") {
						url = e.srv.URL + "/debian/" + live.Serial + "/" + p
					}
					resp, err := http.Get(url)
					requests.Add(1)
					if err != nil {
						bad.Add(1)
						continue
					}
					var b strings.Builder
					_, err = ioCopy(&b, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || err != nil || b.String() != want {
						bad.Add(1)
						t.Errorf("GET %s during gc: %d", p, resp.StatusCode)
					}
				}
			}
		}()
	}

	// A pulse of generation 3, in which hello goes back to 2.10-1: a file
	// the pulse finds stored, that only the expired snapshots reference.
	e.up.write(3, manyPackages(20), func(r *repogen.Repo) {
		r.Suites[0].Components["main"][0].Version = "2.10-1"
	})
	e.ageStore(time.Hour) // what the earlier pulses stored is an hour old
	blocked := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "filler") {
			once.Do(func() { close(blocked) })
			<-release
		}
		return false
	})
	pulsed := make(chan error, 1)
	var snap catalog.Snapshot
	go func() {
		var err error
		snap, err = e.pulse()
		pulsed <- err
	}()
	select {
	case <-blocked:
	case err := <-pulsed:
		t.Fatalf("pulse ended before downloading: %v", err)
	}
	gc, err := e.app.GC(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(gc.Expired) != 2 || gc.Files == 0 {
		t.Errorf("gc: %d expired, %d files deleted; want 2 and some", len(gc.Expired), gc.Files)
	}
	close(release)
	if err := <-pulsed; err != nil {
		t.Fatalf("pulse during gc: %v", err)
	}
	close(stop)
	wg.Wait()
	if bad.Load() > 0 || requests.Load() < 10 {
		t.Fatalf("%d failed of %d requests on live files", bad.Load(), requests.Load())
	}
	for _, s := range []string{s1.Serial, s2.Serial} {
		if code, _ := e.get("/debian/" + s + "/dists/bookworm/InRelease"); code != 404 {
			t.Errorf("expired %s answers %d", s, code)
		}
	}
	if code, _ := e.get("/debian/" + snap.Serial + "/" + oldHello); code != 200 {
		t.Errorf("the pulse's snapshot lacks %s, swept during the pulse: %d", oldHello, code)
	}
	e.fingerprint(snap.Serial)
	if v, err := e.app.Verify(context.Background(), "", ""); err != nil || len(v.Problems) > 0 {
		t.Fatalf("verify: %v %v", v.Problems, err)
	}
	// Nothing left that no snapshot needs: a second GC finds nothing.
	e.ageStore(time.Hour)
	again, err := e.app.GC(context.Background(), false)
	if err != nil || len(again.Expired) != 0 || again.Files != 0 {
		t.Fatalf("second gc: %+v, %v", again, err)
	}
}

// TestUntrack: untracking a suite removes it from every snapshot (404),
// leaves the other suites alone, and the next GC removes the files only it
// referenced; the next pulse skips it.
func TestUntrack(t *testing.T) {
	e := newEnv(t)
	s1 := e.mustPulse()
	e.up.write(1)
	s2 := e.mustPulse()
	// tzdata of s2 is referenced by s2's bookworm-updates only; tzdata of
	// s1 also by the tag made below.
	_, upd := e.get("/debian/" + s2.Serial + "/dists/bookworm-updates/main/binary-amd64/Packages")
	tz := filename(upd, "tzdata")
	tzDigest := blob.Sum([]byte(func() string { _, b := e.get("/debian/" + s2.Serial + "/" + tz); return b }()))
	_, upd1 := e.get("/debian/" + s1.Serial + "/dists/bookworm-updates/main/binary-amd64/Packages")
	tz1 := filename(upd1, "tzdata")
	tz1Digest := blob.Sum([]byte(func() string { _, b := e.get("/debian/" + s1.Serial + "/" + tz1); return b }()))
	keep := e.fingerprint(s2.Serial)

	if _, err := e.app.TagCreate(context.Background(), "keep", map[string]string{"debian": s1.Serial}, nil); err != nil {
		t.Fatal(err)
	}
	res, err := e.app.Untrack(context.Background(), "debian", []string{"bookworm-updates"}, false)
	if err != nil || res.Snapshots != 2 {
		t.Fatalf("untrack: %+v, %v", res, err)
	}
	for _, s := range []string{s1.Serial, s2.Serial} {
		if code, _ := e.get("/debian/" + s + "/dists/bookworm-updates/InRelease"); code != 404 {
			t.Errorf("%s bookworm-updates answers %d after untrack", s, code)
		}
		if code, _ := e.get("/debian/" + s + "/dists/bookworm/InRelease"); code != 200 {
			t.Errorf("%s bookworm answers %d after untrack", s, code)
		}
	}
	if code, _ := e.get("/debian/" + s2.Serial + "/" + tz); code != 404 {
		t.Errorf("pool file of the untracked suite answers %d", code)
	}
	for p, body := range keep {
		if strings.Contains(p, "bookworm-updates") || strings.Contains(p, "tzdata") {
			continue
		}
		if code, got := e.get(pathFor(p, s2.Serial)); code != 200 || got != body {
			t.Errorf("%s changed by untrack: %d", p, code)
		}
	}
	if !e.storedFiles()[tzDigest] {
		t.Fatal("tzdata gone before gc")
	}
	e.ageStore(time.Hour)
	if _, err := e.app.GC(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if e.storedFiles()[tzDigest] {
		t.Error("gc kept a file only the untracked suite referenced")
	}
	e.up.write(2)
	s3 := e.mustPulse()
	if strings.Join(s3.Suites, ",") != "bookworm" {
		t.Errorf("pulse after untrack made suites %v", s3.Suites)
	}
	// A tagged snapshot is immutable: it keeps the suite, and its files.
	if code, body := e.get("/tagged/keep/debian/" + tz1); code != 200 || blob.Sum([]byte(body)) != tz1Digest {
		t.Errorf("tagged snapshot lost the untracked suite's pool file: %d", code)
	}
	// Once the suite leaves the configuration, putting it back tracks it again.
	suites := e.cfg.Archives[0].Suites
	e.cfg.Archives[0].Suites = []string{"bookworm"}
	e.up.write(3)
	e.mustPulse()
	e.cfg.Archives[0].Suites = suites
	e.up.write(4)
	if s5 := e.mustPulse(); strings.Join(s5.Suites, ",") != "bookworm,bookworm-updates" {
		t.Errorf("after the suite came back to the configuration, a pulse made suites %v", s5.Suites)
	}
	if v, err := e.app.Verify(context.Background(), "", ""); err != nil || len(v.Problems) > 0 {
		t.Fatalf("verify: %v %v", v.Problems, err)
	}
	if _, err := e.app.Untrack(context.Background(), "debian", []string{"sid"}, false); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("untrack of an unknown suite: %v", err)
	}
}

func pathFor(p, serial string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return "/debian/" + serial + "/" + p
}

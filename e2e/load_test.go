package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/release"
)

// TestConcurrentLoad: readers fetch snapshots the way APT does and check
// every byte against the signed Release (indices) and the indices (pool
// files) while pulses, bumps, tags and GC run, for a bounded time
// (APTSNAP_LOAD_SECONDS, 15 by default). A snapshot that disappears while
// it is read must have been collected; anything else (a 5xx, a 404 of a
// live snapshot, a checksum that does not match) fails the test.
func TestConcurrentLoad(t *testing.T) {
	seconds := 15
	if s, err := strconv.Atoi(os.Getenv("APTSNAP_LOAD_SECONDS")); err == nil && s > 0 {
		seconds = s
	}
	e := newEnvWith(t, "")
	e.cfg.Archives[0].ValidDays = 1
	e.mustPulse()
	_, key := e.get("/keys/aptsnap.asc")
	kr, err := pgp.ParseKeyring([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second)
	defer cancel()

	var requests, files, vanished atomic.Int64
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	// live reports whether a snapshot still exists: a 404 of one that was
	// collected meanwhile is no failure.
	live := func(serial string) bool {
		_, err := e.app.Catalog.Snapshot(context.Background(), "debian", serial)
		return !errors.Is(err, catalog.ErrNotFound)
	}
	get := func(path string) (int, []byte, error) {
		requests.Add(1)
		req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	shaLines := regexp.MustCompile(`(?m)^ ([0-9a-f]{64}) +(\d+) (\S+)$`)
	pool := regexp.MustCompile(`(?ms)^Filename: (\S+)$.*?^SHA256: ([0-9a-f]{64})$`)
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

	// readOnce reads the newest snapshot (or a timestamp URL resolving to
	// it) as APT would, checking every byte.
	readOnce := func(byTime bool) {
		code, trace, err := get("/debian/project/trace/debian")
		if err != nil || code != 200 {
			if ctx.Err() == nil {
				fail("trace: %d %v", code, err)
			}
			return
		}
		lines := strings.SplitN(string(trace), "\n", 3)
		serial := strings.TrimSpace(strings.TrimPrefix(lines[0], "Archive serial:"))
		id := serial
		if byTime { // the instant the snapshot was made, once a second past
			created, err := release.ParseTime(strings.TrimPrefix(lines[1], "Date:"))
			if err != nil {
				fail("trace %q: %v", trace, err)
				return
			}
			if !created.Add(time.Second).After(e.clock.Now()) {
				id = created.Format("20060102T150405Z")
			}
		}
		gone := func(what string, code int) {
			if ctx.Err() != nil {
				return
			}
			if code == 404 && !live(serial) {
				vanished.Add(1)
				return
			}
			fail("%s: %d for a live snapshot %s", what, code, serial)
		}
		for _, suite := range []string{"bookworm", "bookworm-updates"} {
			base := "/debian/" + id + "/dists/" + suite + "/"
			code, in, err := get(base + "InRelease")
			if err != nil || code != 200 {
				gone(base+"InRelease", code)
				return
			}
			text, _, err := kr.VerifyClearsigned(in)
			if err != nil {
				fail("%sInRelease: %v", base, err)
				return
			}
			for _, m := range shaLines.FindAllStringSubmatch(string(text), -1) {
				if !strings.HasSuffix(m[3], "Packages") {
					continue
				}
				code, idx, err := get(base + m[3])
				if err != nil || code != 200 {
					gone(base+m[3], code)
					return
				}
				files.Add(1)
				if sum(idx) != m[1] || strconv.Itoa(len(idx)) != m[2] {
					fail("%s%s: sha256 %s, %d bytes; the Release says %s, %s", base, m[3], sum(idx), len(idx), m[1], m[2])
					return
				}
				for _, p := range pool.FindAllStringSubmatch(string(idx), -1) {
					code, deb, err := get("/debian/" + id + "/" + p[1])
					if err != nil || code != 200 {
						gone(p[1], code)
						return
					}
					files.Add(1)
					if sum(deb) != p[2] {
						fail("%s: sha256 %s, the index says %s", p[1], sum(deb), p[2])
						return
					}
				}
			}
		}
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				readOnce(i%2 == 1)
			}
		})
	}
	// The writer: a new upstream generation and a pulse, a bump, a tag made
	// and one deleted, a day passing, and GC, over and over.
	var pulses, gcs, tags int
	wg.Go(func() {
		defer cancel()
		for g := 1; ctx.Err() == nil; g++ {
			e.up.write(g)
			snap, err := e.app.Pulse(context.Background(), "debian")
			if err != nil {
				fail("pulse %d: %v", g, err)
				return
			}
			pulses++
			if _, err := e.app.Bump(context.Background(), "debian", snap.Serial, 2, false); err != nil {
				fail("bump %s: %v", snap.Serial, err)
			}
			name := fmt.Sprintf("load-%d", g)
			if _, err := e.app.TagCreate(context.Background(), name, map[string]string{"debian": snap.Serial}, nil); err != nil {
				fail("tag %s: %v", name, err)
			} else {
				tags++
			}
			if g > 1 {
				if _, err := e.app.TagDelete(context.Background(), fmt.Sprintf("load-%d", g-1), false); err != nil {
					fail("tag delete: %v", err)
				}
			}
			e.clock.Shift(3 * 24 * time.Hour) // the snapshots before this one expire
			if _, err := e.app.GC(context.Background(), false); err != nil {
				fail("gc: %v", err)
				return
			}
			gcs++
		}
	})
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d s: %d requests, %d files checked, %d reads of a snapshot collected meanwhile; %d pulses, %d tags, %d collections",
		seconds, requests.Load(), files.Load(), vanished.Load(), pulses, tags, gcs)
	for _, f := range failures {
		t.Error(f)
	}
	if pulses < 2 || gcs < 2 || files.Load() < 100 {
		t.Errorf("too little happened to show anything: %d pulses, %d collections, %d files checked", pulses, gcs, files.Load())
	}
}

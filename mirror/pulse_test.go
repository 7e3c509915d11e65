package mirror_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/blob/local"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/events"
	"github.com/aptsnap/aptsnap/index"
	"github.com/aptsnap/aptsnap/internal/hostile"
	"github.com/aptsnap/aptsnap/internal/testenv"
	"github.com/aptsnap/aptsnap/lock"
	"github.com/aptsnap/aptsnap/mirror"
	"github.com/aptsnap/aptsnap/release"
	"github.com/aptsnap/aptsnap/repogen"
)

var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// generation g of the upstream: hello moves every generation.
func generation(g int) []repogen.Suite {
	return []repogen.Suite{
		{Name: "bookworm", Architectures: []string{"amd64"}, Date: base.Add(time.Duration(g) * time.Hour), Sources: true,
			Components: map[string][]repogen.Package{"main": {
				{Name: "hello", Version: fmt.Sprintf("2.10-%d", g+1), Arch: "amd64"},
				{Name: "docs-common", Version: "3.0", Arch: "all"},
			}}},
		{Name: "bookworm-updates", Architectures: []string{"amd64"}, Date: base.Add(time.Duration(g) * time.Hour), Sources: true,
			Components: map[string][]repogen.Package{"main": {{Name: "tzdata", Version: fmt.Sprintf("2026a-%d", g+1), Arch: "all"}}}},
	}
}

// setup is an installation mirroring an in-process upstream, generation 0.
type setup struct {
	e    *testenv.Env
	up   *testenv.Upstream
	arc  *config.Archive
	m    *mirror.Mirror
	told []events.Pulse
}

func newSetup(t *testing.T, sources bool) *setup {
	t.Helper()
	s := &setup{e: testenv.New(t), up: testenv.NewUpstream(t)}
	s.up.Write(generation(0)...)
	s.arc = &config.Archive{Name: "debian", URL: s.up.URL(), Keyring: s.up.Keyring, Suites: []string{"bookworm", "bookworm-updates"},
		Components: []string{"main"}, Architectures: []string{"amd64"}, Sources: sources, ValidDays: 10,
		Languages: []string{"*"}, Contents: true, Installer: true, DEP11: true}
	s.e.Events.OnPulse(func(p events.Pulse) { s.told = append(s.told, p) })
	s.m = s.mirror(s.e.Locker)
	return s
}

func (s *setup) mirror(l lock.Locker) *mirror.Mirror {
	return mirror.New(mirror.Options{Catalog: s.e.Catalog, Store: s.e.Store, Publisher: s.e.Publisher, PublicURL: "http://snap.example",
		Locker: l, Retries: 1, Now: s.e.Clock.Now, Log: s.e.Log, Events: s.e.Events})
}

func (s *setup) pulse(t *testing.T) catalog.Snapshot {
	t.Helper()
	snap, err := s.m.Pulse(context.Background(), s.arc)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// suite is a snapshot's suite, and its files by path.
func (s *setup) suite(t *testing.T, snap catalog.Snapshot, suite string) (catalog.Suite, map[string]catalog.IndexFile) {
	t.Helper()
	su, err := s.e.Catalog.Suite(context.Background(), snap.ID, suite)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]catalog.IndexFile{}
	for _, f := range su.Files {
		byPath[f.Path] = f
	}
	return su, byPath
}

// packages is a suite's uncompressed Packages in a snapshot.
func (s *setup) packages(t *testing.T, snap catalog.Snapshot, suite string) string {
	t.Helper()
	_, byPath := s.suite(t, snap, suite)
	data, err := index.ReadSuite(context.Background(), s.e.Store, byPath, "main/binary-amd64/Packages", 0)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestPulse(t *testing.T) {
	ctx := context.Background()
	s := newSetup(t, true)
	var created []string
	s.e.Events.OnCreated(func(_ context.Context, snap catalog.Snapshot) { created = append(created, snap.Serial) })
	first := s.pulse(t)
	if first.Serial == "" || strings.Join(first.Suites, " ") != "bookworm bookworm-updates" {
		t.Fatalf("snapshot %+v", first)
	}
	su, err := s.e.Catalog.Suite(ctx, first.ID, "bookworm")
	if err != nil {
		t.Fatal(err)
	}
	rel := string(su.Release)
	for _, want := range []string{"Origin: Debian\n", "Codename: bookworm\n", "Date: " + release.FormatTime(base) + "\n",
		"Valid-Until: " + release.FormatTime(first.ValidUntil) + "\n", "Snapshots: http://snap.example/debian/@SNAPSHOTID@/\n",
		" main/binary-amd64/Packages.xz\n", " main/source/Sources.gz\n", "Acquire-By-Hash: yes\n"} {
		if !strings.Contains(rel, want) {
			t.Errorf("Release lacks %q:\n%s", want, rel)
		}
	}
	if _, _, err := s.e.Signer.Keyring().VerifyClearsigned(su.InRelease); err != nil {
		t.Errorf("InRelease: %v", err)
	}
	// The upstream InRelease is kept byte for byte, and so are the indices.
	upInRelease, _ := os.ReadFile(filepath.Join(s.up.Repo.Dir, "dists/bookworm/InRelease"))
	if got, err := s.e.Store.ReadFile(ctx, su.Upstream, nil); err != nil || !bytes.Equal(got, upInRelease) {
		t.Errorf("upstream InRelease not kept as it was: %v", err)
	}
	upPackages, _ := os.ReadFile(filepath.Join(s.up.Repo.Dir, "dists/bookworm/main/binary-amd64/Packages"))
	if got := s.packages(t, first, "bookworm"); got != string(upPackages) {
		t.Errorf("Packages differs from upstream's:\n%s", got)
	}
	// Every pool file, binary and source, is stored as upstream has it.
	for _, p := range []string{s.up.Repo.PoolPath("main", repogen.Package{Name: "hello", Version: "2.10-1", Arch: "amd64"}),
		"pool/main/h/hello/hello_2.10-1.dsc"} {
		data, err := os.ReadFile(filepath.Join(s.up.Repo.Dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.e.Store.Stat(ctx, blob.Sum(data)); err != nil {
			t.Errorf("%s not stored: %v", p, err)
		}
		if pf, _ := s.e.Catalog.LookupPool(ctx, "debian", p); len(pf) != 1 {
			t.Errorf("%s not recorded: %+v", p, pf)
		}
	}

	// Unchanged upstream: a new snapshot, nothing downloaded but the
	// Release files (checked by hash, they are stored already).
	var pool atomic.Int64
	s.up.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/pool/") || strings.Contains(r.URL.Path, "/binary-") {
			pool.Add(1)
		}
		return false
	})
	second := s.pulse(t)
	if second.Serial <= first.Serial || pool.Load() != 0 {
		t.Errorf("second pulse %s after %s fetched %d index or pool files again", second.Serial, first.Serial, pool.Load())
	}
	s.up.SetFault(nil)
	s.up.Write(generation(1)...)
	third := s.pulse(t)
	if got := s.packages(t, third, "bookworm"); !strings.Contains(got, "Version: 2.10-2\n") {
		t.Errorf("generation 1 not in the third snapshot:\n%s", got)
	}
	if got := s.packages(t, first, "bookworm"); !strings.Contains(got, "Version: 2.10-1\n") {
		t.Errorf("the first snapshot changed:\n%s", got)
	}
	if strings.Join(created, " ") != first.Serial+" "+second.Serial+" "+third.Serial || len(s.told) != 3 || s.told[2].Reason != "" {
		t.Errorf("events: created %v, pulses %+v", created, s.told)
	}
	rec, _ := s.e.Catalog.Pulses(ctx, "debian", 5)
	if len(rec) != 3 || !rec[0].OK || rec[0].Serial != third.Serial {
		t.Errorf("pulse log %+v", rec)
	}
}

// TestRefusals: each bad upstream fails the pulse with a one-line error of
// its kind, makes no snapshot and is recorded; the next good pulse works.
func TestRefusals(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, s *setup)
		want   string
		reason string
	}{
		{"bad signature", func(t *testing.T, s *setup) {
			s.up.Write(generation(1)...)
			p := filepath.Join(s.up.Repo.Dir, "dists/bookworm/InRelease")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(b, []byte("Label: Debian"), []byte("Label: Debiam"), 1), 0o644)
		}, "bad signature", "signature"},
		{"unknown key", func(t *testing.T, s *setup) {
			s.up.Repo.Signer = testenv.Signer(t, "someone else")
			s.up.Write(generation(1)...)
		}, "unknown key", "signature"},
		{"tampered index", func(t *testing.T, s *setup) {
			s.up.Write(generation(1)...)
			s.up.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
				if strings.Contains(r.URL.Path, "/binary-amd64/") && !strings.HasSuffix(r.URL.Path, "Release") {
					w.Write([]byte("Package: evil\n\n"))
					return true
				}
				return false
			})
		}, "does not match", "checksum"},
		{"truncated pool file", func(t *testing.T, s *setup) {
			s.up.Write(generation(1)...)
			s.up.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
				if strings.HasSuffix(r.URL.Path, ".deb") {
					b, _ := os.ReadFile(filepath.Join(s.up.Repo.Dir, r.URL.Path))
					w.Write(b[:len(b)/2])
					return true
				}
				return false
			})
		}, "does not match", "checksum"},
		{"Date going backwards", func(t *testing.T, s *setup) {
			s.up.Write(generation(1)...)
			s.pulse(t)
			s.up.Write(generation(0)...)
		}, "older than the last accepted", "date"},
		{"Date in the future", func(t *testing.T, s *setup) {
			g := generation(1)
			g[0].Date = time.Now().Add(24 * time.Hour)
			s.up.Write(g...)
		}, "in the future", "date"},
		{"upstream Valid-Until passed", func(t *testing.T, s *setup) {
			g := generation(1)
			g[1].ValidUntil = time.Now().Add(-time.Hour)
			s.up.Write(g...)
		}, "expired", "date"},
		{"another suite's Release", func(t *testing.T, s *setup) {
			s.up.Write(generation(1)...)
			src, _ := os.ReadFile(filepath.Join(s.up.Repo.Dir, "dists/bookworm/InRelease"))
			os.WriteFile(filepath.Join(s.up.Repo.Dir, "dists/bookworm-updates/InRelease"), src, 0o644)
		}, `not "bookworm-updates"`, "other"},
		{"DuplicateFieldsInRelease", func(t *testing.T, s *setup) {
			s.up.Write(generation(1)...)
			if err := hostile.Resign(s.up.Repo.Dir, "bookworm", s.up.Repo.Signer,
				hostile.Twice("Date", release.FormatTime(base.Add(-24*time.Hour)))); err != nil {
				t.Fatal(err)
			}
		}, "field Date appears twice", "other"},
		{"no Release at all", func(t *testing.T, s *setup) {
			s.up.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
				if strings.Contains(r.URL.Path, "Release") {
					http.NotFound(w, r)
					return true
				}
				return false
			})
		}, "not found upstream", "missing"},
		{"pool file gone", func(t *testing.T, s *setup) {
			s.up.Write(generation(1)...)
			os.Remove(filepath.Join(s.up.Repo.Dir, s.up.Repo.PoolPath("main", repogen.Package{Name: "hello", Version: "2.10-2", Arch: "amd64"})))
		}, "not found upstream", "missing"},
		{"server errors", func(t *testing.T, s *setup) {
			s.up.Write(generation(1)...)
			s.up.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
				http.Error(w, "overloaded", http.StatusServiceUnavailable)
				return true
			})
		}, "503", "unreachable"},
		{"connection dropped", func(t *testing.T, s *setup) {
			s.up.Write(generation(1)...)
			s.up.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
				if strings.HasSuffix(r.URL.Path, "InRelease") {
					return false
				}
				if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
					conn.Close()
				}
				return true
			})
		}, "EOF", "unreachable"},
		{"another pulse running", func(t *testing.T, s *setup) {
			s.up.Write(generation(1)...)
			l, err := s.e.Locker.Writer(context.Background(), "debian", false)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(l.Release)
			s.m = s.mirror(lock.NewFlock(s.e.Dir.Locks())) // as another process would
		}, "another pulse of debian is running", "busy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := newSetup(t, false)
			s.pulse(t)
			tt.break_(t, s)
			before, _ := s.e.Catalog.Snapshots(ctx, "debian")
			_, err := s.m.Pulse(ctx, s.arc)
			if err == nil {
				t.Fatal("pulse succeeded against a bad upstream")
			}
			var pe *mirror.Error
			if !errors.As(err, &pe) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q: want one line saying %q", err, tt.want)
			}
			if got := mirror.Reason(err); got != tt.reason {
				t.Errorf("reason %q, want %q", got, tt.reason)
			}
			if last := s.told[len(s.told)-1]; last.Reason != tt.reason {
				t.Errorf("told reason %q, want %q", last.Reason, tt.reason)
			}
			after, _ := s.e.Catalog.Snapshots(ctx, "debian")
			if len(after) != len(before) {
				t.Fatalf("a failed pulse made a snapshot: %d -> %d", len(before), len(after))
			}
			rec, _ := s.e.Catalog.Pulses(ctx, "debian", 1)
			if len(rec) != 1 || rec[0].OK || rec[0].Error != err.Error() {
				t.Errorf("pulse log %+v, want the failure %q", rec, err)
			}
		})
	}
}

// TestKilledPulse: a pulse whose context ends mid-download stops, makes no
// snapshot, and leaves nothing held: the next pulse runs.
func TestKilledPulse(t *testing.T) {
	s := newSetup(t, false)
	s.pulse(t)
	s.up.Write(generation(1)...)
	ctx, cancel := context.WithCancel(context.Background())
	s.up.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, ".deb") {
			cancel()
			<-r.Context().Done()
			return true
		}
		return false
	})
	_, err := s.m.Pulse(ctx, s.arc)
	if !errors.Is(err, context.Canceled) || mirror.Reason(err) != "interrupted" {
		t.Fatalf("a killed pulse: %v (%s), want context.Canceled, interrupted", err, mirror.Reason(err))
	}
	s.up.SetFault(nil)
	snaps, _ := s.e.Catalog.Snapshots(context.Background(), "debian")
	if len(snaps) != 1 {
		t.Fatalf("a killed pulse made a snapshot: %d", len(snaps))
	}
	rec, _ := s.e.Catalog.Pulses(context.Background(), "debian", 1)
	if len(rec) != 1 || rec[0].OK {
		t.Errorf("a killed pulse is not in the pulse log: %+v", rec)
	}
	if next := s.pulse(t); !strings.Contains(s.packages(t, next, "bookworm"), "Version: 2.10-2\n") {
		t.Error("the pulse after a killed one did not take generation 1")
	}
}

// sweepingLocker deletes a stored file the pulse found, as a GC sweep
// would have just before the pulse took the sweep lock.
type sweepingLocker struct {
	lock.Locker
	store interface {
		Delete(context.Context, blob.Digest) error
	}
	victim blob.Digest
}

func (l *sweepingLocker) Sweep(ctx context.Context, exclusive bool) (lock.Lock, error) {
	if !exclusive {
		l.store.Delete(ctx, l.victim)
	}
	return l.Locker.Sweep(ctx, exclusive)
}

// TestRecheck: what GC swept between a pulse finding a file stored and its
// commit is fetched again before the commit.
func TestRecheck(t *testing.T) {
	ctx := context.Background()
	s := newSetup(t, false)
	s.pulse(t)
	data, err := os.ReadFile(filepath.Join(s.up.Repo.Dir, s.up.Repo.PoolPath("main", repogen.Package{Name: "docs-common", Version: "3.0", Arch: "all"})))
	if err != nil {
		t.Fatal(err)
	}
	s.up.Write(generation(1)...)
	s.m = s.mirror(&sweepingLocker{Locker: s.e.Locker, store: s.e.Store, victim: blob.Sum(data)})
	s.pulse(t)
	if _, err := s.e.Store.Stat(ctx, blob.Sum(data)); err != nil {
		t.Errorf("a swept pool file the snapshot lists was not fetched again: %v", err)
	}
}

// TestMissingPlainIndex: Debian lists uncompressed indices it does not
// serve; the snapshot serves one made from a compressed variant.
func TestMissingPlainIndex(t *testing.T) {
	s := newSetup(t, false)
	s.up.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/Packages") || strings.Contains(r.URL.Path, "/by-hash/") {
			http.NotFound(w, r)
			return true
		}
		return false
	})
	snap := s.pulse(t)
	upPackages, _ := os.ReadFile(filepath.Join(s.up.Repo.Dir, "dists/bookworm/main/binary-amd64/Packages"))
	su, _ := s.e.Catalog.Suite(context.Background(), snap.ID, "bookworm")
	for _, f := range su.Files {
		if f.Path == "main/binary-amd64/Packages" {
			if got, err := s.e.Store.ReadFile(context.Background(), f.SHA256, nil); err != nil || !bytes.Equal(got, upPackages) {
				t.Errorf("the made Packages differs from upstream's: %v", err)
			}
			return
		}
	}
	t.Errorf("the snapshot does not serve the plain Packages upstream lists: %+v", su.Files)
}

func TestUntrack(t *testing.T) {
	ctx := context.Background()
	s := newSetup(t, false)
	s.pulse(t)
	s.pulse(t)
	names, n, err := s.m.Untrack(ctx, s.arc, "bookworm-updates")
	if err != nil || n != 2 || !slices.Equal(names, []string{"bookworm-updates"}) {
		t.Fatalf("Untrack = %q %d, %v; want bookworm-updates from 2 snapshots", names, n, err)
	}
	next := s.pulse(t)
	if strings.Join(next.Suites, " ") != "bookworm" {
		t.Errorf("a pulse after untrack has suites %v", next.Suites)
	}
	if _, _, err := s.m.Untrack(ctx, s.arc, "sid"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("untrack of a suite never tracked: %v", err)
	}
	// A pattern naming nothing fails the whole untrack: bookworm stays.
	if _, _, err := s.m.Untrack(ctx, s.arc, "bookworm", "bullseye*"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("untrack with a pattern naming nothing: %v", err)
	}
	if _, _, err := s.m.Untrack(ctx, s.arc, "[b"); err == nil {
		t.Error("untrack of a malformed pattern succeeded")
	}
	if names, _, err := s.m.Untrack(ctx, s.arc, "book*"); err != nil || !slices.Equal(names, []string{"bookworm", "bookworm-updates"}) {
		t.Fatalf("untrack book* = %q, %v", names, err)
	}
	if _, err := s.m.Pulse(ctx, s.arc); err == nil || !strings.Contains(err.Error(), "every suite of debian is untracked") {
		t.Errorf("a pulse of an archive with every suite untracked: %v", err)
	}
}

// TestEndlessUpstreamBody: a pool file answered by a chunked body that
// never ends is read no further than the size its index lists (plus the
// one byte that tells it is longer), on every retry, and leaves nothing
// on disk.
func TestEndlessUpstreamBody(t *testing.T) {
	s := newSetup(t, false)
	s.pulse(t)
	s.up.Write(generation(1)...)
	var sent atomic.Int64
	s.up.SetFault(hostile.Endless(hostile.Suffix(".deb"), &sent))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := s.m.Pulse(ctx, s.arc)
	if err == nil || mirror.Reason(err) != "checksum" {
		t.Fatalf("pulse against an endless body: %v (%s), want a checksum failure", err, mirror.Reason(err))
	}
	if n := sent.Load(); n > 16<<20 { // what socket buffers take ahead of the reads, per retry
		t.Errorf("the upstream sent %d bytes before the pulse stopped reading", n)
	}
	var stored int64
	s.e.Store.Walk(ctx, func(i blob.Info) error { stored += i.Size; return nil })
	tmp, _ := os.ReadDir(filepath.Join(s.e.Dir.Blobs(), "tmp"))
	if stored > 1<<20 || len(tmp) != 0 {
		t.Errorf("%d bytes stored, %d temporary files left", stored, len(tmp))
	}
}

// TestDecompressionBomb: an index that decompresses to far more than the
// Release lists (or, when it lists no plain size, than the bound) is
// refused having decompressed no more than that.
func TestDecompressionBomb(t *testing.T) {
	for _, keepPlain := range []bool{true, false} {
		t.Run(fmt.Sprint("plain listed: ", keepPlain), func(t *testing.T) {
			s := newSetup(t, false)
			s.m = mirror.New(mirror.Options{Catalog: s.e.Catalog, Store: s.e.Store, Publisher: s.e.Publisher, PublicURL: "http://x",
				Locker: s.e.Locker, Retries: 1, MaxIndexSize: 4 << 20, Now: s.e.Clock.Now, Log: s.e.Log, Events: s.e.Events})
			if err := hostile.Bomb(s.up.Repo.Dir, "bookworm", "main/binary-amd64", 128<<20, keepPlain, s.up.Repo.Signer); err != nil {
				t.Fatal(err)
			}
			s.up.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
				if strings.HasSuffix(r.URL.Path, "/Packages") || strings.Contains(r.URL.Path, "/by-hash/") { // read the bomb
					http.NotFound(w, r)
					return true
				}
				return false
			})
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := s.m.Pulse(context.Background(), s.arc)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, index.ErrTooLarge) || mirror.Reason(err) != "checksum" {
				t.Fatalf("pulse against a decompression bomb: %v (%s)", err, mirror.Reason(err))
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
				t.Errorf("the pulse allocated %d MiB against a bomb of 128 MiB bounded at 4 MiB", alloc>>20)
			}
		})
	}
}

// TestStalledUpstreams: an upstream that answers late, a byte at a time,
// or stops mid-file fails the pulse as stalled within the stall timeout
// (not after 30 minutes per request, three times); a pulse over its
// deadline fails as stalled too; a redirect to another scheme is refused.
func TestStalledUpstreams(t *testing.T) {
	deb := hostile.Suffix(".deb")
	for _, tc := range []struct {
		name   string
		fault  func(root string) hostile.Fault
		t      mirror.Timeouts
		want   string
		reason string
	}{
		{"headers late", func(string) hostile.Fault { return hostile.Delay(deb, time.Minute) },
			mirror.Timeouts{Stall: 300 * time.Millisecond}, "nothing for", "stalled"},
		{"stops mid-file", func(root string) hostile.Fault { return hostile.Stall(deb, hostile.From(root, ""), 100) },
			mirror.Timeouts{Stall: 300 * time.Millisecond}, "nothing for", "stalled"},
		{"trickles", func(root string) hostile.Fault { return hostile.Trickle(deb, hostile.From(root, ""), 50) },
			mirror.Timeouts{Stall: 400 * time.Millisecond, MinRate: 1 << 10}, "under the minimum", "stalled"},
		{"pulse over its deadline", func(string) hostile.Fault { return hostile.Delay(deb, 3*time.Second) },
			mirror.Timeouts{Pulse: 500 * time.Millisecond, Stall: time.Minute}, "longer than 500ms", "stalled"},
		{"redirect to file", func(string) hostile.Fault { return hostile.Redirect(deb, "file:///etc") },
			mirror.Timeouts{}, "only http and https", "other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSetup(t, false)
			s.pulse(t)
			s.up.Write(generation(1)...)
			s.up.SetFault(tc.fault(s.up.Repo.Dir))
			s.m = mirror.New(mirror.Options{Catalog: s.e.Catalog, Store: s.e.Store, Publisher: s.e.Publisher, PublicURL: "http://x",
				Locker: s.e.Locker, Retries: 2, Timeouts: tc.t, Now: s.e.Clock.Now, Log: s.e.Log, Events: s.e.Events})
			start := time.Now()
			_, err := s.m.Pulse(context.Background(), s.arc)
			took := time.Since(start)
			if err == nil || !strings.Contains(err.Error(), tc.want) || mirror.Reason(err) != tc.reason {
				t.Fatalf("pulse: %v (%s), want %q (%s)", err, mirror.Reason(err), tc.want, tc.reason)
			}
			if took > 10*time.Second {
				t.Errorf("the pulse took %s to give up", took)
			}
		})
	}
}

// fullStore is a store whose disk fills up at the next pool file.
type fullStore struct {
	*local.Store
	puts atomic.Int64
}

func (s *fullStore) Put(ctx context.Context, r io.Reader, want blob.Digest, size int64) (blob.Info, error) {
	if size > 500 { // the pool files, not the small indices
		s.puts.Add(1)
		return blob.Info{}, fmt.Errorf("blob: write: %w", &fs.PathError{Op: "write", Path: "/srv/aptsnap/blobs/tmp/put-1", Err: syscall.ENOSPC})
	}
	return s.Store.Put(ctx, r, want, size)
}

// TestDiskFullIsNotUnreachable: our own disk full is a storage failure,
// said as such and not retried; a missing keyring is no network failure.
func TestDiskFullIsNotUnreachable(t *testing.T) {
	s := newSetup(t, false)
	full := &fullStore{Store: s.e.Store}
	s.m = mirror.New(mirror.Options{Catalog: s.e.Catalog, Store: full, Publisher: s.e.Publisher, PublicURL: "http://x",
		Locker: s.e.Locker, Retries: 3, Parallel: 1, Now: s.e.Clock.Now, Log: s.e.Log, Events: s.e.Events})
	_, err := s.m.Pulse(context.Background(), s.arc)
	if mirror.Reason(err) != "storage" || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("pulse with a full disk: %v (%s), want a storage failure", err, mirror.Reason(err))
	}
	if n := full.puts.Load(); n != 1 {
		t.Errorf("the full disk was tried %d times", n)
	}
	s.arc.Keyring = filepath.Join(t.TempDir(), "missing.gpg")
	if _, err := s.m.Pulse(context.Background(), s.arc); mirror.Reason(err) == "unreachable" {
		t.Errorf("a missing keyring is classified unreachable: %v", err)
	}
}

// dyingCatalog is a catalog whose process dies right after a commit: the
// pulse log entry written after the snapshot never arrives.
type dyingCatalog struct{ catalog.Catalog }

func (dyingCatalog) RecordPulse(context.Context, catalog.Pulse) error { return errors.New("killed") }

// TestPulseKilledAfterCommit: a pulse's success is in the pulse log with
// its snapshot, whatever happens to the process after the commit.
func TestPulseKilledAfterCommit(t *testing.T) {
	s := newSetup(t, false)
	s.m = mirror.New(mirror.Options{Catalog: dyingCatalog{s.e.Catalog}, Store: s.e.Store, Publisher: s.e.Publisher, PublicURL: "http://x",
		Locker: s.e.Locker, Now: s.e.Clock.Now, Log: s.e.Log, Events: s.e.Events})
	snap := s.pulse(t)
	got, err := s.e.Catalog.Pulses(context.Background(), "debian", 5)
	if err != nil || len(got) != 1 || !got[0].OK || got[0].Serial != snap.Serial {
		t.Errorf("pulse log: %+v, %v; want the pulse of %s", got, err, snap.Serial)
	}
}

// blindStore is a store that says "not stored" for every plain index,
// stored or not: as when another archive's pulse stores the same index
// between our look and our write.
type blindStore struct{ *local.Store }

func (s blindStore) Stat(ctx context.Context, d blob.Digest) (blob.Info, error) {
	info, err := s.Store.Stat(ctx, d)
	if err == nil && info.Size > 0 {
		if data, _ := s.Store.ReadFile(ctx, d, nil); bytes.HasPrefix(data, []byte("Package: ")) {
			return blob.Info{}, blob.ErrNotFound
		}
	}
	return info, err
}

// TestPlainStoredMeanwhile: a plain index made from a compressed one that
// is stored already by the time it is written (Put returns at once) is
// still read to its end, checked and parsed.
func TestPlainStoredMeanwhile(t *testing.T) {
	s := newSetup(t, false)
	s.up.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/Packages") || strings.Contains(r.URL.Path, "/by-hash/") {
			http.NotFound(w, r)
			return true
		}
		return false
	})
	// Every plain Packages stored beforehand, but not seen as such.
	for _, suite := range s.arc.Suites {
		data, err := os.ReadFile(filepath.Join(s.up.Repo.Dir, "dists", suite, "main/binary-amd64/Packages"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.e.Store.Put(context.Background(), bytes.NewReader(data), blob.Sum(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	s.m = mirror.New(mirror.Options{Catalog: s.e.Catalog, Store: blindStore{s.e.Store}, Publisher: s.e.Publisher, PublicURL: "http://x",
		Locker: s.e.Locker, Retries: 1, Now: s.e.Clock.Now, Log: s.e.Log, Events: s.e.Events})
	snap := s.pulse(t)
	if got := s.packages(t, snap, "bookworm"); !strings.Contains(got, "Package: hello") {
		t.Errorf("Packages: %q", got)
	}
}

// TestDebugLogs: at debug level a pulse logs each upstream request and
// its decisions; at info level, none of that.
func TestDebugLogs(t *testing.T) {
	s := newSetup(t, false)
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		var buf bytes.Buffer
		m := mirror.New(mirror.Options{Catalog: s.e.Catalog, Store: s.e.Store, Publisher: s.e.Publisher, PublicURL: "http://x",
			Locker: s.e.Locker, Now: s.e.Clock.Now, Log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level})), Events: s.e.Events})
		if _, err := m.Pulse(context.Background(), s.arc); err != nil {
			t.Fatal(err)
		}
		n := strings.Count(buf.String(), "msg=\"upstream request\"")
		decisions := strings.Contains(buf.String(), "msg=\"pool files\"") && strings.Contains(buf.String(), "msg=\"upstream Release verified\"")
		switch {
		case level == slog.LevelDebug && (n < 2 || !decisions):
			t.Errorf("debug: %d upstream requests logged, decisions %v:\n%s", n, decisions, buf.String())
		case level == slog.LevelInfo && (n > 0 || decisions):
			t.Errorf("info logs debug lines:\n%s", buf.String())
		}
		s.e.Clock.Shift(time.Hour)
	}
}

// bigGeneration is generation g with 40 more packages in bookworm.
func bigGeneration(g int) []repogen.Suite {
	suites := generation(g)
	for i := range 40 {
		suites[0].Components["main"] = append(suites[0].Components["main"], repogen.Package{Name: fmt.Sprintf("filler%04d", i), Version: "1.0", Arch: "all"})
	}
	return suites
}

// countingStore counts the pool files looked up.
type countingStore struct {
	*local.Store
	stats atomic.Int64
}

func (s *countingStore) Stat(ctx context.Context, d blob.Digest) (blob.Info, error) {
	s.stats.Add(1)
	return s.Store.Stat(ctx, d)
}

// expiringLocker withdraws the newest snapshot and deletes a file it
// lists, as an expiry and a sweep would have just before the pulse took the
// sweep lock.
type expiringLocker struct {
	lock.Locker
	cat    catalog.Catalog
	store  *local.Store
	victim blob.Digest
}

func (l *expiringLocker) Sweep(ctx context.Context, exclusive bool) (lock.Lock, error) {
	if !exclusive {
		if s, err := l.cat.Latest(ctx, "debian"); err == nil {
			l.cat.Expire(ctx, "debian", s.Serial)
		}
		l.store.Delete(ctx, l.victim)
	}
	return l.Locker.Sweep(ctx, exclusive)
}

// TestLivePool: the pool files the newest snapshot lists are not looked up
// in the store again, unless that snapshot is gone by the commit.
func TestLivePool(t *testing.T) {
	ctx := context.Background()
	mirror.SetLivePoolMin(t, 20)
	s := newSetup(t, false)
	s.up.Write(bigGeneration(0)...)
	s.pulse(t)
	s.e.Clock.Shift(time.Hour)
	s.pulse(t) // two snapshots: the newest can be withdrawn
	s.up.Write(bigGeneration(1)...)
	s.e.Clock.Shift(time.Hour)
	cs := &countingStore{Store: s.e.Store}
	s.m = mirror.New(mirror.Options{Catalog: s.e.Catalog, Store: cs, Publisher: s.e.Publisher, PublicURL: "http://x",
		Locker: s.e.Locker, Retries: 1, Now: s.e.Clock.Now, Log: s.e.Log, Events: s.e.Events})
	snap := s.pulse(t)
	if n := cs.stats.Load(); n > 40 {
		t.Errorf("%d files looked up in the store for a change of 2 packages among 43", n)
	}
	if got := s.packages(t, snap, "bookworm"); !strings.Contains(got, "Version: 2.10-2\n") {
		t.Errorf("generation 1 not taken: %q", got)
	}

	// Withdrawn before the commit: every file is looked up again, and what
	// a sweep deleted is fetched again.
	data, err := os.ReadFile(filepath.Join(s.up.Repo.Dir, s.up.Repo.PoolPath("main", repogen.Package{Name: "filler0007", Version: "1.0", Arch: "all"})))
	if err != nil {
		t.Fatal(err)
	}
	s.up.Write(bigGeneration(2)...)
	s.e.Clock.Shift(time.Hour)
	s.m = s.mirror(&expiringLocker{Locker: s.e.Locker, cat: s.e.Catalog, store: s.e.Store, victim: blob.Sum(data)})
	s.pulse(t)
	if _, err := s.e.Store.Stat(ctx, blob.Sum(data)); err != nil {
		t.Errorf("a pool file of a snapshot withdrawn during the pulse, deleted since, was not fetched again: %v", err)
	}
}

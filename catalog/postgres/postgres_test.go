package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/catalogtest"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/internal/pgtest"
)

// open opens a catalog on dsn, closed when t ends.
func open(t *testing.T, dsn string) *Catalog {
	t.Helper()
	c, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Catalog { return open(t, pgtest.Start(t)) })
}

func TestKVConformance(t *testing.T) {
	catalogtest.RunKV(t, func(t *testing.T) catalog.KV { return open(t, pgtest.Start(t)) })
}

// schemaVersions returns the versions schema_version records, in order.
func schemaVersions(t *testing.T, dsn string) []int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT version FROM schema_version ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	v, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantVersions() []int {
	var v []int
	for i := range migrations {
		v = append(v, i+1)
	}
	return v
}

// TestMigrate: Open migrates an empty database once; opening it again,
// by one process or by several at once (servers starting together),
// changes nothing and fails nowhere; a schema newer than this code is
// refused.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		opens int // at once
		again int // one after the other, after those
	}{
		{name: "once", opens: 1},
		{name: "again", opens: 1, again: 2},
		{name: "eight at once", opens: 8, again: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := pgtest.Start(t)
			var wg sync.WaitGroup
			errs := make(chan error, tc.opens)
			for range tc.opens {
				wg.Go(func() {
					c, err := Open(ctx, dsn)
					if err != nil {
						errs <- err
						return
					}
					c.Close()
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("an Open at once: %v", err)
			}
			for range tc.again {
				open(t, dsn).Close()
			}
			if got := schemaVersions(t, dsn); !slices.Equal(got, wantVersions()) {
				t.Errorf("schema versions recorded %v, want each of %v once", got, wantVersions())
			}
		})
	}
	t.Run("newer schema", func(t *testing.T) {
		dsn := pgtest.Start(t)
		c := open(t, dsn)
		if _, err := c.pool.Exec(ctx, `INSERT INTO schema_version(version, applied) VALUES ($1, now())`, len(migrations)+1); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, dsn); err == nil || !strings.Contains(err.Error(), "newer than this aptsnap knows") {
			t.Errorf("Open of a newer schema: %v", err)
		}
	})
	t.Run("pending migration", func(t *testing.T) {
		dsn := pgtest.Start(t)
		pool := open(t, dsn).pool
		if err := migrate(ctx, pool, append(slices.Clone(migrations), `CREATE TABLE later (n int)`)); err != nil {
			t.Fatal(err)
		}
		if got := schemaVersions(t, dsn); len(got) != len(migrations)+1 {
			t.Errorf("after a new migration: versions %v", got)
		}
		// A failing one changes nothing, its version included.
		err := migrate(ctx, pool, append(slices.Clone(migrations), `CREATE TABLE later (n int)`, `CREATE TABLE x (n int); SELECT 1/0`))
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("migration %d", len(migrations)+2)) {
			t.Errorf("a failing migration: %v", err)
		}
		if got := schemaVersions(t, dsn); len(got) != len(migrations)+1 {
			t.Errorf("after a failed migration: versions %v", got)
		}
	})
}

func snap(archive string, at time.Time, n int) catalog.NewSnapshot {
	idx := blob.Sum(fmt.Appendf(nil, "index %s %d", archive, n))
	p := fmt.Sprintf("pool/main/p/pkg%d.deb", n)
	return catalog.NewSnapshot{Archive: archive, Created: at, ValidUntil: at.Add(240 * time.Hour), Suites: []catalog.NewSuite{{
		Name: "bookworm", UpstreamDate: at, Upstream: blob.Sum([]byte("upstream")),
		Files:      []catalog.IndexFile{{Path: "main/binary-amd64/Packages", SHA256: idx, Size: 42}},
		Indices:    []blob.Digest{idx},
		NewIndices: map[blob.Digest][]catalog.PoolEntry{idx: {{Path: p, SHA256: blob.Sum([]byte(p)), Size: 1}}},
		Release:    []byte("Release"), InRelease: []byte("InRelease"), ReleaseGPG: []byte("sig"),
	}}}
}

// TestSerialRace: two servers (two catalogs, two connection pools)
// committing snapshots of one archive at once never hand out one serial
// twice, nor skip one; withdrawals at once neither.
func TestSerialRace(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	servers := []*Catalog{open(t, dsn), open(t, dsn)}
	day := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	const perServer, writers = 12, 3
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for si, c := range servers {
		for w := range writers {
			wg.Go(func() {
				for i := range perServer / writers {
					n := (si*writers+w)*100 + i
					s, err := c.CreateSnapshot(ctx, snap("debian", day, n))
					if err != nil {
						t.Errorf("server %d: %v", si, err)
						return
					}
					mu.Lock()
					got[s.Serial]++
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	for serial, n := range got {
		if n > 1 {
			t.Errorf("serial %s handed out %d times", serial, n)
		}
	}
	snaps, err := servers[1].Snapshots(ctx, "debian")
	if err != nil || len(snaps) != len(servers)*perServer {
		t.Fatalf("%d snapshots, %v; want %d", len(snaps), err, len(servers)*perServer)
	}
	for i, s := range snaps {
		if want := fmt.Sprintf("20261122%02d", i+1); s.Serial != want {
			t.Errorf("snapshot %d is %s, want %s", i, s.Serial, want)
		}
	}

	// Both servers withdraw the last two at once: one of them is kept.
	a, err := servers[0].CreateSnapshot(ctx, snap("single", day, 1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := servers[0].CreateSnapshot(ctx, snap("single", day, 2))
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { servers[0].Expire(ctx, "single", a.Serial) })
	wg.Go(func() { servers[1].Expire(ctx, "single", b.Serial) })
	wg.Wait()
	if left, _ := servers[0].Snapshots(ctx, "single"); len(left) != 1 {
		t.Errorf("after two withdrawals at once: %+v, want one snapshot left", left)
	}
	// And the next serial is past both.
	if s, err := servers[1].CreateSnapshot(ctx, snap("single", day, 3)); err != nil || s.Serial != "2026112203" {
		t.Errorf("after withdrawals: %s, %v; want 2026112203", s.Serial, err)
	}
}

// TestCollectBesideWriters: a collection and writers of other servers at
// once: a writer reusing an index the collection finds unreferenced
// either commits first (the index stays) or is told to pulse again; no
// snapshot ever references an index or pool file that is gone.
func TestCollectBesideWriters(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	gc, writer := open(t, dsn), open(t, dsn)
	day0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	shared := snap("debian", day0, 0)
	idx := shared.Suites[0].Indices[0]
	var refused, made int
	for round := range 30 {
		t0 := day0.AddDate(0, 0, round) // a day each: serials never run out
		// The only snapshot referencing idx, expired, and a newer one.
		old := shared
		old.Created, old.ValidUntil = t0, t0.Add(time.Hour)
		if known, _ := writer.KnownIndices(ctx, "debian", []blob.Digest{idx}); known[idx] {
			t.Fatalf("round %d: the index was not collected", round)
		}
		if _, err := writer.CreateSnapshot(ctx, old); err != nil {
			t.Fatal(err)
		}
		if _, err := writer.CreateSnapshot(ctx, snap("debian", t0, 1000+2*round)); err != nil {
			t.Fatal(err)
		}
		// A writer that found idx known makes a snapshot of it, while GC
		// collects: either may go first (one or the other waits a little).
		reuse := shared
		reuse.Suites = slices.Clone(reuse.Suites)
		reuse.Suites[0].NewIndices = nil
		reuse.Created, reuse.ValidUntil = t0, t0.Add(3*time.Hour)
		var wg sync.WaitGroup
		var werr, gerr error
		pause := time.Duration(round%5) * time.Millisecond
		wg.Go(func() {
			if round%2 == 1 {
				time.Sleep(pause)
			}
			_, werr = writer.CreateSnapshot(ctx, reuse)
		})
		wg.Go(func() {
			if round%2 == 0 {
				time.Sleep(pause)
			}
			_, gerr = gc.Collect(ctx, t0.Add(100*time.Hour), false)
		})
		wg.Wait()
		if gerr != nil {
			t.Fatal(gerr)
		}
		switch {
		case werr == nil:
			made++
		case strings.Contains(werr.Error(), "collected during the pulse"):
			refused++
		default:
			t.Fatal(werr)
		}
		snaps, _ := gc.Snapshots(ctx, "debian")
		for _, s := range snaps {
			su, err := gc.Suite(ctx, s.ID, "bookworm")
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range su.Indices {
				ids, err := gc.IndexMembers(ctx, "debian", d)
				if err != nil {
					t.Fatalf("round %d: %s references index %s: %v", round, s.Serial, d, err)
				}
				if files, err := gc.PoolFiles(ctx, ids); err != nil || len(files) != len(ids) {
					t.Fatalf("round %d: %s: %d of %d pool files, %v", round, s.Serial, len(files), len(ids), err)
				}
			}
		}
		// The next round starts with idx collected.
		if _, err := writer.CreateSnapshot(ctx, snap("debian", t0, 1001+2*round)); err != nil {
			t.Fatal(err)
		}
		if _, err := gc.Collect(ctx, t0.Add(10000*time.Hour), false); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d snapshots made beside a collection, %d refused (the collection first)", made, refused)
}

// TestDryCollectBesideAWriter: a dry collection only reads: it works
// while another server's writer holds its transaction open, and holds up
// no writer; a real collection waits for the writer.
func TestDryCollectBesideAWriter(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	c := open(t, dsn)
	if _, err := c.CreateSnapshot(ctx, snap("debian", time.Now(), 1)); err != nil {
		t.Fatal(err)
	}
	held := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	other := open(t, dsn)
	go func() {
		done <- other.write(ctx, func(tx pgx.Tx) error {
			if _, err := lockArchive(ctx, tx, "debian", false); err != nil {
				return err
			}
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := c.Collect(dctx, time.Now(), true); err != nil {
		t.Errorf("a dry collection beside a writer: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := c.Collect(wctx, time.Now(), false); err == nil {
		t.Error("a collection ran while a writer's transaction was open")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := c.Collect(ctx, time.Now(), false); err != nil {
		t.Errorf("a collection once the writer is done: %v", err)
	}
}

// TestNoPasswordInErrors: whatever fails, the DSN's password is not in
// the error.
func TestNoPasswordInErrors(t *testing.T) {
	pgtest.NoPasswordInErrors(t, func(dsn string) (func(), error) {
		c, err := Open(context.Background(), dsn)
		if err != nil {
			return nil, err
		}
		return func() { c.Close() }, nil
	})
}

// TestTakenNames: names taken at once by two servers (the API's check
// beforehand cannot see the other's) are refused as ErrExists, naming
// what is taken.
func TestTakenNames(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	a, b := open(t, dsn), open(t, dsn)
	h1, h2 := blob.Sum([]byte("one")), blob.Sum([]byte("two"))
	if _, err := a.CreateToken(ctx, "ci", catalog.RoleAdmin, h1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		hash blob.Digest
		says string
	}{
		{"ci", h2, `a token named "ci" exists`},
		{"other", h1, "a token with that secret exists"},
	} {
		_, err := b.CreateToken(ctx, tc.name, catalog.RoleReviewer, tc.hash)
		if !errors.Is(err, errdefs.ErrExists) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("CreateToken(%s): %v, want ErrExists saying %q", tc.name, err, tc.says)
		}
	}
}

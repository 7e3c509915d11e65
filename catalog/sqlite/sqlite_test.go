package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/catalogtest"
	"github.com/aptsnap/aptsnap/catalog/internal/codec"
)

// openTemp opens a new catalog in a temporary directory, closed when the
// test ends.
func openTemp(tb testing.TB) *Catalog {
	tb.Helper()
	c, err := Open(context.Background(), filepath.Join(tb.TempDir(), "catalog.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Catalog { return openTemp(t) })
}

func TestKVConformance(t *testing.T) {
	catalogtest.RunKV(t, func(t *testing.T) catalog.KV { return openTemp(t) })
}

// TestMigrateIndicesPerArchive: a catalog where a second archive lists an
// index recorded with the first archive's pool files (every pool file of
// its snapshots answered 404) resolves them once migrated.
func TestMigrateIndicesPerArchive(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:4] {
		if _, err := db.ExecContext(ctx, m.(string)); err != nil {
			t.Fatal(err)
		}
	}
	idx := blob.Sum([]byte("the same Packages"))
	poolPath := "pool/main/h/hello/hello_1.0_amd64.deb"
	deb := blob.Sum([]byte("hello"))
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`PRAGMA user_version = 4`, nil},
		{`INSERT INTO archives(id, name) VALUES (1, 'debian'), (2, 'debian-arm')`, nil},
		{`INSERT INTO pool_files(id, archive_id, path_key, sha256, size) VALUES (7, 1, ?, ?, 5)`, []any{PathKey(poolPath), deb[:]}},
		{`INSERT INTO indices(sha256, members, count) VALUES (?, ?, 1)`, []any{idx[:], codec.EncodeIDs([]int64{7})}},
		{`INSERT INTO suite_states(id, archive_id, suite, digest, upstream, date, files, indices) VALUES
			(1, 1, 'stable', x'01', x'01', 0, '', ?), (2, 2, 'stable', x'02', x'02', 0, '', ?)`, []any{idx[:], idx[:]}},
		{`INSERT INTO snapshots(id, archive_id, serial, created, valid_until) VALUES (1, 1, '2026112301', 1, 2), (2, 2, '2026112301', 1, 2)`, nil},
		{`INSERT INTO snapshot_suites(snapshot_id, suite, state_id, release, inrelease, release_gpg, signed) VALUES
			(1, 'stable', 1, '', '', '', 0), (2, 'stable', 2, '', '', '', 0)`, nil},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	db.Close()
	c, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, arc := range []string{"debian", "debian-arm"} {
		ids, err := c.IndexMembers(ctx, arc, idx)
		if err != nil || len(ids) != 1 {
			t.Fatalf("%s: members %v, %v", arc, ids, err)
		}
		got, err := c.LookupPool(ctx, arc, poolPath)
		if err != nil || len(got) != 1 || got[0].ID != ids[0] || got[0].SHA256 != deb || got[0].Size != 5 {
			t.Errorf("%s: %s resolves to %+v (members %v), %v", arc, poolPath, got, ids, err)
		}
	}
}

// TestCreateSnapshotChecks: a tag taken is ErrExists, and what cannot be
// read of the suites untracked fails the snapshot rather than being
// taken for no suite.
func TestCreateSnapshotChecks(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	snap := func(tag string) catalog.NewSnapshot {
		idx := blob.Sum([]byte("Packages " + tag))
		ns := catalog.NewSnapshot{Archive: "debian", Tag: tag, Created: t0, Suites: []catalog.NewSuite{{
			Name: "stable", UpstreamDate: t0, Indices: []blob.Digest{idx}, Release: []byte("Suite: stable\n"), InRelease: []byte("signed"), ReleaseGPG: []byte("sig"),
			Files:      []catalog.IndexFile{{Path: "main/binary-amd64/Packages", SHA256: idx, Size: 10}},
			NewIndices: map[blob.Digest][]catalog.PoolEntry{idx: {{Path: "pool/main/h/hello/hello_1.0_all.deb", SHA256: blob.Sum([]byte("hello")), Size: 5}}},
		}}}
		if tag == "" {
			ns.ValidUntil = t0.AddDate(0, 0, 10)
		}
		return ns
	}
	for _, tc := range []struct {
		name string
		// before runs on the catalog once it holds a snapshot of debian.
		before string
		tag    string
		is     error  // what the error wraps, if not nil
		says   string // what the error says
	}{
		{name: "a tag taken", tag: "v1", is: catalog.ErrExists, says: "tag v1 has a snapshot of debian"},
		{name: "an unreadable untracked suite",
			before: `DROP TABLE untracked; CREATE TABLE untracked (archive_id INTEGER, suite TEXT);
				INSERT INTO untracked VALUES ((SELECT id FROM archives WHERE name = 'debian'), NULL)`,
			says: "untracked suites of debian"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := openTemp(t)
			if _, err := c.CreateSnapshot(ctx, snap(tc.tag)); err != nil {
				t.Fatal(err)
			}
			if tc.before != "" {
				if _, err := c.w.ExecContext(ctx, tc.before); err != nil {
					t.Fatal(err)
				}
			}
			_, err := c.CreateSnapshot(ctx, snap(tc.tag))
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("second snapshot: %v, want an error saying %q", err, tc.says)
			}
		})
	}
}

// TestDryCollectBesideAWriter: a dry collection only reads: it works
// while another process holds the write lock, and holds up no writer.
func TestDryCollectBesideAWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	c, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK")
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := c.Collect(dctx, time.Now(), true); err != nil {
		t.Errorf("a dry collection beside a writer: %v", err)
	}
}

// TestPoolFilesRange: many sorted IDs close together (an index's members,
// every other one here) are read in one scan, with the same answer as the
// lookups by ID.
func TestPoolFilesRange(t *testing.T) {
	ctx := context.Background()
	c := openTemp(t)
	t0 := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	idx := blob.Sum([]byte("Packages"))
	var entries []catalog.PoolEntry
	for i := range 3000 {
		name := fmt.Sprintf("pool/main/p/p%d/p%d_1.0_all.deb", i, i)
		entries = append(entries, catalog.PoolEntry{Path: name, SHA256: blob.Sum([]byte(name)), Size: int64(i)})
	}
	if _, err := c.CreateSnapshot(ctx, catalog.NewSnapshot{Archive: "debian", Created: t0, ValidUntil: t0.AddDate(0, 0, 10),
		Suites: []catalog.NewSuite{{Name: "stable", UpstreamDate: t0, Indices: []blob.Digest{idx},
			Release: []byte("Suite: stable\n"), InRelease: []byte("signed"), ReleaseGPG: []byte("sig"),
			NewIndices: map[blob.Digest][]catalog.PoolEntry{idx: entries}}}}); err != nil {
		t.Fatal(err)
	}
	all, err := c.IndexMembers(ctx, "debian", idx)
	if err != nil || len(all) != len(entries) {
		t.Fatalf("IndexMembers = %d, %v", len(all), err)
	}
	var ids, reversed []int64
	for i := 1; i < len(all); i += 2 {
		ids = append(ids, all[i])
		reversed = append([]int64{all[i]}, reversed...)
	}
	ids = append(ids, all[len(all)-1]+5) // none such
	got, err := c.PoolFiles(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	want, err := c.PoolFiles(ctx, reversed) // not sorted: by ID, 500 at a time
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(want, func(x, y catalog.PoolFile) int { return cmp.Compare(x.ID, y.ID) })
	if len(got) != len(ids)-1 || len(want) != len(got) {
		t.Fatalf("PoolFiles: %d and %d files for %d IDs", len(got), len(want), len(ids))
	}
	for i := range got {
		if got[i] != want[i] || got[i].ID != ids[i] || got[i].SHA256 != blob.Sum([]byte(entries[got[i].Size].Path)) {
			t.Fatalf("PoolFiles[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestCollectRestoresCache: a collection runs with a small page cache and
// gives its connection back its own, collecting or dry, and when it fails.
func TestCollectRestoresCache(t *testing.T) {
	ctx := context.Background()
	c := openTemp(t)
	c.r.SetMaxOpenConns(1) // the dry run's connection is the one checked
	size := func(db *sql.DB) (n int64) {
		if err := db.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	wantW, wantR := size(c.w), size(c.r)
	for _, dry := range []bool{false, true} {
		if _, err := c.Collect(ctx, time.Now(), dry); err != nil {
			t.Fatal(err)
		}
	}
	// A failing collection: a table it reads is gone.
	if _, err := c.w.ExecContext(ctx, `ALTER TABLE pool_files RENAME TO pool_files_gone`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Collect(ctx, time.Now(), false); err == nil {
		t.Error("a collection without its pool_files table succeeded")
	}
	if w, r := size(c.w), size(c.r); w != wantW || r != wantR || w == -passCacheKiB {
		t.Errorf("cache_size after collections: writer %d, reader %d; want %d and %d, not %d", w, r, wantW, wantR, -passCacheKiB)
	}
}

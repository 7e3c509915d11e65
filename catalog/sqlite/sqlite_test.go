package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/catalogtest"
)

func TestConformance(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Catalog {
		c, err := Open(context.Background(), filepath.Join(t.TempDir(), "catalog.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	})
}

func TestIDCodec(t *testing.T) {
	for _, ids := range [][]int64{nil, {1}, {1, 2, 3, 1000000}, func() []int64 {
		var v []int64
		for i := int64(5); i < 70000; i += 1 + i%3 {
			v = append(v, i)
		}
		return v
	}()} {
		got, err := decodeIDs(encodeIDs(ids))
		if err != nil || len(got) != len(ids) || (len(ids) > 0 && !slices.Equal(got, ids)) {
			t.Errorf("round trip of %d ids: %d ids, %v", len(ids), len(got), err)
		}
	}
	if _, err := decodeIDs([]byte("garbage")); err == nil {
		t.Error("decoding garbage succeeded")
	}
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
		{`INSERT INTO indices(sha256, members, count) VALUES (?, ?, 1)`, []any{idx[:], encodeIDs([]int64{7})}},
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

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog/internal/codec"
)

// legacyFile is a pool file record of a catalog before migration 5.
type legacyFile struct {
	id      int64
	archive int64 // archives are debian (1), debian-arm (2), ours (3)
	path    string
	content string
}

// legacyCatalog writes, at path, a catalog of schema version 4 (one index
// record for all archives) holding files, indices (by name, their member
// IDs) and, for each archive, a suite listing the indices named.
func legacyCatalog(t testing.TB, path string, files []legacyFile, indices map[string][]int64, lists map[int64][]string) {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, m := range migrations[:4] {
		if _, err := db.ExecContext(ctx, m.(string)); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`PRAGMA user_version = 4`)
	exec(`INSERT INTO archives(id, name) VALUES (1, 'debian'), (2, 'debian-arm'), (3, 'ours')`)
	for _, f := range files {
		sha := blob.Sum([]byte(f.content))
		exec(`INSERT INTO pool_files(id, archive_id, path_key, sha256, size) VALUES (?, ?, ?, ?, ?)`,
			f.id, f.archive, PathKey(f.path), sha[:], len(f.content))
	}
	for name, ids := range indices {
		d := blob.Sum([]byte(name))
		exec(`INSERT INTO indices(sha256, members, count) VALUES (?, ?, ?)`, d[:], codec.EncodeIDs(ids), len(ids))
	}
	for aid, names := range lists {
		var idx []byte
		for _, n := range names {
			d := blob.Sum([]byte(n))
			idx = append(idx, d[:]...)
		}
		exec(`INSERT INTO suite_states(archive_id, suite, digest, upstream, date, files, indices) VALUES (?, 'stable', x'01', x'01', 0, '', ?)`,
			aid, idx)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateCopies: every archive listing an index gets the index with
// its own pool file records (same path and content), reusing those it
// has and making one per distinct file, however many indices list it.
func TestMigrateCopies(t *testing.T) {
	hello := legacyFile{7, 1, "pool/main/h/hello/hello_1.0_amd64.deb", "hello"}
	world := legacyFile{8, 1, "pool/main/w/world/world_1.0_all.deb", "world"}
	other := legacyFile{9, 1, "pool/main/o/other/other_1.0_all.deb", "other"}
	for _, tc := range []struct {
		name    string
		files   []legacyFile
		indices map[string][]int64
		lists   map[int64][]string
		// want is, by archive and index, its members as path=content.
		want map[string]map[string][]string
		// records is how many pool file records each archive ends with.
		records map[string]int
	}{
		{
			name:    "shared index",
			files:   []legacyFile{hello, world},
			indices: map[string][]int64{"A": {7, 8}},
			lists:   map[int64][]string{1: {"A"}, 2: {"A"}},
			want: map[string]map[string][]string{
				"debian":     {"A": {"hello", "world"}},
				"debian-arm": {"A": {"hello", "world"}},
			},
			records: map[string]int{"debian": 2, "debian-arm": 2},
		},
		{
			name:    "a record the archive has is reused",
			files:   []legacyFile{hello, world, {20, 2, hello.path, hello.content}},
			indices: map[string][]int64{"A": {7, 8}},
			lists:   map[int64][]string{1: {"A"}, 2: {"A"}},
			want: map[string]map[string][]string{
				"debian":     {"A": {"hello", "world"}},
				"debian-arm": {"A": {"hello", "world"}},
			},
			records: map[string]int{"debian": 2, "debian-arm": 2},
		},
		{
			name:    "same path, other content is not reused",
			files:   []legacyFile{hello, world, {20, 2, hello.path, "hello, rebuilt"}},
			indices: map[string][]int64{"A": {7, 8}},
			lists:   map[int64][]string{1: {"A"}, 2: {"A"}},
			want: map[string]map[string][]string{
				"debian":     {"A": {"hello", "world"}},
				"debian-arm": {"A": {"hello", "world"}},
			},
			records: map[string]int{"debian": 2, "debian-arm": 3},
		},
		{
			name:    "indices sharing members share the copies",
			files:   []legacyFile{hello, world, other},
			indices: map[string][]int64{"A": {7, 8}, "B": {8, 9}, "C": {7, 8, 9}},
			lists:   map[int64][]string{1: {"A", "B", "C"}, 2: {"A", "B", "C"}},
			want: map[string]map[string][]string{
				"debian":     {"A": {"hello", "world"}, "B": {"other", "world"}, "C": {"hello", "other", "world"}},
				"debian-arm": {"A": {"hello", "world"}, "B": {"other", "world"}, "C": {"hello", "other", "world"}},
			},
			records: map[string]int{"debian": 3, "debian-arm": 3},
		},
		{
			name:    "two records of one file become one",
			files:   []legacyFile{hello, {10, 1, hello.path, hello.content}},
			indices: map[string][]int64{"A": {7}, "B": {10}},
			lists:   map[int64][]string{1: {"A", "B"}, 2: {"A", "B"}},
			want: map[string]map[string][]string{
				"debian":     {"A": {"hello"}, "B": {"hello"}},
				"debian-arm": {"A": {"hello"}, "B": {"hello"}},
			},
			records: map[string]int{"debian": 2, "debian-arm": 1},
		},
		{
			name:    "three archives",
			files:   []legacyFile{hello, world},
			indices: map[string][]int64{"A": {7, 8}},
			lists:   map[int64][]string{1: {"A"}, 2: {"A"}, 3: {"A"}},
			want: map[string]map[string][]string{
				"debian":     {"A": {"hello", "world"}},
				"debian-arm": {"A": {"hello", "world"}},
				"ours":       {"A": {"hello", "world"}},
			},
			records: map[string]int{"debian": 2, "debian-arm": 2, "ours": 2},
		},
		{
			name:    "the owner lists it second",
			files:   []legacyFile{{7, 2, hello.path, hello.content}},
			indices: map[string][]int64{"A": {7}},
			lists:   map[int64][]string{1: {"A"}, 2: {"A"}},
			want: map[string]map[string][]string{
				"debian":     {"A": {"hello"}},
				"debian-arm": {"A": {"hello"}},
			},
			records: map[string]int{"debian": 1, "debian-arm": 1},
		},
		{
			name:    "empty index",
			indices: map[string][]int64{"A": nil},
			lists:   map[int64][]string{1: {"A"}, 3: {"A"}},
			want: map[string]map[string][]string{
				"debian": {"A": nil},
				"ours":   {"A": nil},
			},
			records: map[string]int{},
		},
		{
			name:    "an index no suite lists stays its owner's",
			files:   []legacyFile{hello},
			indices: map[string][]int64{"A": {7}},
			want: map[string]map[string][]string{
				"debian":     {"A": {"hello"}},
				"debian-arm": {},
			},
			records: map[string]int{"debian": 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "catalog.db")
			legacyCatalog(t, path, tc.files, tc.indices, tc.lists)
			c, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			contents := map[string]string{} // path key and content digest -> content
			for _, f := range tc.files {
				d := blob.Sum([]byte(f.content))
				contents[fmt.Sprint(PathKey(f.path), d)] = f.content
			}
			for arc, indices := range tc.want {
				for _, name := range slices.Sorted(maps.Keys(tc.indices)) {
					got, ok := members(t, c, arc, blob.Sum([]byte(name)), contents)
					want, wantOK := indices[name]
					if ok != wantOK || !slices.Equal(got, want) {
						t.Errorf("%s: index %s: members %q (recorded %v), want %q (recorded %v)", arc, name, got, ok, want, wantOK)
					}
				}
			}
			rows, err := c.r.QueryContext(ctx, `SELECT a.name, count(*) FROM pool_files p JOIN archives a ON a.id = p.archive_id GROUP BY a.name`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			got := map[string]int{}
			for rows.Next() {
				var name string
				var n int
				if err := rows.Scan(&name, &n); err != nil {
					t.Fatal(err)
				}
				got[name] = n
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.records) {
				t.Errorf("pool file records by archive %v, want %v", got, tc.records)
			}
		})
	}
}

// members returns the members of index d in archive arc as their contents,
// sorted, each checked to be a record of arc; ok is false when arc has no
// such index.
func members(t *testing.T, c *Catalog, arc string, d blob.Digest, contents map[string]string) (got []string, ok bool) {
	t.Helper()
	ctx := context.Background()
	ids, err := c.IndexMembers(ctx, arc, d)
	if err != nil {
		return nil, false
	}
	for _, id := range ids {
		var key int64
		var sha []byte
		var owner string
		if err := c.r.QueryRowContext(ctx, `SELECT p.path_key, p.sha256, a.name FROM pool_files p JOIN archives a ON a.id = p.archive_id WHERE p.id = ?`,
			id).Scan(&key, &sha, &owner); err != nil {
			t.Fatalf("%s: member %d: %v", arc, id, err)
		}
		if owner != arc {
			t.Errorf("%s: member %d is a pool file of %s", arc, id, owner)
		}
		got = append(got, contents[fmt.Sprint(key, blob.Digest(sha))])
	}
	slices.Sort(got)
	return got, true
}

// countingTx counts the statements a migration runs.
type countingTx struct {
	migrationTx
	inserts int // of pool file records
	others  int
}

func (c *countingTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	c.others++
	return c.migrationTx.QueryContext(ctx, query, args...)
}

func (c *countingTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	c.others++
	return c.migrationTx.QueryRowContext(ctx, query, args...)
}

func (c *countingTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if strings.HasPrefix(query, "INSERT INTO pool_files") {
		c.inserts++
	} else {
		c.others++
	}
	return c.migrationTx.ExecContext(ctx, query, args...)
}

// sharedIndices writes, at path, a catalog of schema version 4 where
// debian-arm lists n indices of debian's, each of the same base members
// plus extra of its own: n*(base+extra) members, base+n*extra distinct.
func sharedIndices(t testing.TB, path string, n, base, extra int) {
	t.Helper()
	var files []legacyFile
	for i := range base + n*extra {
		files = append(files, legacyFile{int64(i + 1), 1, fmt.Sprintf("pool/main/p/p%d/p%d_1_all.deb", i, i), fmt.Sprint("deb ", i)})
	}
	indices := map[string][]int64{}
	var names []string
	for i := range n {
		var ids []int64
		for j := range base {
			ids = append(ids, int64(j+1))
		}
		for j := range extra {
			ids = append(ids, int64(base+i*extra+j+1))
		}
		name := fmt.Sprint("Packages ", i)
		indices[name] = ids
		names = append(names, name)
	}
	legacyCatalog(t, path, files, indices, map[int64][]string{1: names, 2: names})
}

// TestMigrateSharedIndicesStatements: the migration of indices shared by
// two archives costs one record insert per distinct pool file and a few
// statements per index, not statements per member of each index (10
// indices of 2,010 members were 40,200 queries).
func TestMigrateSharedIndicesStatements(t *testing.T) {
	const n, base, extra = 10, 2000, 10
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	sharedIndices(t, path, n, base, extra)
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	count := &countingTx{migrationTx: tx}
	if err := indicesPerArchive(ctx, count); err != nil {
		t.Fatal(err)
	}
	if want := base + n*extra; count.inserts != want {
		t.Errorf("%d pool file records made, want %d", count.inserts, want)
	}
	if limit := 5*n + 10; count.others > limit {
		t.Errorf("%d other statements for %d indices, want at most %d", count.others, n, limit)
	}
	var copies, members int
	if err := tx.QueryRowContext(ctx, `SELECT count(*), sum(count) FROM indices WHERE archive_id = 2`).Scan(&copies, &members); err != nil {
		t.Fatal(err)
	}
	if copies != n || members != n*(base+extra) {
		t.Errorf("debian-arm has %d indices of %d members in all, want %d of %d", copies, members, n, n*(base+extra))
	}
}

// BenchmarkMigrateSharedIndices: 10 indices of 6,000 members, shared by
// two archives.
func BenchmarkMigrateSharedIndices(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		path := filepath.Join(dir, fmt.Sprint(i, ".db"))
		sharedIndices(b, path, 10, 6000, 10)
		b.StartTimer()
		c, err := Open(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

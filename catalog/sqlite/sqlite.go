package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/internal/codec"
	"github.com/aptsnap/aptsnap/catalog/internal/rules"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/names"
)

// Catalog is the embedded catalog.Catalog, one database file in WAL mode. Several
// processes (a server and a CLI pulse) may use the same file.
type Catalog struct {
	r *sql.DB // readers
	w *sql.DB // the single writer; transactions begin IMMEDIATE
}

var _ catalog.Catalog = (*Catalog)(nil)

// Open opens (creating and migrating if needed) the catalog at path.
func Open(ctx context.Context, path string) (*Catalog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	dsn := func(txlock string) string {
		q := url.Values{}
		for _, p := range []string{"journal_mode(WAL)", "busy_timeout(30000)", "foreign_keys(1)", "synchronous(NORMAL)"} {
			q.Add("_pragma", p)
		}
		if txlock != "" {
			q.Set("_txlock", txlock)
		}
		return "file:" + path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn("immediate"))
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn(""))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("catalog: %w", err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	c := &Catalog{r: r, w: w}
	if err := c.migrate(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close implements Catalog.
func (c *Catalog) Close() error {
	return errors.Join(c.r.Close(), c.w.Close())
}

// migrations are applied in order, each in its own transaction; the
// number of applied migrations is kept in PRAGMA user_version. Each is SQL,
// or Go for what SQL cannot do alone.
var migrations = []migration{
	`CREATE TABLE archives (
		id   INTEGER PRIMARY KEY,
		name TEXT NOT NULL UNIQUE
	);
	CREATE TABLE pool_files (
		id         INTEGER PRIMARY KEY,
		archive_id INTEGER NOT NULL REFERENCES archives(id),
		path_key   INTEGER NOT NULL,
		sha256     BLOB NOT NULL,
		size       INTEGER NOT NULL
	);
	CREATE INDEX pool_files_path ON pool_files(archive_id, path_key);
	CREATE TABLE indices (
		sha256  BLOB PRIMARY KEY,
		members BLOB NOT NULL,
		count   INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE TABLE suite_states (
		id         INTEGER PRIMARY KEY,
		archive_id INTEGER NOT NULL REFERENCES archives(id),
		suite      TEXT NOT NULL,
		digest     BLOB NOT NULL,
		upstream   BLOB NOT NULL,
		date       INTEGER NOT NULL,
		files      TEXT NOT NULL,
		indices    BLOB NOT NULL,
		UNIQUE (archive_id, suite, digest)
	);
	CREATE TABLE snapshots (
		id          INTEGER PRIMARY KEY,
		archive_id  INTEGER NOT NULL REFERENCES archives(id),
		serial      TEXT NOT NULL,
		created     INTEGER NOT NULL,
		valid_until INTEGER NOT NULL,
		UNIQUE (archive_id, serial)
	);
	CREATE INDEX snapshots_created ON snapshots(archive_id, created);
	CREATE TABLE snapshot_suites (
		snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
		suite       TEXT NOT NULL,
		state_id    INTEGER NOT NULL REFERENCES suite_states(id),
		release     BLOB NOT NULL,
		inrelease   BLOB NOT NULL,
		release_gpg BLOB NOT NULL,
		signed      INTEGER NOT NULL,
		PRIMARY KEY (snapshot_id, suite)
	) WITHOUT ROWID;
	CREATE TABLE suite_marks (
		archive_id INTEGER NOT NULL REFERENCES archives(id),
		suite      TEXT NOT NULL,
		last_date  INTEGER NOT NULL,
		PRIMARY KEY (archive_id, suite)
	) WITHOUT ROWID;
	CREATE TABLE pulses (
		id         INTEGER PRIMARY KEY,
		archive_id INTEGER NOT NULL REFERENCES archives(id),
		started    INTEGER NOT NULL,
		finished   INTEGER NOT NULL,
		ok         INTEGER NOT NULL,
		serial     TEXT NOT NULL,
		error      TEXT NOT NULL
	);
	CREATE INDEX pulses_archive ON pulses(archive_id, id);`,
	`CREATE TABLE tokens (
		id      INTEGER PRIMARY KEY,
		name    TEXT NOT NULL UNIQUE,
		role    TEXT NOT NULL,
		hash    BLOB NOT NULL UNIQUE,
		created INTEGER NOT NULL
	);`,
	`CREATE TABLE untracked (
		archive_id INTEGER NOT NULL REFERENCES archives(id),
		suite      TEXT NOT NULL,
		PRIMARY KEY (archive_id, suite)
	) WITHOUT ROWID;`,
	// Pool file IDs are never reused once collected: servers cache sets of
	// them, and an ID meaning another file later would be wrong, not stale.
	`CREATE TABLE pool_files_new (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		archive_id INTEGER NOT NULL REFERENCES archives(id),
		path_key   INTEGER NOT NULL,
		sha256     BLOB NOT NULL,
		size       INTEGER NOT NULL
	);
	INSERT INTO pool_files_new SELECT id, archive_id, path_key, sha256, size FROM pool_files;
	DROP TABLE pool_files;
	ALTER TABLE pool_files_new RENAME TO pool_files;
	CREATE INDEX pool_files_path ON pool_files(archive_id, path_key);`,
	// An index's members are pool files of one archive: record an index
	// per archive, so that a second archive holding the same index bytes
	// resolves its own pool files.
	indicesPerArchive,
	// A withdrawn serial (snapshot expire) is never given again: a branch
	// frozen on it must not build from other packages.
	`CREATE TABLE withdrawn (
		archive_id INTEGER NOT NULL REFERENCES archives(id),
		serial     TEXT NOT NULL,
		withdrawn  INTEGER NOT NULL,
		PRIMARY KEY (archive_id, serial)
	) WITHOUT ROWID;`,
	// Stable update requests: the record is the stable package's document.
	`CREATE TABLE requests (
		id       INTEGER PRIMARY KEY AUTOINCREMENT,
		revision INTEGER NOT NULL,
		series   TEXT NOT NULL,
		state    TEXT NOT NULL,
		created  INTEGER NOT NULL,
		updated  INTEGER NOT NULL,
		doc      BLOB NOT NULL,
		files    BLOB NOT NULL -- the digests of Request.Files, concatenated
	);
	CREATE INDEX requests_series_state ON requests(series, state);`,
	// The shared key-value store (ACME storage) and its leased locks.
	`CREATE TABLE kv (
		key      TEXT PRIMARY KEY,
		value    BLOB NOT NULL,
		modified INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE TABLE kv_locks (
		name    TEXT PRIMARY KEY,
		owner   TEXT NOT NULL,
		expires INTEGER NOT NULL
	) WITHOUT ROWID;`,
}

// migration is SQL (a string) or a func(context.Context, migrationTx) error.
type migration any

// migrationTx is what a migration in Go uses of its transaction (a
// *sql.Tx): tests count the statements it runs.
type migrationTx interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (c *Catalog) apply(ctx context.Context, tx *sql.Tx, m migration) error {
	switch m := m.(type) {
	case string:
		_, err := tx.ExecContext(ctx, m)
		return err
	case func(context.Context, migrationTx) error:
		return m(ctx, tx)
	}
	return fmt.Errorf("unknown migration %T", m)
}

func (c *Catalog) migrate(ctx context.Context) error {
	for {
		tx, err := c.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("catalog: migrate: %w", err)
		}
		var v int
		if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
			tx.Rollback()
			return fmt.Errorf("catalog: migrate: %w", err)
		}
		if v > len(migrations) {
			tx.Rollback()
			return fmt.Errorf("catalog: schema version %d is newer than this aptsnap knows (%d)", v, len(migrations))
		}
		if v == len(migrations) {
			return tx.Rollback()
		}
		if err := c.apply(ctx, tx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("catalog: migration %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("catalog: migration %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("catalog: migration %d: %w", v+1, err)
		}
	}
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func archiveID(ctx context.Context, q queryer, name string, create bool) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM archives WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		if !create {
			return 0, errdefs.Errorf(catalog.ErrNotFound, "no archive %q", name)
		}
		res, err := q.ExecContext(ctx, `INSERT INTO archives(name) VALUES (?)`, name)
		if err != nil {
			return 0, fmt.Errorf("catalog: archive %q: %w", name, err)
		}
		return res.LastInsertId()
	}
	if err != nil {
		return 0, fmt.Errorf("catalog: archive %q: %w", name, err)
	}
	return id, nil
}

// KnownIndices implements Catalog.
func (c *Catalog) KnownIndices(ctx context.Context, archive string, ds []blob.Digest) (map[blob.Digest]bool, error) {
	known := make(map[blob.Digest]bool, len(ds))
	for _, d := range ds {
		var n int
		err := c.r.QueryRowContext(ctx, `SELECT i.count FROM indices i JOIN archives a ON a.id = i.archive_id
			WHERE a.name = ? AND i.sha256 = ?`, archive, d[:]).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("catalog: index %s: %w", d, err)
		}
		known[d] = true
	}
	return known, nil
}

// LastUpstreamDate implements Catalog.
func (c *Catalog) LastUpstreamDate(ctx context.Context, archive, suite string) (time.Time, error) {
	var d int64
	err := c.r.QueryRowContext(ctx, `SELECT m.last_date FROM suite_marks m JOIN archives a ON a.id = m.archive_id
		WHERE a.name = ? AND m.suite = ?`, archive, suite).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("catalog: %s %s: %w", archive, suite, err)
	}
	return time.Unix(d, 0).UTC(), nil
}

// CreateSnapshot implements Catalog.
func (c *Catalog) CreateSnapshot(ctx context.Context, s catalog.NewSnapshot) (catalog.Snapshot, error) {
	out, err := c.CreateSnapshots(ctx, []catalog.NewSnapshot{s})
	if err != nil {
		return catalog.Snapshot{}, err
	}
	return out[0], nil
}

// CreateSnapshots implements Catalog: all of them in one transaction, or none.
func (c *Catalog) CreateSnapshots(ctx context.Context, ss []catalog.NewSnapshot) ([]catalog.Snapshot, error) {
	tx, err := c.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("catalog: begin: %w", err)
	}
	defer tx.Rollback()
	var out []catalog.Snapshot
	for _, s := range ss {
		snap, err := createSnapshot(ctx, tx, s)
		if err != nil {
			return nil, err
		}
		out = append(out, snap)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("catalog: commit: %w", err)
	}
	return out, nil
}

func createSnapshot(ctx context.Context, tx *sql.Tx, s catalog.NewSnapshot) (catalog.Snapshot, error) {
	aid, err := archiveID(ctx, tx, s.Archive, true)
	if err != nil {
		return catalog.Snapshot{}, err
	}
	if s.Tag != "" && s.Replace {
		if err := deleteSnapshots(ctx, tx, `archive_id = ? AND serial = ?`, aid, catalog.TagSerial(s.Tag)); err != nil {
			return catalog.Snapshot{}, fmt.Errorf("catalog: replace tag %s of %s: %w", s.Tag, s.Archive, err)
		}
	} else if s.Tag != "" {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM snapshots WHERE archive_id = ? AND serial = ?`,
			aid, catalog.TagSerial(s.Tag)).Scan(&n); err != nil {
			return catalog.Snapshot{}, fmt.Errorf("catalog: tag %s of %s: %w", s.Tag, s.Archive, err)
		}
		if n > 0 {
			return catalog.Snapshot{}, errdefs.Errorf(catalog.ErrExists, "tag %s has a snapshot of %s already", s.Tag, s.Archive)
		}
	} else {
		// Untracked while the pulse ran: not part of the snapshot.
		untracked, err := untrackedSuites(ctx, tx, aid)
		if err != nil {
			return catalog.Snapshot{}, fmt.Errorf("catalog: untracked suites of %s: %w", s.Archive, err)
		}
		s.Suites = slices.DeleteFunc(slices.Clone(s.Suites), func(su catalog.NewSuite) bool { return untracked[su.Name] })
		if len(s.Suites) == 0 {
			return catalog.Snapshot{}, fmt.Errorf("catalog: every suite of the snapshot of %s was untracked meanwhile", s.Archive)
		}
	}

	// First what the snapshot references: pool files, indices, suite states.
	pool := &poolResolver{tx: tx, archiveID: aid}
	states := make([]int64, len(s.Suites))
	for i, su := range s.Suites {
		for d, entries := range su.NewIndices {
			if err := pool.addIndex(ctx, d, entries); err != nil {
				return catalog.Snapshot{}, fmt.Errorf("catalog: suite %s: %w", su.Name, err)
			}
		}
		for _, d := range su.Indices {
			var n int
			err := tx.QueryRowContext(ctx, `SELECT count FROM indices WHERE archive_id = ? AND sha256 = ?`, aid, d[:]).Scan(&n)
			if errors.Is(err, sql.ErrNoRows) {
				return catalog.Snapshot{}, fmt.Errorf("catalog: suite %s: index %s was collected during the pulse: pulse again", su.Name, d)
			}
			if err != nil {
				return catalog.Snapshot{}, fmt.Errorf("catalog: suite %s: %w", su.Name, err)
			}
		}
		if states[i], err = suiteState(ctx, tx, aid, su); err != nil {
			return catalog.Snapshot{}, fmt.Errorf("catalog: suite %s: %w", su.Name, err)
		}
	}

	// Then the snapshot itself, stamped now: this transaction holds the
	// write lock, and a snapshot stamped before it waited for the lock
	// would appear in the past, changing the answer to a timestamp URL
	// already given.
	created := rules.Created(s).UTC()
	serial := catalog.TagSerial(s.Tag)
	var validUntil int64
	switch {
	case s.Tag == "" && s.Serial != "":
		// A copy keeps its serial, and when it was made.
		if err := serialFree(ctx, tx, aid, s.Archive, s.Serial); err != nil {
			return catalog.Snapshot{}, err
		}
		serial, created, validUntil = s.Serial, s.Created.UTC(), s.ValidUntil.Unix()
	case s.Tag == "":
		if serial, created, err = nextSerial(ctx, tx, aid, s.Archive, created); err != nil {
			return catalog.Snapshot{}, err
		}
		validUntil = s.ValidUntil.Unix()
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO snapshots(archive_id, serial, created, valid_until) VALUES (?, ?, ?, ?)`,
		aid, serial, created.Unix(), validUntil)
	if err != nil {
		return catalog.Snapshot{}, fmt.Errorf("catalog: snapshot: %w", err)
	}
	sid, _ := res.LastInsertId()
	if p := s.Pulse; p != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO pulses(archive_id, started, finished, ok, serial, error) VALUES (?, ?, ?, 1, ?, '')`,
			aid, p.Started.UnixMilli(), max(created.UnixMilli(), p.Started.UnixMilli()), serial); err != nil {
			return catalog.Snapshot{}, fmt.Errorf("catalog: pulse: %w", err)
		}
	}
	var names []string
	for i, su := range s.Suites {
		if _, err := tx.ExecContext(ctx, `INSERT INTO snapshot_suites(snapshot_id, suite, state_id, release, inrelease, release_gpg, signed)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, sid, su.Name, states[i], su.Release, su.InRelease, su.ReleaseGPG, created.Unix()); err != nil {
			return catalog.Snapshot{}, fmt.Errorf("catalog: suite %s: %w", su.Name, err)
		}
		names = append(names, su.Name)
		if s.Tag != "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO suite_marks(archive_id, suite, last_date) VALUES (?, ?, ?)
			ON CONFLICT (archive_id, suite) DO UPDATE SET last_date = max(last_date, excluded.last_date)`,
			aid, su.Name, su.UpstreamDate.Unix()); err != nil {
			return catalog.Snapshot{}, fmt.Errorf("catalog: suite %s: %w", su.Name, err)
		}
	}
	out := catalog.Snapshot{ID: sid, Archive: s.Archive, Serial: serial, Created: time.Unix(created.Unix(), 0).UTC(), Suites: names}
	if validUntil != 0 {
		out.ValidUntil = time.Unix(validUntil, 0).UTC()
	}
	return out, nil
}

// deleteSnapshots deletes the snapshots where (a condition on snapshots'
// columns) selects, and their suites; GC collects what they referenced.
func deleteSnapshots(ctx context.Context, tx *sql.Tx, where string, args ...any) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM snapshot_suites WHERE snapshot_id IN (SELECT id FROM snapshots WHERE `+where+`)`, args...); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM snapshots WHERE `+where, args...)
	return err
}

// untrackedSuites returns the suites of archive aid untracked so far.
func untrackedSuites(ctx context.Context, tx *sql.Tx, aid int64) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT suite FROM untracked WHERE archive_id = ?`, aid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var su string
		if err := rows.Scan(&su); err != nil {
			return nil, err
		}
		out[su] = true
	}
	return out, rows.Err()
}

// nextSerial gives a time-based snapshot created at created its serial,
// the next of its UTC day, and the creation time to record: never before
// the archive's newest snapshot, should the clock step back.
func nextSerial(ctx context.Context, tx *sql.Tx, aid int64, archive string, created time.Time) (string, time.Time, error) {
	var newest sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT max(created) FROM snapshots WHERE archive_id = ? AND serial NOT LIKE '@%'`, aid).Scan(&newest); err != nil {
		return "", created, fmt.Errorf("catalog: serial: %w", err)
	}
	if newest.Valid && created.Unix() < newest.Int64 {
		created = time.Unix(newest.Int64, 0).UTC()
	}
	day := created.Format("20060102")
	var last sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT max(serial) FROM (SELECT serial FROM snapshots WHERE archive_id = ?1 AND serial LIKE ?2
		UNION ALL SELECT serial FROM withdrawn WHERE archive_id = ?1 AND serial LIKE ?2)`,
		aid, day+"__").Scan(&last); err != nil {
		return "", created, fmt.Errorf("catalog: serial: %w", err)
	}
	n := 1
	if last.Valid {
		fmt.Sscanf(last.String[8:], "%d", &n)
		n++
	}
	if n > catalog.MaxSerialsPerDay {
		return "", created, fmt.Errorf("catalog: archive %s already has %d snapshots on %s: no serial left for the day", archive, catalog.MaxSerialsPerDay, day)
	}
	return fmt.Sprintf("%s%02d", day, n), created, nil
}

// serialFree refuses a serial that is not one, or is in use or withdrawn.
func serialFree(ctx context.Context, tx *sql.Tx, aid int64, archive, serial string) error {
	if !names.Serial(serial) {
		return errdefs.Errorf(errdefs.ErrInvalid, "catalog: %q is not a serial", serial)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM snapshots WHERE archive_id = ?1 AND serial = ?2) +
		(SELECT count(*) FROM withdrawn WHERE archive_id = ?1 AND serial = ?2)`, aid, serial).Scan(&n); err != nil {
		return fmt.Errorf("catalog: serial: %w", err)
	}
	if n > 0 {
		return errdefs.Errorf(errdefs.ErrExists, "catalog: %s/%s exists or was withdrawn", archive, serial)
	}
	return nil
}

// suiteState finds or inserts the suite state for su's set of files.
func suiteState(ctx context.Context, tx *sql.Tx, aid int64, su catalog.NewSuite) (int64, error) {
	files := encodeFiles(su.Files)
	idx := make([]byte, 0, len(su.Indices)*32)
	for _, d := range su.Indices {
		idx = append(idx, d[:]...)
	}
	digest := blob.Sum([]byte(files + "\x00" + string(idx) + "\x00" + su.Upstream.String()))
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM suite_states WHERE archive_id = ? AND suite = ? AND digest = ?`,
		aid, su.Name, digest[:]).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO suite_states(archive_id, suite, digest, upstream, date, files, indices)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, aid, su.Name, digest[:], su.Upstream[:], su.UpstreamDate.Unix(), files, idx)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// encodeFiles writes index files one per line: "sha256 size path".
func encodeFiles(fs []catalog.IndexFile) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s %d %s\n", f.SHA256, f.Size, f.Path)
	}
	return b.String()
}

func decodeFiles(s string) ([]catalog.IndexFile, error) {
	var out []catalog.IndexFile
	for line := range strings.Lines(s) {
		line = strings.TrimSuffix(line, "\n")
		parts := strings.SplitN(line, " ", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("catalog: corrupt file list line %q", line)
		}
		d, err := blob.ParseDigest(parts[0])
		if err != nil {
			return nil, err
		}
		var size int64
		if _, err := fmt.Sscanf(parts[1], "%d", &size); err != nil {
			return nil, fmt.Errorf("catalog: corrupt file list line %q", line)
		}
		out = append(out, catalog.IndexFile{Path: parts[2], SHA256: d, Size: size})
	}
	return out, nil
}

// PathKey is how the catalog finds a pool path: the first 8 bytes of its
// SHA-256 (pool paths are not stored as text), as catalog/postgres does.
func PathKey(path string) int64 { return codec.PathKey(path) }

// poolResolver assigns pool file IDs within one transaction, loading the
// archive's pool table once when a new index needs it.
type poolResolver struct {
	tx        *sql.Tx
	archiveID int64
	// byKey is the archive's pool files by path key; the rare second file
	// of a key (upstream changed a file in place) is in more.
	byKey map[int64]poolRef
	more  map[int64][]poolRef
	ins   *sql.Stmt
}

type poolRef struct {
	id  int64
	sha blob.Digest
}

func (p *poolResolver) load(ctx context.Context) error {
	if p.byKey != nil {
		return nil
	}
	var n int
	if err := p.tx.QueryRowContext(ctx, `SELECT count(*) FROM pool_files WHERE archive_id = ?`, p.archiveID).Scan(&n); err != nil {
		return err
	}
	p.byKey, p.more = make(map[int64]poolRef, n), map[int64][]poolRef{}
	// In the table's order (NOT INDEXED): through the index on (archive_id,
	// path_key) each row is a second lookup, twice the time.
	rows, err := p.tx.QueryContext(ctx, `SELECT id, path_key, sha256 FROM pool_files NOT INDEXED WHERE archive_id = ?`, p.archiveID)
	if err != nil {
		return err
	}
	defer rows.Close()
	var sha sql.RawBytes
	for rows.Next() {
		var f poolRef
		var key int64
		if err := rows.Scan(&f.id, &key, &sha); err != nil {
			return err
		}
		copy(f.sha[:], sha)
		p.add(key, f)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	p.ins, err = p.tx.PrepareContext(ctx, `INSERT INTO pool_files(archive_id, path_key, sha256, size) VALUES (?, ?, ?, ?)`)
	return err
}

func (p *poolResolver) add(key int64, f poolRef) {
	if _, ok := p.byKey[key]; ok {
		p.more[key] = append(p.more[key], f)
		return
	}
	p.byKey[key] = f
}

// find returns the ID of the archive's pool file at key with content sha.
func (p *poolResolver) find(key int64, sha blob.Digest) (int64, bool) {
	if f, ok := p.byKey[key]; ok && f.sha == sha {
		return f.id, true
	}
	for _, f := range p.more[key] {
		if f.sha == sha {
			return f.id, true
		}
	}
	return 0, false
}

func (p *poolResolver) addIndex(ctx context.Context, d blob.Digest, entries []catalog.PoolEntry) error {
	var n int
	err := p.tx.QueryRowContext(ctx, `SELECT count FROM indices WHERE archive_id = ? AND sha256 = ?`, p.archiveID, d[:]).Scan(&n)
	if err == nil {
		return nil // recorded meanwhile
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if err := p.load(ctx); err != nil {
		return err
	}
	ids := make([]int64, 0, len(entries))
	for _, e := range entries {
		key := PathKey(e.Path)
		if id, ok := p.find(key, e.SHA256); ok {
			ids = append(ids, id)
			continue
		}
		res, err := p.ins.ExecContext(ctx, p.archiveID, key, e.SHA256[:], e.Size)
		if err != nil {
			return fmt.Errorf("pool file %s: %w", e.Path, err)
		}
		id, _ := res.LastInsertId()
		p.add(key, poolRef{id: id, sha: e.SHA256})
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	_, err = p.tx.ExecContext(ctx, `INSERT INTO indices(archive_id, sha256, members, count) VALUES (?, ?, ?, ?)`,
		p.archiveID, d[:], codec.EncodeIDs(ids), len(ids))
	return err
}

func scanSnapshot(sc interface{ Scan(...any) error }, archive string) (catalog.Snapshot, error) {
	var s catalog.Snapshot
	var created, valid int64
	var suites sql.NullString
	if err := sc.Scan(&s.ID, &s.Serial, &created, &valid, &suites); err != nil {
		return s, err
	}
	s.Archive = archive
	s.Created = time.Unix(created, 0).UTC()
	if valid != 0 {
		s.ValidUntil = time.Unix(valid, 0).UTC()
	}
	if suites.String != "" {
		s.Suites = strings.Split(suites.String, ",")
		slices.Sort(s.Suites)
	}
	return s, nil
}

const snapshotCols = `s.id, s.serial, s.created, s.valid_until,
	(SELECT group_concat(suite) FROM snapshot_suites x WHERE x.snapshot_id = s.id)`

// Archives implements Catalog.
func (c *Catalog) Archives(ctx context.Context) ([]string, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT name FROM archives ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("catalog: archives: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// Snapshots implements Catalog.
func (c *Catalog) Snapshots(ctx context.Context, archive string) ([]catalog.Snapshot, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT `+snapshotCols+` FROM snapshots s JOIN archives a ON a.id = s.archive_id
		WHERE a.name = ? AND s.serial NOT LIKE '@%' ORDER BY s.serial`, archive)
	if err != nil {
		return nil, fmt.Errorf("catalog: snapshots of %s: %w", archive, err)
	}
	defer rows.Close()
	var out []catalog.Snapshot
	for rows.Next() {
		s, err := scanSnapshot(rows, archive)
		if err != nil {
			return nil, fmt.Errorf("catalog: snapshots of %s: %w", archive, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (c *Catalog) oneSnapshot(ctx context.Context, archive, what, where string, args ...any) (catalog.Snapshot, error) {
	row := c.r.QueryRowContext(ctx, `SELECT `+snapshotCols+` FROM snapshots s JOIN archives a ON a.id = s.archive_id
		WHERE a.name = ? AND `+where, append([]any{archive}, args...)...)
	s, err := scanSnapshot(row, archive)
	if errors.Is(err, sql.ErrNoRows) {
		return s, errdefs.Errorf(catalog.ErrNotFound, "no snapshot %s of %s", what, archive)
	}
	if err != nil {
		return s, fmt.Errorf("catalog: snapshot %s of %s: %w", what, archive, err)
	}
	return s, nil
}

// Snapshot implements Catalog.
func (c *Catalog) Snapshot(ctx context.Context, archive, serial string) (catalog.Snapshot, error) {
	return c.oneSnapshot(ctx, archive, serial, `s.serial = ?`, serial)
}

// SnapshotAt implements Catalog.
func (c *Catalog) SnapshotAt(ctx context.Context, archive string, t time.Time) (catalog.Snapshot, error) {
	return c.oneSnapshot(ctx, archive, "at "+t.UTC().Format(time.RFC3339),
		`s.created <= ? AND s.serial NOT LIKE '@%' ORDER BY s.created DESC, s.serial DESC LIMIT 1`, t.Unix())
}

// Latest implements Catalog.
func (c *Catalog) Latest(ctx context.Context, archive string) (catalog.Snapshot, error) {
	return c.oneSnapshot(ctx, archive, "latest", `s.serial NOT LIKE '@%' ORDER BY s.serial DESC LIMIT 1`)
}

// Suite implements Catalog.
func (c *Catalog) Suite(ctx context.Context, snapshotID int64, suite string) (catalog.Suite, error) {
	var su catalog.Suite
	var files string
	var upstream, idx []byte
	var date, signed int64
	err := c.r.QueryRowContext(ctx, `SELECT x.state_id, st.date, st.upstream, st.files, st.indices, x.release, x.inrelease, x.release_gpg, x.signed
		FROM snapshot_suites x JOIN suite_states st ON st.id = x.state_id
		WHERE x.snapshot_id = ? AND x.suite = ?`, snapshotID, suite).Scan(
		&su.StateID, &date, &upstream, &files, &idx, &su.Release, &su.InRelease, &su.ReleaseGPG, &signed)
	if errors.Is(err, sql.ErrNoRows) {
		return su, errdefs.Errorf(catalog.ErrNotFound, "no suite %s", suite)
	}
	if err != nil {
		return su, fmt.Errorf("catalog: suite %s: %w", suite, err)
	}
	su.Name = suite
	su.UpstreamDate = time.Unix(date, 0).UTC()
	su.Signed = time.Unix(signed, 0).UTC()
	copy(su.Upstream[:], upstream)
	if su.Files, err = decodeFiles(files); err != nil {
		return su, err
	}
	for i := 0; i+32 <= len(idx); i += 32 {
		var d blob.Digest
		copy(d[:], idx[i:])
		su.Indices = append(su.Indices, d)
	}
	return su, nil
}

// IndexMembers implements Catalog.
func (c *Catalog) IndexMembers(ctx context.Context, archive string, index blob.Digest) ([]int64, error) {
	var members []byte
	err := c.r.QueryRowContext(ctx, `SELECT i.members FROM indices i JOIN archives a ON a.id = i.archive_id
		WHERE a.name = ? AND i.sha256 = ?`, archive, index[:]).Scan(&members)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errdefs.Errorf(catalog.ErrNotFound, "no index %s", index)
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: index %s: %w", index, err)
	}
	ids, err := codec.DecodeIDs(members)
	if err != nil {
		return nil, fmt.Errorf("catalog: index %s: %w", index, err)
	}
	return ids, nil
}

// LookupPool implements Catalog.
func (c *Catalog) LookupPool(ctx context.Context, archive, path string) ([]catalog.PoolFile, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT p.id, p.sha256, p.size FROM pool_files p JOIN archives a ON a.id = p.archive_id
		WHERE a.name = ? AND p.path_key = ?`, archive, PathKey(path))
	if err != nil {
		return nil, fmt.Errorf("catalog: pool %s: %w", path, err)
	}
	defer rows.Close()
	var out []catalog.PoolFile
	for rows.Next() {
		f := catalog.PoolFile{PoolEntry: catalog.PoolEntry{Path: path}}
		var sha []byte
		if err := rows.Scan(&f.ID, &sha, &f.Size); err != nil {
			return nil, err
		}
		copy(f.SHA256[:], sha)
		out = append(out, f)
	}
	return out, rows.Err()
}

// PoolFiles implements Catalog.
func (c *Catalog) PoolFiles(ctx context.Context, ids []int64) ([]catalog.PoolFile, error) {
	if len(ids) >= 1024 && slices.IsSorted(ids) && ids[len(ids)-1]-ids[0] < 4*int64(len(ids)) {
		return c.poolFileRange(ctx, ids)
	}
	out := make([]catalog.PoolFile, 0, len(ids))
	const batch = 500
	for i := 0; i < len(ids); i += batch {
		chunk := ids[i:min(i+batch, len(ids))]
		args := make([]any, len(chunk))
		for j, id := range chunk {
			args[j] = id
		}
		rows, err := c.r.QueryContext(ctx, `SELECT id, sha256, size FROM pool_files WHERE id IN (?`+
			strings.Repeat(",?", len(chunk)-1)+`) ORDER BY id`, args...)
		if err != nil {
			return nil, fmt.Errorf("catalog: pool files: %w", err)
		}
		for rows.Next() {
			var f catalog.PoolFile
			var sha []byte
			if err := rows.Scan(&f.ID, &sha, &f.Size); err != nil {
				rows.Close()
				return nil, err
			}
			copy(f.SHA256[:], sha)
			out = append(out, f)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// poolFileRange is PoolFiles of many sorted IDs close together (an index's
// members): one scan of the rows between the first and the last, the
// others skipped, instead of a lookup each.
func (c *Catalog) poolFileRange(ctx context.Context, ids []int64) ([]catalog.PoolFile, error) {
	out := make([]catalog.PoolFile, 0, len(ids))
	rows, err := c.r.QueryContext(ctx, `SELECT id, sha256, size FROM pool_files WHERE id BETWEEN ? AND ? ORDER BY id`, ids[0], ids[len(ids)-1])
	if err != nil {
		return nil, fmt.Errorf("catalog: pool files: %w", err)
	}
	defer rows.Close()
	var sha sql.RawBytes
	for rows.Next() && len(ids) > 0 {
		var f catalog.PoolFile
		if err := rows.Scan(&f.ID, &sha, &f.Size); err != nil {
			return nil, err
		}
		for len(ids) > 0 && ids[0] < f.ID {
			ids = ids[1:] // no such row
		}
		if len(ids) == 0 || ids[0] != f.ID {
			continue
		}
		ids = ids[1:]
		copy(f.SHA256[:], sha)
		out = append(out, f)
	}
	return out, rows.Err()
}

// RecordPulse implements Catalog.
func (c *Catalog) RecordPulse(ctx context.Context, p catalog.Pulse) error {
	tx, err := c.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("catalog: pulse: %w", err)
	}
	defer tx.Rollback()
	aid, err := archiveID(ctx, tx, p.Archive, true)
	if err != nil {
		return err
	}
	ok := 0
	if p.OK {
		ok = 1
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO pulses(archive_id, started, finished, ok, serial, error) VALUES (?, ?, ?, ?, ?, ?)`,
		aid, p.Started.UnixMilli(), p.Finished.UnixMilli(), ok, p.Serial, p.Error); err != nil {
		return fmt.Errorf("catalog: pulse: %w", err)
	}
	return tx.Commit()
}

// Pulses implements Catalog.
func (c *Catalog) Pulses(ctx context.Context, archive string, n int) ([]catalog.Pulse, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT p.started, p.finished, p.ok, p.serial, p.error FROM pulses p
		JOIN archives a ON a.id = p.archive_id WHERE a.name = ? ORDER BY p.id DESC LIMIT ?`, archive, n)
	if err != nil {
		return nil, fmt.Errorf("catalog: pulses: %w", err)
	}
	defer rows.Close()
	var out []catalog.Pulse
	for rows.Next() {
		p := catalog.Pulse{Archive: archive}
		var s, f int64
		if err := rows.Scan(&s, &f, &p.OK, &p.Serial, &p.Error); err != nil {
			return nil, err
		}
		p.Started, p.Finished = time.UnixMilli(s).UTC(), time.UnixMilli(f).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// Package postgres is the catalog.Catalog on PostgreSQL, for installations
// of several servers sharing one catalog (catalog/sqlite is the embedded
// one, for one machine). It passes the same conformance suite,
// catalog/catalogtest, and answers exactly as the SQLite catalog does.
//
// The schema is in this package (migrations, applied at Open under an
// advisory lock, so that servers starting at once migrate once).
//
// # Writers on several servers
//
// SQLite has one writer at a time; here several servers write at once,
// and each write path takes what it relies on explicitly (READ COMMITTED
// transactions, each statement seeing what committed before it):
//
//   - A write of an archive's snapshots (CreateSnapshot(s), Untrack,
//     Expire) locks the archive's row (SELECT ... FOR UPDATE; several
//     archives in name order, so that two tags across archives never
//     deadlock) before it reads anything. Serial allocation, the
//     "recorded meanwhile" checks of indices and suite states, the
//     untracked suites and the "only snapshot" check of Expire all happen
//     under it: two servers committing snapshots of one archive at once
//     are serialized and never hand out one serial twice (the unique
//     (archive, serial) constraint would refuse it anyway).
//   - Collect takes an advisory lock exclusively that every other writing
//     transaction takes shared: it never sees a snapshot half made (an
//     index found known by a writer, then deleted as unreferenced by the
//     collection before the writer's suite state referencing it commits).
//     Writers do not wait for each other on it, only for a collection's
//     catalog part.
//   - A bump (UpdateReleases) locks its snapshot's row.
//   - Request saves are compare-and-swap updates on the revision: of two
//     at once, the second waits for the first's row lock and then matches
//     no row.
//
// Reads are single statements, or (Usage, a dry Collect) read-only
// REPEATABLE READ transactions, which see one state of the catalog and
// wait for nobody. KV locks expire on the database's clock, the one every
// server reads alike. A transaction failing on a serialization failure or
// a deadlock (which the above should make impossible) is retried.
//
// The DSN's password never appears in an error: errors are scrubbed of it.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/internal/codec"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/internal/pgdsn"
)

// Catalog is the catalog.Catalog on PostgreSQL: a pool of connections to
// one database, shared by any number of processes and servers.
type Catalog struct {
	pool     *pgxpool.Pool
	password string // to scrub from errors
}

var _ catalog.Catalog = (*Catalog)(nil)

// Open connects to the database dsn names (a postgres:// URL or key=value
// string, as libpq's; pool settings such as pool_max_conns too) and
// migrates its schema to the newest version.
func Open(ctx context.Context, dsn string) (*Catalog, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password of what it quotes; scrub it anyway.
		return nil, fmt.Errorf("catalog: postgres: %w", pgdsn.Scrub(err, pgdsn.PasswordOf(dsn)))
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "aptsnap"
	}
	c := &Catalog{password: cfg.ConnConfig.Password}
	if c.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, c.wrap("postgres", err)
	}
	if err := migrate(ctx, c.pool, migrations); err != nil {
		c.pool.Close()
		return nil, c.wrap("migrate", err)
	}
	return c, nil
}

// Close implements Catalog.
func (c *Catalog) Close() error {
	c.pool.Close()
	return nil
}

// wrap prefixes err with what failed, scrubbed of the password.
func (c *Catalog) wrap(what string, err error) error {
	return fmt.Errorf("catalog: %s: %w", what, pgdsn.Scrub(err, c.password))
}

// retryable reports whether a transaction failed only because of another
// one running at once.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// isUnique reports whether err is a unique violation of constraint.
func isUnique(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == constraint
}

// inTx runs f in a transaction and commits it, again when it failed on a
// serialization failure or a deadlock. Its errors are f's, scrubbed.
func (c *Catalog) inTx(ctx context.Context, opts pgx.TxOptions, f func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := c.tryTx(ctx, opts, f)
		if err == nil || !retryable(err) || attempt == 5 || ctx.Err() != nil {
			return pgdsn.Scrub(err, c.password)
		}
		time.Sleep(time.Duration(attempt) * 10 * time.Millisecond)
	}
}

func (c *Catalog) tryTx(ctx context.Context, opts pgx.TxOptions, f func(tx pgx.Tx) error) error {
	tx, err := c.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("catalog: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("catalog: commit: %w", err)
	}
	return nil
}

// write runs f in a writing transaction: one holding the collection lock
// shared, so that no collection runs beside it (see the package doc).
func (c *Catalog) write(ctx context.Context, f func(tx pgx.Tx) error) error {
	return c.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1, $2)`, lockClass, collectKey); err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		if err := f(tx); err != nil {
			return err
		}
		return notify(ctx, tx)
	})
}

// ChangedChannel is the channel every write notifies (with its commit;
// several in one transaction are one): how servers sharing the catalog
// hear of each other's changes (see Watch).
const ChangedChannel = "aptsnap_changed"

func notify(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, ChangedChannel); err != nil {
		return fmt.Errorf("catalog: notify: %w", err)
	}
	return nil
}

// Watch calls changed after every change committed to the catalog, by
// any server, until ctx ends: on a connection of its own, LISTENing on
// ChangedChannel. When the connection fails it connects again, calling
// changed once more (what it missed meanwhile).
func (c *Catalog) Watch(ctx context.Context, changed func()) error {
	cfg := c.pool.Config().ConnConfig.Copy()
	for backoff := time.Second; ctx.Err() == nil; {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			if _, err = conn.Exec(ctx, `LISTEN `+ChangedChannel); err == nil {
				backoff = time.Second
				changed()
				for err == nil {
					if _, err = conn.WaitForNotification(ctx); err == nil {
						changed()
					}
				}
			}
			conn.Close(context.WithoutCancel(ctx))
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
	return ctx.Err()
}

// read runs f in a read-only transaction that sees one state of the
// catalog throughout.
func (c *Catalog) read(ctx context.Context, f func(tx pgx.Tx) error) error {
	return c.inTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, f)
}

// querier is what reads use: the pool, or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// archiveID returns the ID of an archive; with create, it records one
// that does not exist.
func archiveID(ctx context.Context, q querier, name string, create bool) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `SELECT id FROM archives WHERE name = $1`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) && create {
		// Of two transactions recording it at once, the second waits for
		// the first and finds it.
		if _, err := q.Exec(ctx, `INSERT INTO archives(name) VALUES ($1) ON CONFLICT (name) DO NOTHING`, name); err != nil {
			return 0, fmt.Errorf("catalog: archive %q: %w", name, err)
		}
		err = q.QueryRow(ctx, `SELECT id FROM archives WHERE name = $1`, name).Scan(&id)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, errdefs.Errorf(catalog.ErrNotFound, "no archive %q", name)
	}
	if err != nil {
		return 0, fmt.Errorf("catalog: archive %q: %w", name, err)
	}
	return id, nil
}

// lockArchive returns the ID of an archive, its row locked until the
// transaction ends: what serializes the writers of one archive.
func lockArchive(ctx context.Context, tx pgx.Tx, name string, create bool) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM archives WHERE name = $1 FOR UPDATE`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) && create {
		if _, err := archiveID(ctx, tx, name, true); err != nil {
			return 0, err
		}
		err = tx.QueryRow(ctx, `SELECT id FROM archives WHERE name = $1 FOR UPDATE`, name).Scan(&id)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, errdefs.Errorf(catalog.ErrNotFound, "no archive %q", name)
	}
	if err != nil {
		return 0, fmt.Errorf("catalog: archive %q: %w", name, err)
	}
	return id, nil
}

// KnownIndices implements Catalog.
func (c *Catalog) KnownIndices(ctx context.Context, archive string, ds []blob.Digest) (map[blob.Digest]bool, error) {
	known := make(map[blob.Digest]bool, len(ds))
	if len(ds) == 0 {
		return known, nil
	}
	rows, err := c.pool.Query(ctx, `SELECT i.sha256 FROM indices i JOIN archives a ON a.id = i.archive_id
		WHERE a.name = $1 AND i.sha256 = ANY($2)`, archive, byteas(ds))
	if err != nil {
		return nil, c.wrap("indices", err)
	}
	shas, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, c.wrap("indices", err)
	}
	for _, sha := range shas {
		d, err := digest(sha)
		if err != nil {
			return nil, err
		}
		known[d] = true
	}
	return known, nil
}

// LastUpstreamDate implements Catalog.
func (c *Catalog) LastUpstreamDate(ctx context.Context, archive, suite string) (time.Time, error) {
	var d time.Time
	err := c.pool.QueryRow(ctx, `SELECT m.last_date FROM suite_marks m JOIN archives a ON a.id = m.archive_id
		WHERE a.name = $1 AND m.suite = $2`, archive, suite).Scan(&d)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, c.wrap(archive+" "+suite, err)
	}
	return d.UTC(), nil
}

// snapshotCols are what scanSnapshot reads, of snapshots s.
const snapshotCols = `s.id, s.serial, s.created, s.valid_until,
	ARRAY(SELECT x.suite FROM snapshot_suites x WHERE x.snapshot_id = s.id ORDER BY x.suite)`

// scanSnapshot reads snapshotCols, and dest after them.
func scanSnapshot(row pgx.Row, archive string, dest ...any) (catalog.Snapshot, error) {
	s := catalog.Snapshot{Archive: archive}
	var valid *time.Time
	if err := row.Scan(append([]any{&s.ID, &s.Serial, &s.Created, &valid, &s.Suites}, dest...)...); err != nil {
		return s, err
	}
	s.Created = s.Created.UTC()
	if valid != nil {
		s.ValidUntil = valid.UTC()
	}
	if len(s.Suites) == 0 {
		s.Suites = nil
	}
	return s, nil
}

// Archives implements Catalog.
func (c *Catalog) Archives(ctx context.Context) ([]string, error) {
	rows, err := c.pool.Query(ctx, `SELECT name FROM archives ORDER BY name`)
	if err != nil {
		return nil, c.wrap("archives", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, c.wrap("archives", err)
	}
	return out, nil
}

// Snapshots implements Catalog.
func (c *Catalog) Snapshots(ctx context.Context, archive string) ([]catalog.Snapshot, error) {
	rows, err := c.pool.Query(ctx, `SELECT `+snapshotCols+` FROM snapshots s JOIN archives a ON a.id = s.archive_id
		WHERE a.name = $1 AND s.serial NOT LIKE '@%' ORDER BY s.serial`, archive)
	if err != nil {
		return nil, c.wrap("snapshots of "+archive, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (catalog.Snapshot, error) { return scanSnapshot(row, archive) })
	if err != nil {
		return nil, c.wrap("snapshots of "+archive, err)
	}
	return out, nil
}

func (c *Catalog) oneSnapshot(ctx context.Context, q querier, archive, what, where string, args ...any) (catalog.Snapshot, error) {
	row := q.QueryRow(ctx, `SELECT `+snapshotCols+` FROM snapshots s JOIN archives a ON a.id = s.archive_id
		WHERE a.name = $1 AND `+where, append([]any{archive}, args...)...)
	s, err := scanSnapshot(row, archive)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, errdefs.Errorf(catalog.ErrNotFound, "no snapshot %s of %s", what, archive)
	}
	if err != nil {
		return s, c.wrap(fmt.Sprintf("snapshot %s of %s", what, archive), err)
	}
	return s, nil
}

// Snapshot implements Catalog.
func (c *Catalog) Snapshot(ctx context.Context, archive, serial string) (catalog.Snapshot, error) {
	return c.oneSnapshot(ctx, c.pool, archive, serial, `s.serial = $2`, serial)
}

// SnapshotAt implements Catalog.
func (c *Catalog) SnapshotAt(ctx context.Context, archive string, t time.Time) (catalog.Snapshot, error) {
	// Snapshots are stamped in whole seconds: an instant within a second
	// finds what its second does, as in SQLite.
	return c.oneSnapshot(ctx, c.pool, archive, "at "+t.UTC().Format(time.RFC3339),
		`s.created <= $2 AND s.serial NOT LIKE '@%' ORDER BY s.created DESC, s.serial DESC LIMIT 1`, time.Unix(t.Unix(), 0))
}

// Latest implements Catalog.
func (c *Catalog) Latest(ctx context.Context, archive string) (catalog.Snapshot, error) {
	return c.oneSnapshot(ctx, c.pool, archive, "latest", `s.serial NOT LIKE '@%' ORDER BY s.serial DESC LIMIT 1`)
}

// Suite implements Catalog.
func (c *Catalog) Suite(ctx context.Context, snapshotID int64, suite string) (catalog.Suite, error) {
	su := catalog.Suite{Name: suite}
	var upstream []byte
	var indices, shas [][]byte
	var paths []string
	var sizes []int64
	err := c.pool.QueryRow(ctx, `SELECT x.state_id, st.date, st.upstream, st.indices, x.release, x.inrelease, x.release_gpg, x.signed,
			ARRAY(SELECT f.path FROM suite_state_files f WHERE f.state_id = st.id ORDER BY f.pos),
			ARRAY(SELECT f.sha256 FROM suite_state_files f WHERE f.state_id = st.id ORDER BY f.pos),
			ARRAY(SELECT f.size FROM suite_state_files f WHERE f.state_id = st.id ORDER BY f.pos)
		FROM snapshot_suites x JOIN suite_states st ON st.id = x.state_id
		WHERE x.snapshot_id = $1 AND x.suite = $2`, snapshotID, suite).Scan(
		&su.StateID, &su.UpstreamDate, &upstream, &indices, &su.Release, &su.InRelease, &su.ReleaseGPG, &su.Signed,
		&paths, &shas, &sizes)
	if errors.Is(err, pgx.ErrNoRows) {
		return su, errdefs.Errorf(catalog.ErrNotFound, "no suite %s", suite)
	}
	if err != nil {
		return su, c.wrap("suite "+suite, err)
	}
	su.UpstreamDate, su.Signed = su.UpstreamDate.UTC(), su.Signed.UTC()
	if su.Upstream, err = digest(upstream); err != nil {
		return su, err
	}
	if su.Indices, err = digests(indices); err != nil {
		return su, err
	}
	if len(paths) != len(shas) || len(paths) != len(sizes) {
		return su, fmt.Errorf("catalog: suite %s: corrupt file list", suite)
	}
	for i := range paths {
		d, err := digest(shas[i])
		if err != nil {
			return su, err
		}
		su.Files = append(su.Files, catalog.IndexFile{Path: paths[i], SHA256: d, Size: sizes[i]})
	}
	return su, nil
}

// IndexMembers implements Catalog.
func (c *Catalog) IndexMembers(ctx context.Context, archive string, index blob.Digest) ([]int64, error) {
	var members []byte
	err := c.pool.QueryRow(ctx, `SELECT i.members FROM indices i JOIN archives a ON a.id = i.archive_id
		WHERE a.name = $1 AND i.sha256 = $2`, archive, index[:]).Scan(&members)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errdefs.Errorf(catalog.ErrNotFound, "no index %s", index)
	}
	if err != nil {
		return nil, c.wrap("index "+index.String(), err)
	}
	ids, err := codec.DecodeIDs(members)
	if err != nil {
		return nil, fmt.Errorf("catalog: index %s: %w", index, err)
	}
	return ids, nil
}

// scanPoolFile reads id, sha256, size.
func scanPoolFile(row pgx.CollectableRow) (catalog.PoolFile, error) {
	var f catalog.PoolFile
	var sha []byte
	if err := row.Scan(&f.ID, &sha, &f.Size); err != nil {
		return f, err
	}
	var err error
	f.SHA256, err = digest(sha)
	return f, err
}

// LookupPool implements Catalog.
func (c *Catalog) LookupPool(ctx context.Context, archive, path string) ([]catalog.PoolFile, error) {
	rows, err := c.pool.Query(ctx, `SELECT p.id, p.sha256, p.size FROM pool_files p JOIN archives a ON a.id = p.archive_id
		WHERE a.name = $1 AND p.path_key = $2 ORDER BY p.id`, archive, codec.PathKey(path))
	if err != nil {
		return nil, c.wrap("pool "+path, err)
	}
	out, err := pgx.CollectRows(rows, scanPoolFile)
	if err != nil {
		return nil, c.wrap("pool "+path, err)
	}
	for i := range out {
		out[i].Path = path
	}
	return out, nil
}

// PoolFiles implements Catalog.
func (c *Catalog) PoolFiles(ctx context.Context, ids []int64) ([]catalog.PoolFile, error) {
	out := make([]catalog.PoolFile, 0, len(ids))
	const batch = 10000
	for i := 0; i < len(ids); i += batch {
		rows, err := c.pool.Query(ctx, `SELECT id, sha256, size FROM pool_files WHERE id = ANY($1) ORDER BY id`, ids[i:min(i+batch, len(ids))])
		if err != nil {
			return nil, c.wrap("pool files", err)
		}
		files, err := pgx.CollectRows(rows, scanPoolFile)
		if err != nil {
			return nil, c.wrap("pool files", err)
		}
		out = append(out, files...)
	}
	return out, nil
}

// RecordPulse implements Catalog.
func (c *Catalog) RecordPulse(ctx context.Context, p catalog.Pulse) error {
	return c.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		aid, err := archiveID(ctx, tx, p.Archive, true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO pulses(archive_id, started, finished, ok, serial, error) VALUES ($1, $2, $3, $4, $5, $6)`,
			aid, ms(p.Started), ms(p.Finished), p.OK, p.Serial, p.Error); err != nil {
			return fmt.Errorf("catalog: pulse: %w", err)
		}
		return nil
	})
}

// Pulses implements Catalog.
func (c *Catalog) Pulses(ctx context.Context, archive string, n int) ([]catalog.Pulse, error) {
	rows, err := c.pool.Query(ctx, `SELECT p.started, p.finished, p.ok, p.serial, p.error FROM pulses p
		JOIN archives a ON a.id = p.archive_id WHERE a.name = $1 ORDER BY p.id DESC LIMIT $2`, archive, n)
	if err != nil {
		return nil, c.wrap("pulses", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (catalog.Pulse, error) {
		p := catalog.Pulse{Archive: archive}
		err := row.Scan(&p.Started, &p.Finished, &p.OK, &p.Serial, &p.Error)
		p.Started, p.Finished = p.Started.UTC(), p.Finished.UTC()
		return p, err
	})
	if err != nil {
		return nil, c.wrap("pulses", err)
	}
	return out, nil
}

// sec and ms are times as the catalog records them: whole seconds, or
// milliseconds (pulses, requests), as catalog/sqlite does.
func sec(t time.Time) time.Time { return time.Unix(t.Unix(), 0).UTC() }
func ms(t time.Time) time.Time  { return time.UnixMilli(t.UnixMilli()).UTC() }

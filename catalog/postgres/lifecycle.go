package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/internal/codec"
	"github.com/aptsnap/aptsnap/catalog/internal/idset"
	"github.com/aptsnap/aptsnap/errdefs"
)

var _ catalog.Lifecycle = (*Catalog)(nil)

// UpdateReleases implements Lifecycle. The snapshot's row is locked from
// the start: of two bumps at once, the second signs what the first made.
func (c *Catalog) UpdateReleases(ctx context.Context, archive, serial string, validUntil time.Time,
	sign func(suite string, release []byte) (catalog.SignedRelease, error)) (catalog.Snapshot, error) {
	err := c.write(ctx, func(tx pgx.Tx) error {
		var sid int64
		err := tx.QueryRow(ctx, `SELECT s.id FROM snapshots s JOIN archives a ON a.id = s.archive_id
			WHERE a.name = $1 AND s.serial = $2 FOR UPDATE OF s`, archive, serial).Scan(&sid)
		if errors.Is(err, pgx.ErrNoRows) {
			return errdefs.Errorf(catalog.ErrNotFound, "no snapshot %s of %s (collected, or never made)", serial, archive)
		}
		if err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		type suiteRel struct {
			name string
			rel  []byte
		}
		var suites []suiteRel
		rows, err := tx.Query(ctx, `SELECT suite, release FROM snapshot_suites WHERE snapshot_id = $1 ORDER BY suite`, sid)
		if err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		var s suiteRel
		if _, err := pgx.ForEachRow(rows, []any{&s.name, &s.rel}, func() error {
			suites = append(suites, s)
			return nil
		}); err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		now := sec(time.Now())
		for _, s := range suites {
			sr, err := sign(s.name, s.rel)
			if err != nil {
				return fmt.Errorf("catalog: %s: %w", s.name, err)
			}
			if _, err := tx.Exec(ctx, `UPDATE snapshot_suites SET release = $1, inrelease = $2, release_gpg = $3, signed = $4
				WHERE snapshot_id = $5 AND suite = $6`, nonNil(sr.Release), nonNil(sr.InRelease), nonNil(sr.ReleaseGPG), now, sid, s.name); err != nil {
				return fmt.Errorf("catalog: %s: %w", s.name, err)
			}
		}
		var v *time.Time
		if !validUntil.IsZero() {
			t := sec(validUntil)
			v = &t
		}
		if _, err := tx.Exec(ctx, `UPDATE snapshots SET valid_until = $1 WHERE id = $2`, v, sid); err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		return nil
	})
	if err != nil {
		return catalog.Snapshot{}, err
	}
	return c.Snapshot(ctx, archive, serial)
}

// Collect implements Lifecycle. A collection holds the collection lock
// exclusively: no writer is half way through a transaction while it
// decides what is unreferenced (see the package doc). A dry run only
// reads, in one snapshot of the database, and waits for nobody.
func (c *Catalog) Collect(ctx context.Context, now time.Time, dry bool) (catalog.Collection, error) {
	var col catalog.Collection
	f := func(tx pgx.Tx) error {
		col = catalog.Collection{}
		if !dry {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, lockClass, collectKey); err != nil {
				return fmt.Errorf("catalog: collect: %w", err)
			}
			if err := notify(ctx, tx); err != nil {
				return err
			}
		}
		// Expired, but not an archive's newest time-based snapshot.
		rows, err := tx.Query(ctx, `SELECT `+snapshotCols+`, a.name FROM snapshots s JOIN archives a ON a.id = s.archive_id
			WHERE s.valid_until <= $1 AND s.serial NOT LIKE '@%'
			AND s.serial < (SELECT max(n.serial) FROM snapshots n WHERE n.archive_id = s.archive_id AND n.serial NOT LIKE '@%')
			ORDER BY a.name, s.serial`, now)
		if err != nil {
			return fmt.Errorf("catalog: expired: %w", err)
		}
		col.Snapshots, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (catalog.Snapshot, error) {
			var name string
			s, err := scanSnapshot(row, "", &name)
			s.Archive = name
			return s, err
		})
		if err != nil {
			return fmt.Errorf("catalog: expired: %w", err)
		}
		expired := make([]int64, 0, len(col.Snapshots))
		for _, s := range col.Snapshots {
			expired = append(expired, s.ID)
		}
		if !dry && len(expired) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM snapshots WHERE id = ANY($1)`, expired); err != nil {
				return fmt.Errorf("catalog: delete expired snapshots: %w", err)
			}
		}
		col.Live, err = collectUnreferenced(ctx, tx, dry, expired)
		return err
	}
	var err error
	if dry {
		err = c.read(ctx, f)
	} else {
		err = c.inTx(ctx, pgx.TxOptions{}, f)
	}
	if err != nil {
		return catalog.Collection{}, err
	}
	return col, nil
}

// archiveIndex names an index record: an index of one archive.
type archiveIndex struct {
	archive int64
	sha     blob.Digest
}

// collectUnreferenced deletes suite states no snapshot uses, indices no
// suite state uses and pool file records no index lists, and returns the
// digests of every stored file still referenced. Dry, it deletes nothing
// and counts the snapshots expired as gone.
func collectUnreferenced(ctx context.Context, tx pgx.Tx, dry bool, expired []int64) (blob.Set, error) {
	var none blob.Set
	var live blob.SetBuilder
	add := func(b []byte) error {
		d, err := digest(b)
		live.Add(d)
		return err
	}
	// Files requests hold.
	rows, err := tx.Query(ctx, `SELECT DISTINCT unnest(files) FROM requests`)
	if err != nil {
		return none, fmt.Errorf("catalog: collect requests: %w", err)
	}
	var sha []byte
	if _, err := pgx.ForEachRow(rows, []any{&sha}, func() error { return add(sha) }); err != nil {
		return none, fmt.Errorf("catalog: collect requests: %w", err)
	}

	// Suite states, their upstream Release, index files and indices.
	liveStates := `SELECT id, archive_id, upstream, indices FROM suite_states st`
	var args []any
	if dry {
		liveStates += ` WHERE EXISTS (SELECT 1 FROM snapshot_suites x WHERE x.state_id = st.id AND NOT x.snapshot_id = ANY($1))`
		args = append(args, expired)
	} else if _, err := tx.Exec(ctx, `DELETE FROM suite_states st WHERE NOT EXISTS (SELECT 1 FROM snapshot_suites x WHERE x.state_id = st.id)`); err != nil {
		return none, fmt.Errorf("catalog: collect suite states: %w", err)
	}
	liveIdx := map[archiveIndex]bool{}
	var stateIDs []int64
	rows, err = tx.Query(ctx, liveStates, args...)
	if err != nil {
		return none, fmt.Errorf("catalog: collect: %w", err)
	}
	var id, aid int64
	var up []byte
	var idx [][]byte
	if _, err := pgx.ForEachRow(rows, []any{&id, &aid, &up, &idx}, func() error {
		stateIDs = append(stateIDs, id)
		if err := add(up); err != nil {
			return err
		}
		ds, err := digests(idx)
		for _, d := range ds {
			liveIdx[archiveIndex{aid, d}] = true
		}
		return err
	}); err != nil {
		return none, fmt.Errorf("catalog: collect: %w", err)
	}
	rows, err = tx.Query(ctx, `SELECT DISTINCT sha256 FROM suite_state_files WHERE state_id = ANY($1)`, stateIDs)
	if err != nil {
		return none, fmt.Errorf("catalog: collect: %w", err)
	}
	if _, err := pgx.ForEachRow(rows, []any{&sha}, func() error { return add(sha) }); err != nil {
		return none, fmt.Errorf("catalog: collect: %w", err)
	}

	// Indices: keep the live ones, remember their members.
	var deadArchives []int64
	var deadShas [][]byte
	var liveIDs idset.Set
	rows, err = tx.Query(ctx, `SELECT archive_id, sha256, members FROM indices`)
	if err != nil {
		return none, fmt.Errorf("catalog: collect indices: %w", err)
	}
	var members []byte
	if _, err := pgx.ForEachRow(rows, []any{&aid, &sha, &members}, func() error {
		d, err := digest(sha)
		if err != nil {
			return err
		}
		if !liveIdx[archiveIndex{aid, d}] {
			deadArchives, deadShas = append(deadArchives, aid), append(deadShas, d[:])
			return nil
		}
		ids, err := codec.DecodeIDs(members)
		if err != nil {
			return fmt.Errorf("index %s: %w", d, err)
		}
		for _, id := range ids {
			liveIDs.Add(id)
		}
		return nil
	}); err != nil {
		return none, fmt.Errorf("catalog: collect indices: %w", err)
	}
	if !dry && len(deadShas) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM indices i USING unnest($1::bigint[], $2::bytea[]) AS d(archive_id, sha256)
			WHERE i.archive_id = d.archive_id AND i.sha256 = d.sha256`, deadArchives, deadShas); err != nil {
			return none, fmt.Errorf("catalog: collect indices: %w", err)
		}
	}

	// Pool file records: keep those a live index lists (room for them
	// all, so that the list does not grow by copies: the live pool files
	// are most of it).
	live.Grow(liveIDs.Len())
	var deadIDs []int64
	rows, err = tx.Query(ctx, `SELECT id, sha256 FROM pool_files`)
	if err != nil {
		return none, fmt.Errorf("catalog: collect pool: %w", err)
	}
	if _, err := pgx.ForEachRow(rows, []any{&id, &sha}, func() error {
		if liveIDs.Has(id) {
			return add(sha)
		}
		deadIDs = append(deadIDs, id)
		return nil
	}); err != nil {
		return none, fmt.Errorf("catalog: collect pool: %w", err)
	}
	set := live.Set()
	if dry {
		return set, nil
	}
	const batch = 50000
	for i := 0; i < len(deadIDs); i += batch {
		if _, err := tx.Exec(ctx, `DELETE FROM pool_files WHERE id = ANY($1)`, deadIDs[i:min(i+batch, len(deadIDs))]); err != nil {
			return none, fmt.Errorf("catalog: collect pool files: %w", err)
		}
	}
	return set, nil
}

// Untrack implements Lifecycle, holding the archive's row lock: a
// snapshot being made at once either leaves the suites out or is changed.
func (c *Catalog) Untrack(ctx context.Context, archive string, suites ...string) (int, error) {
	var n int
	err := c.write(ctx, func(tx pgx.Tx) error {
		aid, err := lockArchive(ctx, tx, archive, true)
		if err != nil {
			return err
		}
		// Tagged snapshots are immutable: they keep the suite.
		rows, err := tx.Query(ctx, `DELETE FROM snapshot_suites WHERE suite = ANY($1) AND snapshot_id IN
			(SELECT id FROM snapshots WHERE archive_id = $2 AND serial NOT LIKE '@%') RETURNING snapshot_id`, suites, aid)
		if err != nil {
			return fmt.Errorf("catalog: untrack: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("catalog: untrack: %w", err)
		}
		changed := map[int64]bool{}
		for _, id := range ids {
			changed[id] = true
		}
		n = len(changed)
		if _, err := tx.Exec(ctx, `INSERT INTO untracked(archive_id, suite) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`, aid, suites); err != nil {
			return fmt.Errorf("catalog: untrack: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM suite_marks WHERE archive_id = $1 AND suite = ANY($2)`, aid, suites); err != nil {
			return fmt.Errorf("catalog: untrack: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Untracked implements Lifecycle.
func (c *Catalog) Untracked(ctx context.Context, archive string) ([]string, error) {
	rows, err := c.pool.Query(ctx, `SELECT u.suite FROM untracked u JOIN archives a ON a.id = u.archive_id WHERE a.name = $1 ORDER BY u.suite`, archive)
	if err != nil {
		return nil, c.wrap("untracked", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, c.wrap("untracked", err)
	}
	return out, nil
}

// Track implements Lifecycle.
func (c *Catalog) Track(ctx context.Context, archive, suite string) error {
	_, err := c.pool.Exec(ctx, `DELETE FROM untracked WHERE suite = $1 AND archive_id = (SELECT id FROM archives WHERE name = $2)`, suite, archive)
	if err != nil {
		return c.wrap("track", err)
	}
	return nil
}

// Expire implements Lifecycle, holding the archive's row lock: two
// withdrawals at once never leave an archive without a snapshot, and the
// serial withdrawn is recorded before another can be allocated.
func (c *Catalog) Expire(ctx context.Context, archive, serial string) (catalog.Snapshot, error) {
	var snap catalog.Snapshot
	err := c.write(ctx, func(tx pgx.Tx) error {
		aid, err := lockArchive(ctx, tx, archive, false)
		if errors.Is(err, catalog.ErrNotFound) {
			return errdefs.Errorf(catalog.ErrNotFound, "no snapshot %s of %s", serial, archive)
		}
		if err != nil {
			return err
		}
		if snap, err = c.oneSnapshot(ctx, tx, archive, serial, `s.serial = $2`, serial); err != nil {
			return err
		}
		if strings.HasPrefix(snap.Serial, "@") {
			return errdefs.Errorf(errdefs.ErrInvalid, "%s/%s is a tagged snapshot: delete its tag instead", archive, serial)
		}
		var others int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM snapshots WHERE archive_id = $1 AND serial NOT LIKE '@%' AND id <> $2`,
			aid, snap.ID).Scan(&others); err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		if others == 0 {
			return errdefs.Errorf(errdefs.ErrInvalid, "%s/%s is the only snapshot of %s: withdrawn, the archive would serve nothing (pulse first, then withdraw it)", archive, serial, archive)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM snapshots WHERE id = $1`, snap.ID); err != nil {
			return fmt.Errorf("catalog: expire %s/%s: %w", archive, serial, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO withdrawn(archive_id, serial, withdrawn) VALUES ($1, $2, $3)`, aid, serial, sec(time.Now())); err != nil {
			return fmt.Errorf("catalog: expire %s/%s: %w", archive, serial, err)
		}
		return nil
	})
	return snap, err
}

// Tags implements Lifecycle.
func (c *Catalog) Tags(ctx context.Context) ([]catalog.Snapshot, error) {
	rows, err := c.pool.Query(ctx, `SELECT `+snapshotCols+`, a.name FROM snapshots s JOIN archives a ON a.id = s.archive_id
		WHERE s.serial LIKE '@%' AND s.serial <> $1 ORDER BY s.serial, a.name`, catalog.TagSerial(catalog.WorkingTag))
	if err != nil {
		return nil, c.wrap("tags", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (catalog.Snapshot, error) {
		var name string
		s, err := scanSnapshot(row, "", &name)
		s.Archive = name
		return s, err
	})
	if err != nil {
		return nil, c.wrap("tags", err)
	}
	return out, nil
}

// DeleteTag implements Lifecycle.
func (c *Catalog) DeleteTag(ctx context.Context, tag string) (int, error) {
	if tag == catalog.WorkingTag { // not a tag: the custom archives' contents
		return 0, errdefs.Errorf(catalog.ErrNotFound, "no tag %s", tag)
	}
	var n int64
	err := c.write(ctx, func(tx pgx.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM snapshots WHERE serial = $1`, catalog.TagSerial(tag))
		if err != nil {
			return fmt.Errorf("catalog: delete tag %s: %w", tag, err)
		}
		if n = res.RowsAffected(); n == 0 {
			return errdefs.Errorf(catalog.ErrNotFound, "no tag %s", tag)
		}
		return nil
	})
	return int(n), err
}

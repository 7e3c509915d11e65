package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/internal/usage"
)

// Usage implements Catalog, as catalog/sqlite does: it reads the
// archive's records once, in one read-only transaction, and walks its
// snapshots (see catalog/internal/usage).
func (c *Catalog) Usage(ctx context.Context, archive string) ([]catalog.Usage, error) {
	var out []catalog.Usage
	err := c.read(ctx, func(tx pgx.Tx) error {
		aid, err := archiveID(ctx, tx, archive, false)
		if errors.Is(err, catalog.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		u, err := loadUsage(ctx, tx, aid)
		if err != nil {
			return fmt.Errorf("catalog: usage of %s: %w", archive, err)
		}
		out = u.Walk()
		return nil
	})
	return out, err
}

// loadUsage reads what Usage walks of an archive.
func loadUsage(ctx context.Context, tx pgx.Tx, aid int64) (*usage.Data, error) {
	u := usage.New()
	rows, err := tx.Query(ctx, `SELECT s.id, s.serial, s.created,
		(SELECT max(x.signed) FROM snapshot_suites x WHERE x.snapshot_id = s.id)
		FROM snapshots s WHERE s.archive_id = $1 AND s.serial NOT LIKE '@%' ORDER BY s.serial`, aid)
	if err != nil {
		return nil, err
	}
	var id int64
	var serial string
	var created time.Time
	var signed *time.Time
	if _, err := pgx.ForEachRow(rows, []any{&id, &serial, &created, &signed}, func() error {
		var bumped time.Time
		if signed != nil && !signed.Equal(created) {
			bumped = signed.UTC()
		}
		u.Snapshot(id, serial, bumped)
		return nil
	}); err != nil {
		return nil, err
	}
	if u.Empty() {
		return u, nil
	}

	// The suite states the snapshots use.
	rows, err = tx.Query(ctx, `SELECT x.snapshot_id, x.state_id FROM snapshot_suites x
		JOIN snapshots s ON s.id = x.snapshot_id WHERE s.archive_id = $1 AND s.serial NOT LIKE '@%'`, aid)
	if err != nil {
		return nil, err
	}
	var state int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &state}, func() error {
		u.Uses(id, state)
		return nil
	}); err != nil {
		return nil, err
	}

	rows, err = tx.Query(ctx, `SELECT st.id, st.indices,
			ARRAY(SELECT f.sha256 FROM suite_state_files f WHERE f.state_id = st.id ORDER BY f.pos),
			ARRAY(SELECT f.size FROM suite_state_files f WHERE f.state_id = st.id ORDER BY f.pos)
		FROM suite_states st WHERE st.archive_id = $1 AND st.id = ANY($2)`, aid, u.States())
	if err != nil {
		return nil, err
	}
	var idx, shas [][]byte
	var sizes []int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &idx, &shas, &sizes}, func() error {
		if len(shas) != len(sizes) {
			return fmt.Errorf("suite state %d: corrupt file list", id)
		}
		files := make([]catalog.IndexFile, len(shas))
		for i, sha := range shas {
			d, err := digest(sha)
			if err != nil {
				return err
			}
			files[i] = catalog.IndexFile{SHA256: d, Size: sizes[i]}
		}
		ds, err := digests(idx)
		if err != nil {
			return err
		}
		u.State(id, files, ds)
		return nil
	}); err != nil {
		return nil, err
	}

	// Pool files by ID, then the members of the indices in use.
	rows, err = tx.Query(ctx, `SELECT id, size FROM pool_files WHERE archive_id = $1`, aid)
	if err != nil {
		return nil, err
	}
	var size int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &size}, func() error {
		u.PoolFile(id, size)
		return nil
	}); err != nil {
		return nil, err
	}
	rows, err = tx.Query(ctx, `SELECT sha256, members FROM indices WHERE archive_id = $1 AND sha256 = ANY($2)`, aid, byteas(u.Needed()))
	if err != nil {
		return nil, err
	}
	var sha, members []byte
	_, err = pgx.ForEachRow(rows, []any{&sha, &members}, func() error { return u.Index(sha, members) })
	return u, err
}

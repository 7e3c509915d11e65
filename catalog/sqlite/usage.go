package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/internal/usage"
)

// Usage implements Catalog. It reads the archive's records once, in one
// read transaction, and walks its snapshots (see catalog/internal/usage).
func (c *Catalog) Usage(ctx context.Context, archive string) ([]catalog.Usage, error) {
	tx, err := c.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("catalog: usage: %w", err)
	}
	defer tx.Rollback()
	aid, err := archiveID(ctx, tx, archive, false)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := loadUsage(ctx, tx, aid)
	if err != nil {
		return nil, fmt.Errorf("catalog: usage of %s: %w", archive, err)
	}
	return u.Walk(), nil
}

// loadUsage reads what Usage walks of an archive.
func loadUsage(ctx context.Context, tx *sql.Tx, aid int64) (*usage.Data, error) {
	u := usage.New()
	rows, err := tx.QueryContext(ctx, `SELECT s.id, s.serial, s.created,
		(SELECT max(x.signed) FROM snapshot_suites x WHERE x.snapshot_id = s.id)
		FROM snapshots s WHERE s.archive_id = ? AND s.serial NOT LIKE '@%' ORDER BY s.serial`, aid)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id, created int64
		var serial string
		var signed sql.NullInt64
		if err := rows.Scan(&id, &serial, &created, &signed); err != nil {
			rows.Close()
			return nil, err
		}
		var bumped time.Time
		if signed.Valid && signed.Int64 != created {
			bumped = time.Unix(signed.Int64, 0).UTC()
		}
		u.Snapshot(id, serial, bumped)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if u.Empty() {
		return u, nil
	}

	// The suite states the snapshots use.
	rows, err = tx.QueryContext(ctx, `SELECT x.snapshot_id, x.state_id FROM snapshot_suites x
		JOIN snapshots s ON s.id = x.snapshot_id WHERE s.archive_id = ? AND s.serial NOT LIKE '@%'`, aid)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var sid, state int64
		if err := rows.Scan(&sid, &state); err != nil {
			rows.Close()
			return nil, err
		}
		u.Uses(sid, state)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = tx.QueryContext(ctx, `SELECT id, files, indices FROM suite_states WHERE archive_id = ?`, aid)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id int64
		var files string
		var idx []byte
		if err := rows.Scan(&id, &files, &idx); err != nil {
			rows.Close()
			return nil, err
		}
		if !u.InUse(id) {
			continue
		}
		fs, err := decodeFiles(files)
		if err != nil {
			rows.Close()
			return nil, err
		}
		ds := make([]blob.Digest, 0, len(idx)/32)
		for i := 0; i+32 <= len(idx); i += 32 {
			ds = append(ds, blob.Digest(idx[i:i+32]))
		}
		u.State(id, fs, ds)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// Pool files by ID (a table scan: the archive's rows are most of
	// them, and reading them by the path index costs a seek each), then
	// the members of the indices in use.
	rows, err = tx.QueryContext(ctx, `SELECT id, size FROM pool_files NOT INDEXED WHERE archive_id = ?`, aid)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id, size int64
		if err := rows.Scan(&id, &size); err != nil {
			rows.Close()
			return nil, err
		}
		u.PoolFile(id, size)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = tx.QueryContext(ctx, `SELECT sha256, members FROM indices WHERE archive_id = ?`, aid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var sha, members []byte
		if err := rows.Scan(&sha, &members); err != nil {
			return nil, err
		}
		if err := u.Index(sha, members); err != nil {
			return nil, err
		}
	}
	return u, rows.Err()
}

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/aptsnap/aptsnap/blob"
)

// indicesPerArchive keys indices by archive and index digest. Each index
// recorded so far goes to the archive its members belong to; every other
// archive whose suites list the same index gets its own record, listing
// copies of those pool file records in that archive (same path key,
// content and size): its snapshots' pool files then resolve, as they did
// not before.
func indicesPerArchive(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `CREATE TABLE indices_new (
		archive_id INTEGER NOT NULL REFERENCES archives(id),
		sha256     BLOB NOT NULL,
		members    BLOB NOT NULL,
		count      INTEGER NOT NULL,
		PRIMARY KEY (archive_id, sha256)
	) WITHOUT ROWID`); err != nil {
		return err
	}
	// Which archives' suites list which index.
	users := map[blob.Digest][]int64{}
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT archive_id, indices FROM suite_states`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var aid int64
		var idx []byte
		if err := rows.Scan(&aid, &idx); err != nil {
			rows.Close()
			return err
		}
		for i := 0; i+32 <= len(idx); i += 32 {
			d := blob.Digest(idx[i : i+32])
			if !slices.Contains(users[d], aid) {
				users[d] = append(users[d], aid)
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	type record struct {
		sha     blob.Digest
		members []byte
		count   int
	}
	var all []record
	rows, err = tx.QueryContext(ctx, `SELECT sha256, members, count FROM indices`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var r record
		var sha []byte
		if err := rows.Scan(&sha, &r.members, &r.count); err != nil {
			rows.Close()
			return err
		}
		r.sha = blob.Digest(sha)
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range all {
		ids, err := decodeIDs(r.members)
		if err != nil {
			return fmt.Errorf("index %s: %w", r.sha, err)
		}
		owner := int64(-1)
		if len(ids) > 0 {
			if err := tx.QueryRowContext(ctx, `SELECT archive_id FROM pool_files WHERE id = ?`, ids[0]).Scan(&owner); err != nil {
				return fmt.Errorf("index %s: owner: %w", r.sha, err)
			}
		} else if len(users[r.sha]) > 0 {
			owner = users[r.sha][0]
		}
		if owner >= 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO indices_new(archive_id, sha256, members, count) VALUES (?, ?, ?, ?)`,
				owner, r.sha[:], r.members, r.count); err != nil {
				return err
			}
		}
		for _, aid := range users[r.sha] {
			if aid == owner {
				continue
			}
			copied, err := copyMembers(ctx, tx, ids, aid)
			if err != nil {
				return fmt.Errorf("index %s: %w", r.sha, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO indices_new(archive_id, sha256, members, count) VALUES (?, ?, ?, ?)`,
				aid, r.sha[:], encodeIDs(copied), len(copied)); err != nil {
				return err
			}
		}
	}
	_, err = tx.ExecContext(ctx, `DROP TABLE indices; ALTER TABLE indices_new RENAME TO indices`)
	return err
}

// copyMembers finds or makes, in archive aid, the pool file records of
// ids (of another archive) and returns their IDs, sorted.
func copyMembers(ctx context.Context, tx *sql.Tx, ids []int64, aid int64) ([]int64, error) {
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		var key, size int64
		var sha []byte
		if err := tx.QueryRowContext(ctx, `SELECT path_key, sha256, size FROM pool_files WHERE id = ?`, id).Scan(&key, &sha, &size); err != nil {
			return nil, fmt.Errorf("pool file %d: %w", id, err)
		}
		var mine int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM pool_files WHERE archive_id = ? AND path_key = ? AND sha256 = ?`, aid, key, sha).Scan(&mine)
		if err == sql.ErrNoRows {
			res, err := tx.ExecContext(ctx, `INSERT INTO pool_files(archive_id, path_key, sha256, size) VALUES (?, ?, ?, ?)`, aid, key, sha, size)
			if err != nil {
				return nil, err
			}
			mine, _ = res.LastInsertId()
		} else if err != nil {
			return nil, err
		}
		out = append(out, mine)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog/internal/codec"
)

// indicesPerArchive keys indices by archive and index digest. Each index
// recorded so far goes to the archive its members belong to; every other
// archive whose suites list the same index gets its own record, listing
// copies of those pool file records in that archive (same path key,
// content and size): its snapshots' pool files then resolve, as they did
// not before.
func indicesPerArchive(ctx context.Context, tx migrationTx) error {
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
	copiers := map[int64]*poolCopier{} // by archive, across indices
	for _, r := range all {
		ids, err := codec.DecodeIDs(r.members)
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
			if copiers[aid] == nil {
				if copiers[aid], err = newPoolCopier(ctx, tx, aid); err != nil {
					return err
				}
			}
			copied, err := copiers[aid].copyMembers(ctx, tx, ids)
			if err != nil {
				return fmt.Errorf("index %s: %w", r.sha, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO indices_new(archive_id, sha256, members, count) VALUES (?, ?, ?, ?)`,
				aid, r.sha[:], codec.EncodeIDs(copied), len(copied)); err != nil {
				return err
			}
		}
	}
	_, err = tx.ExecContext(ctx, `DROP TABLE indices; ALTER TABLE indices_new RENAME TO indices`)
	return err
}

// poolCopier copies pool file records of other archives into one archive
// for the migration. It loads the archive's records once and remembers
// each record it resolved, so that the indices an archive shares cost
// about one statement per distinct pool file, not one per member of each.
type poolCopier struct {
	archiveID int64
	byKey     map[int64][]poolRecord // the archive's records by path key, oldest first
	copied    map[int64]int64        // another archive's pool file ID -> this archive's
}

// poolRecord is a pool_files row as the migration copies it.
type poolRecord struct {
	id, key, size int64
	sha           []byte
}

// copyBatchSize bounds the IDs one query looks up.
const copyBatchSize = 500

// newPoolCopier returns the copier into archive aid, its records loaded.
func newPoolCopier(ctx context.Context, tx migrationTx, aid int64) (*poolCopier, error) {
	p := &poolCopier{archiveID: aid, byKey: map[int64][]poolRecord{}, copied: map[int64]int64{}}
	rows, err := tx.QueryContext(ctx, `SELECT id, path_key, sha256, size FROM pool_files WHERE archive_id = ? ORDER BY id`, aid)
	if err != nil {
		return nil, fmt.Errorf("pool files of archive %d: %w", aid, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r poolRecord
		if err := rows.Scan(&r.id, &r.key, &r.sha, &r.size); err != nil {
			return nil, fmt.Errorf("pool files of archive %d: %w", aid, err)
		}
		p.byKey[r.key] = append(p.byKey[r.key], r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pool files of archive %d: %w", aid, err)
	}
	return p, nil
}

// copyMembers finds or makes, in the copier's archive, the pool file
// records of ids (of another archive) and returns their IDs, sorted.
func (p *poolCopier) copyMembers(ctx context.Context, tx migrationTx, ids []int64) ([]int64, error) {
	var todo []int64
	for _, id := range ids {
		if _, ok := p.copied[id]; !ok {
			todo = append(todo, id)
		}
	}
	for i := 0; i < len(todo); i += copyBatchSize {
		if err := p.copyBatch(ctx, tx, todo[i:min(i+copyBatchSize, len(todo))]); err != nil {
			return nil, err
		}
	}
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		out = append(out, p.copied[id])
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// copyBatch resolves ids, at most copyBatchSize of them, none resolved yet.
func (p *poolCopier) copyBatch(ctx context.Context, tx migrationTx, ids []int64) error {
	src, err := poolRecords(ctx, tx, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		r, ok := src[id]
		if !ok {
			return fmt.Errorf("pool file %d: %w", id, sql.ErrNoRows)
		}
		mine, err := p.resolve(ctx, tx, r)
		if err != nil {
			return fmt.Errorf("pool file %d: %w", id, err)
		}
		p.copied[id] = mine
	}
	return nil
}

// resolve returns the ID of the archive's record of r's path key and
// content, made if it has none.
func (p *poolCopier) resolve(ctx context.Context, tx migrationTx, r poolRecord) (int64, error) {
	for _, f := range p.byKey[r.key] {
		if bytes.Equal(f.sha, r.sha) {
			return f.id, nil
		}
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO pool_files(archive_id, path_key, sha256, size) VALUES (?, ?, ?, ?)`,
		p.archiveID, r.key, r.sha, r.size)
	if err != nil {
		return 0, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	p.byKey[r.key] = append(p.byKey[r.key], poolRecord{id: id, key: r.key, size: r.size, sha: r.sha})
	return id, nil
}

// poolRecords reads the pool file records of ids, by ID.
func poolRecords(ctx context.Context, tx migrationTx, ids []int64) (map[int64]poolRecord, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, path_key, sha256, size FROM pool_files WHERE id IN (?`+
		strings.Repeat(",?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("pool files: %w", err)
	}
	defer rows.Close()
	out := make(map[int64]poolRecord, len(ids))
	for rows.Next() {
		var r poolRecord
		if err := rows.Scan(&r.id, &r.key, &r.sha, &r.size); err != nil {
			return nil, fmt.Errorf("pool files: %w", err)
		}
		out[r.id] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pool files: %w", err)
	}
	return out, nil
}

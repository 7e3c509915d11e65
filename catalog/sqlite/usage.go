package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
)

// Usage implements Catalog. It reads the archive's records once, in one
// read transaction, and walks its snapshots oldest first keeping a count
// per stored file of the sources (index file lists, indices) that
// reference it: moving from a snapshot to the next costs the members of
// the indices that changed between them, not of all its indices.
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
	return u.walk(), nil
}

// usageSnap is a time-based snapshot as Usage walks it.
type usageSnap struct {
	id      int64
	out     catalog.Usage
	sources []string // a source per suite state's file list and per index, with repeats
}

// usageData is what Usage reads of an archive.
type usageData struct {
	snaps []*usageSnap
	// sources are the lists of stored files (as unit numbers) that a
	// snapshot references through a suite state: "f<state id>" its
	// index files, "i<digest>" the members of an index.
	sources map[string][]int32
	sizes   []int64 // by unit: a stored file
}

func loadUsage(ctx context.Context, tx *sql.Tx, aid int64) (*usageData, error) {
	u := &usageData{sources: map[string][]int32{}}
	byID := map[int64]*usageSnap{}
	rows, err := tx.QueryContext(ctx, `SELECT s.id, s.serial, s.created,
		(SELECT max(x.signed) FROM snapshot_suites x WHERE x.snapshot_id = s.id)
		FROM snapshots s WHERE s.archive_id = ? AND s.serial NOT LIKE '@%' ORDER BY s.serial`, aid)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var s usageSnap
		var created int64
		var signed sql.NullInt64
		if err := rows.Scan(&s.id, &s.out.Serial, &created, &signed); err != nil {
			rows.Close()
			return nil, err
		}
		if signed.Valid && signed.Int64 != created {
			s.out.Bumped = time.Unix(signed.Int64, 0).UTC()
		}
		u.snaps = append(u.snaps, &s)
		byID[s.id] = &s
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(u.snaps) == 0 {
		return u, nil
	}

	// The suite states the snapshots use.
	states := map[int64][]*usageSnap{}
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
		if s := byID[sid]; s != nil {
			states[state] = append(states[state], s)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// Units: each index file content once.
	units := map[blob.Digest]int32{}
	unit := func(d blob.Digest, size int64) int32 {
		n, ok := units[d]
		if !ok {
			n = int32(len(u.sizes))
			units[d] = n
			u.sizes = append(u.sizes, size)
		}
		return n
	}
	needIdx := map[blob.Digest]bool{}
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
		users := states[id]
		if len(users) == 0 {
			continue
		}
		fs, err := decodeFiles(files)
		if err != nil {
			rows.Close()
			return nil, err
		}
		key := fmt.Sprintf("f%d", id)
		list := make([]int32, 0, len(fs))
		for _, f := range fs {
			list = append(list, unit(f.SHA256, f.Size))
		}
		u.sources[key] = list
		keys := []string{key}
		for i := 0; i+32 <= len(idx); i += 32 {
			d := blob.Digest(idx[i : i+32])
			needIdx[d] = true
			keys = append(keys, "i"+string(d[:]))
		}
		for _, s := range users {
			s.sources = append(s.sources, keys...)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// Pool files by ID (a table scan: the archive's rows are most of
	// them, and reading them by the path index costs a seek each), then
	// the members of the indices in use. A pool file record is a unit of
	// its own: an archive holds one content at two paths rarely enough.
	pool := map[int64]int32{}
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
		pool[id] = int32(len(u.sizes))
		u.sizes = append(u.sizes, size)
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
		if !needIdx[blob.Digest(sha)] {
			continue
		}
		ids, err := decodeIDs(members)
		if err != nil {
			return nil, fmt.Errorf("index %x: %w", sha, err)
		}
		list := make([]int32, 0, len(ids))
		for _, id := range ids {
			if n, ok := pool[id]; ok {
				list = append(list, n)
			}
		}
		u.sources["i"+string(sha)] = list
	}
	return u, rows.Err()
}

// walk computes each snapshot's usage, oldest first.
func (u *usageData) walk() []catalog.Usage {
	refs := make([]int32, len(u.sizes)) // sources of the current snapshot listing each unit
	seen := make([]bool, len(u.sizes))
	var files, newFiles int
	var bytes, newBytes int64
	cur := map[string]int{} // the current snapshot's sources, with their multiplicity
	apply := func(key string, delta int32) {
		for _, n := range u.sources[key] {
			switch refs[n] += delta; {
			case delta > 0 && refs[n] == 1:
				files++
				bytes += u.sizes[n]
				// Only a file the previous snapshot lacks can be new.
				if !seen[n] {
					seen[n] = true
					newFiles++
					newBytes += u.sizes[n]
				}
			case delta < 0 && refs[n] == 0:
				files--
				bytes -= u.sizes[n]
			}
		}
	}
	out := make([]catalog.Usage, 0, len(u.snaps))
	for _, s := range u.snaps {
		next := map[string]int{}
		for _, k := range s.sources {
			next[k]++
		}
		for k, n := range cur {
			for range n - next[k] {
				apply(k, -1)
			}
		}
		for k, n := range next {
			for range n - cur[k] {
				apply(k, 1)
			}
		}
		cur = next
		s.out.Files, s.out.Bytes, s.out.NewFiles, s.out.NewBytes = files, bytes, newFiles, newBytes
		newFiles, newBytes = 0, 0
		out = append(out, s.out)
	}
	return out
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
)

// Usage implements Catalog, as catalog/sqlite does: it reads the
// archive's records once, in one read-only transaction, and walks its
// snapshots oldest first keeping a count per stored file of the sources
// (index file lists, indices) that reference it: moving from a snapshot
// to the next costs the members of the indices that changed between them,
// not of all its indices.
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
		out = u.walk()
		return nil
	})
	return out, err
}

// usageSnap is a time-based snapshot as Usage walks it.
type usageSnap struct {
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

func loadUsage(ctx context.Context, tx pgx.Tx, aid int64) (*usageData, error) {
	u := &usageData{sources: map[string][]int32{}}
	byID := map[int64]*usageSnap{}
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
		s := &usageSnap{out: catalog.Usage{Serial: serial}}
		if signed != nil && !signed.Equal(created) {
			s.out.Bumped = signed.UTC()
		}
		u.snaps = append(u.snaps, s)
		byID[id] = s
		return nil
	}); err != nil {
		return nil, err
	}
	if len(u.snaps) == 0 {
		return u, nil
	}

	// The suite states the snapshots use.
	states := map[int64][]*usageSnap{}
	rows, err = tx.Query(ctx, `SELECT x.snapshot_id, x.state_id FROM snapshot_suites x
		JOIN snapshots s ON s.id = x.snapshot_id WHERE s.archive_id = $1 AND s.serial NOT LIKE '@%'`, aid)
	if err != nil {
		return nil, err
	}
	var state int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &state}, func() error {
		if s := byID[id]; s != nil {
			states[state] = append(states[state], s)
		}
		return nil
	}); err != nil {
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
	rows, err = tx.Query(ctx, `SELECT st.id, st.indices,
			ARRAY(SELECT f.sha256 FROM suite_state_files f WHERE f.state_id = st.id ORDER BY f.pos),
			ARRAY(SELECT f.size FROM suite_state_files f WHERE f.state_id = st.id ORDER BY f.pos)
		FROM suite_states st WHERE st.archive_id = $1 AND st.id = ANY($2)`, aid, mapKeys(states))
	if err != nil {
		return nil, err
	}
	var idx, shas [][]byte
	var sizes []int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &idx, &shas, &sizes}, func() error {
		users := states[id]
		if len(shas) != len(sizes) {
			return fmt.Errorf("suite state %d: corrupt file list", id)
		}
		key := fmt.Sprintf("f%d", id)
		list := make([]int32, 0, len(shas))
		for i, sha := range shas {
			d, err := digest(sha)
			if err != nil {
				return err
			}
			list = append(list, unit(d, sizes[i]))
		}
		u.sources[key] = list
		keys := []string{key}
		ds, err := digests(idx)
		if err != nil {
			return err
		}
		for _, d := range ds {
			needIdx[d] = true
			keys = append(keys, "i"+string(d[:]))
		}
		for _, s := range users {
			s.sources = append(s.sources, keys...)
		}
		return nil
	}); err != nil {
		return nil, err
	}

	// Pool files by ID, then the members of the indices in use. A pool
	// file record is a unit of its own: an archive holds one content at
	// two paths rarely enough.
	pool := map[int64]int32{}
	rows, err = tx.Query(ctx, `SELECT id, size FROM pool_files WHERE archive_id = $1`, aid)
	if err != nil {
		return nil, err
	}
	var size int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &size}, func() error {
		pool[id] = int32(len(u.sizes))
		u.sizes = append(u.sizes, size)
		return nil
	}); err != nil {
		return nil, err
	}
	var need [][]byte
	for d := range needIdx {
		need = append(need, d[:])
	}
	rows, err = tx.Query(ctx, `SELECT sha256, members FROM indices WHERE archive_id = $1 AND sha256 = ANY($2)`, aid, need)
	if err != nil {
		return nil, err
	}
	var sha, members []byte
	_, err = pgx.ForEachRow(rows, []any{&sha, &members}, func() error {
		ids, err := decodeIDs(members)
		if err != nil {
			return fmt.Errorf("index %x: %w", sha, err)
		}
		list := make([]int32, 0, len(ids))
		for _, id := range ids {
			if n, ok := pool[id]; ok {
				list = append(list, n)
			}
		}
		u.sources["i"+string(sha)] = list
		return nil
	})
	return u, err
}

func mapKeys[V any](m map[int64]V) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
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

// Package usage is catalog.Catalog's Usage as both catalogs,
// catalog/sqlite and catalog/postgres, compute it: each reads an
// archive's records once, in one read transaction, into a Data, which
// walks its snapshots oldest first keeping a count per stored file of the
// sources (index file lists, indices) that reference it: moving from a
// snapshot to the next costs the members of the indices that changed
// between them, not of all its indices.
//
// A catalog feeds a Data in this order: its time-based snapshots by
// serial (Snapshot), the suite states they use (Uses), those states
// (State), the archive's pool files (PoolFile), then the indices the
// states list (Index); Walk then computes each snapshot's usage.
package usage

import (
	"fmt"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/internal/codec"
)

// snap is a time-based snapshot as Walk walks it.
type snap struct {
	out     catalog.Usage
	sources []string // a source per suite state's file list and per index, with repeats
}

// Data is what Usage reads of an archive.
type Data struct {
	snaps []*snap
	byID  map[int64]*snap
	// states are the snapshots using each suite state.
	states map[int64][]*snap
	// sources are the lists of stored files (as unit numbers) that a
	// snapshot references through a suite state: "f<state id>" its
	// index files, "i<digest>" the members of an index.
	sources map[string][]int32
	sizes   []int64 // by unit: a stored file
	units   map[blob.Digest]int32
	need    map[blob.Digest]bool // the indices the states list
	pool    map[int64]int32      // pool file units by ID
}

// New returns an empty Data.
func New() *Data {
	return &Data{
		byID:    map[int64]*snap{},
		states:  map[int64][]*snap{},
		sources: map[string][]int32{},
		units:   map[blob.Digest]int32{},
		need:    map[blob.Digest]bool{},
		pool:    map[int64]int32{},
	}
}

// Snapshot adds the next time-based snapshot, its ID id (bumped, the
// time of its last bump, the zero time if none).
func (u *Data) Snapshot(id int64, serial string, bumped time.Time) {
	s := &snap{out: catalog.Usage{Serial: serial, Bumped: bumped}}
	u.snaps = append(u.snaps, s)
	u.byID[id] = s
}

// Empty reports whether there is no snapshot: nothing more to read.
func (u *Data) Empty() bool { return len(u.snaps) == 0 }

// Uses records that a snapshot uses a suite state (nothing for a snapshot
// not added).
func (u *Data) Uses(snapshot, state int64) {
	if s := u.byID[snapshot]; s != nil {
		u.states[state] = append(u.states[state], s)
	}
}

// InUse reports whether a snapshot uses a suite state.
func (u *Data) InUse(state int64) bool { return len(u.states[state]) > 0 }

// States returns the suite states in use, in no order.
func (u *Data) States() []int64 {
	out := make([]int64, 0, len(u.states))
	for id := range u.states {
		out = append(out, id)
	}
	return out
}

// State adds a suite state in use: its index files, and the indices it
// lists (nothing for a state no snapshot uses). Each index file content
// is one unit, however many states list it.
func (u *Data) State(id int64, files []catalog.IndexFile, indices []blob.Digest) {
	users := u.states[id]
	if len(users) == 0 {
		return
	}
	key := fmt.Sprintf("f%d", id)
	list := make([]int32, 0, len(files))
	for _, f := range files {
		n, ok := u.units[f.SHA256]
		if !ok {
			n = int32(len(u.sizes))
			u.units[f.SHA256] = n
			u.sizes = append(u.sizes, f.Size)
		}
		list = append(list, n)
	}
	u.sources[key] = list
	keys := []string{key}
	for _, d := range indices {
		u.need[d] = true
		keys = append(keys, "i"+string(d[:]))
	}
	for _, s := range users {
		s.sources = append(s.sources, keys...)
	}
}

// PoolFile adds a pool file record, a unit of its own: an archive holds
// one content at two paths rarely enough.
func (u *Data) PoolFile(id, size int64) {
	u.pool[id] = int32(len(u.sizes))
	u.sizes = append(u.sizes, size)
}

// Needed returns the indices the states in use list, in no order.
func (u *Data) Needed() []blob.Digest {
	out := make([]blob.Digest, 0, len(u.need))
	for d := range u.need {
		out = append(out, d)
	}
	return out
}

// Index adds the members of an index (its SHA-256, and its member list as
// codec.EncodeIDs encodes it), once the pool files are added. An index
// that no state in use lists is skipped, undecoded.
func (u *Data) Index(sha, members []byte) error {
	if len(sha) != len(blob.Digest{}) || !u.need[blob.Digest(sha)] {
		return nil
	}
	ids, err := codec.DecodeIDs(members)
	if err != nil {
		return fmt.Errorf("index %x: %w", sha, err)
	}
	list := make([]int32, 0, len(ids))
	for _, id := range ids {
		if n, ok := u.pool[id]; ok {
			list = append(list, n)
		}
	}
	u.sources["i"+string(sha)] = list
	return nil
}

// Walk computes each snapshot's usage, oldest first.
func (u *Data) Walk() []catalog.Usage {
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

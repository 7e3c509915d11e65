package blob

import (
	"bytes"
	"iter"
	"slices"
)

// Set is a set of digests, held sorted: 32 bytes a digest, where a
// map[Digest]bool takes 40 or more and twice that while it grows. A
// collection's live set holds every stored file, so its size is what a
// garbage collection's memory is.
//
// The zero Set is empty. A Set is not changed after it is made.
type Set struct{ ds []Digest }

// NewSet returns the set of the digests in ds, which it sorts and takes
// over: the caller does not use ds after.
func NewSet(ds []Digest) Set {
	slices.SortFunc(ds, compare)
	ds = slices.Compact(ds)
	return Set{ds: slices.Clip(ds)}
}

func compare(a, b Digest) int { return bytes.Compare(a[:], b[:]) }

// Has reports whether d is in the set.
func (s Set) Has(d Digest) bool {
	_, ok := slices.BinarySearchFunc(s.ds, d, compare)
	return ok
}

// Len is the number of digests in the set.
func (s Set) Len() int { return len(s.ds) }

// All yields the digests of the set, in order.
func (s Set) All() iter.Seq[Digest] { return slices.Values(s.ds) }

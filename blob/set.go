package blob

import (
	"encoding/binary"
	"slices"
)

// Set is a set of digests for deciding which stored files to keep. It
// holds the first 8 bytes of each digest, sorted: 8 bytes a file, where
// the digests would take 32 and a map[Digest]bool 40 or more (twice that
// while it grows). A collection's live set holds nearly every stored
// file, so its size is most of a garbage collection's memory.
//
// Has may answer true for a digest never added whose first 8 bytes equal
// an added one's: for 100,000 SHA-256 digests, a chance of about 1 in
// 10^9 that any file is concerned. A collection then keeps a file it
// could have deleted; it never deletes one that is live.
//
// The zero Set is empty. A Set is not changed after it is made.
type Set struct{ keys []uint64 }

// SetBuilder collects the digests of a Set. The zero SetBuilder is empty
// and ready to use.
type SetBuilder struct{ keys []uint64 }

// Grow makes room for n more digests, so that adding them does not grow
// the builder by copies.
func (b *SetBuilder) Grow(n int) { b.keys = slices.Grow(b.keys, n) }

// Add adds d.
func (b *SetBuilder) Add(d Digest) { b.keys = append(b.keys, key(d)) }

// Set returns the set of the digests added. The builder is empty after.
func (b *SetBuilder) Set() Set {
	keys := b.keys
	b.keys = nil
	slices.Sort(keys)
	return Set{keys: slices.Clip(slices.Compact(keys))}
}

// NewSet returns the set of the digests in ds.
func NewSet(ds ...Digest) Set {
	var b SetBuilder
	b.Grow(len(ds))
	for _, d := range ds {
		b.Add(d)
	}
	return b.Set()
}

func key(d Digest) uint64 { return binary.BigEndian.Uint64(d[:8]) }

// Has reports whether d is in the set (or, rarely, shares its first 8
// bytes with a digest in the set).
func (s Set) Has(d Digest) bool {
	_, ok := slices.BinarySearch(s.keys, key(d))
	return ok
}

// Len is the number of digests in the set (those that share their first
// 8 bytes counted once).
func (s Set) Len() int { return len(s.keys) }

// Package idset is a set of catalog row IDs, a bit each.
//
// A collection marks every pool file a live index lists: tens of
// thousands of IDs, most of them in several indices. Row IDs are handed
// out in order, so they are dense: a bit each, in pages of 65,536, takes
// a few kilobytes where a map[int64]bool takes a megabyte or more.
package idset

const pageBits = 1 << 16

type page [pageBits / 64]uint64

// Set is a set of row IDs. The zero Set is empty and ready to use.
type Set struct {
	pages map[int64]*page
	n     int
}

// Add adds id to the set.
func (s *Set) Add(id int64) {
	if s.pages == nil {
		s.pages = map[int64]*page{}
	}
	n, bit := split(id)
	p := s.pages[n]
	if p == nil {
		p = new(page)
		s.pages[n] = p
	}
	if p[bit/64]&(1<<(bit%64)) == 0 {
		p[bit/64] |= 1 << (bit % 64)
		s.n++
	}
}

// Len is the number of IDs in the set.
func (s *Set) Len() int { return s.n }

// Has reports whether id is in the set.
func (s *Set) Has(id int64) bool {
	n, bit := split(id)
	p := s.pages[n]
	return p != nil && p[bit/64]&(1<<(bit%64)) != 0
}

// split returns id's page and its bit in the page (IDs below zero too).
func split(id int64) (int64, uint64) {
	n := id / pageBits
	if id%pageBits < 0 {
		n--
	}
	return n, uint64(id - n*pageBits)
}

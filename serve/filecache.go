package serve

import (
	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/internal/lru"
)

// fileCache keeps the content of small stored files in memory, least
// recently used out first, bounded in bytes (bookkeeping included). Files
// are immutable by digest, so an entry is never stale; it can only be of a
// file GC has since deleted, which no snapshot references and so no
// request reaches.
type fileCache struct {
	max int64
	lru *lru.Cache[blob.Digest, []byte]
}

// entryOverhead is what an entry costs besides its content: its list
// element, its map slot and its bookkeeping. Counted, it keeps a cache of
// many tiny files within its bound.
const entryOverhead = 256

func newFileCache(maxBytes int64) *fileCache {
	return &fileCache{max: maxBytes, lru: lru.New[blob.Digest](maxBytes, func(data []byte) int64 {
		return int64(cap(data)) + entryOverhead
	})}
}

// get returns the cached content of d; callers must not modify it.
func (c *fileCache) get(d blob.Digest) ([]byte, bool) {
	if c.max <= 0 {
		return nil, false
	}
	return c.lru.Get(d)
}

// put caches a copy of data as the content of d; a file over a sixteenth
// of the bound is not cached.
func (c *fileCache) put(d blob.Digest, data []byte) {
	if c.max <= 0 || int64(len(data)) > c.max/16 {
		return
	}
	c.lru.Add(d, append([]byte(nil), data...))
}

func (c *fileCache) clear() { c.lru.Clear() }

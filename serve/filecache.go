package serve

import (
	"strconv"

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
	lru *lru.Cache[blob.Digest, *cachedFile]
}

// cachedFile is a file's content with the header values that depend on it
// alone, made once: answering from the cache then formats nothing.
type cachedFile struct {
	data []byte
	// etag and length are the values of ETag and Content-Length, as
	// header slices shared by every answer (len = cap: an Add copies).
	etag, length []string
}

// entryOverhead is what an entry costs besides its content: its list
// element, its map slot, its header values and its bookkeeping. Counted,
// it keeps a cache of many tiny files within its bound.
const entryOverhead = 384

func newFileCache(maxBytes int64) *fileCache {
	return &fileCache{max: maxBytes, lru: lru.New[blob.Digest](maxBytes, func(f *cachedFile) int64 {
		return int64(cap(f.data)) + entryOverhead
	})}
}

// get returns the cached content of d; callers must not modify it.
func (c *fileCache) get(d blob.Digest) ([]byte, bool) {
	f, ok := c.file(d)
	if !ok {
		return nil, false
	}
	return f.data, true
}

// file returns the cached file d; callers must not modify it.
func (c *fileCache) file(d blob.Digest) (*cachedFile, bool) {
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
	c.lru.Add(d, newCachedFile(d, append([]byte(nil), data...)))
}

// newCachedFile makes the cache entry of data, the content of d.
func newCachedFile(d blob.Digest, data []byte) *cachedFile {
	return &cachedFile{data: data, etag: header(`"` + d.String() + `"`), length: header(strconv.Itoa(len(data)))}
}

func (c *fileCache) clear() { c.lru.Clear() }

// header makes a header value slice that can be shared between answers:
// its capacity is its length, so that an Add to it copies.
func header(v string) []string { return []string{v}[:1:1] }

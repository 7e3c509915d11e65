package serve

import (
	"container/list"
	"sync"

	"github.com/aptsnap/aptsnap/blob"
)

// fileCache keeps the content of small stored files in memory, least
// recently used out first, bounded in bytes (bookkeeping included). Files are immutable by digest,
// so an entry is never stale; it can only be of a file GC has since
// deleted, which no snapshot references and so no request reaches.
type fileCache struct {
	max int64

	mu   sync.Mutex
	size int64
	ll   *list.List // of *fileEntry, most recent first
	m    map[blob.Digest]*list.Element
}

type fileEntry struct {
	d    blob.Digest
	data []byte
}

// entryOverhead is what an entry costs besides its content: its list
// element, its map slot and its fileEntry. Counted, it keeps a cache of
// many tiny files within its bound.
const entryOverhead = 256

func (e *fileEntry) cost() int64 { return int64(cap(e.data)) + entryOverhead }

func newFileCache(maxBytes int64) *fileCache {
	return &fileCache{max: maxBytes, ll: list.New(), m: map[blob.Digest]*list.Element{}}
}

// get returns the cached content of d; callers must not modify it.
func (c *fileCache) get(d blob.Digest) ([]byte, bool) {
	if c.max <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[d]
	if !ok {
		return nil, false
	}
	c.ll.MoveToFront(e)
	return e.Value.(*fileEntry).data, true
}

// put caches a copy of data as the content of d.
func (c *fileCache) put(d blob.Digest, data []byte) {
	if c.max <= 0 || int64(len(data)) > c.max/16 {
		return
	}
	cp := append([]byte(nil), data...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[d]; ok {
		return
	}
	e := &fileEntry{d, cp}
	c.m[d] = c.ll.PushFront(e)
	c.size += e.cost()
	for c.size > c.max {
		old := c.ll.Remove(c.ll.Back()).(*fileEntry)
		delete(c.m, old.d)
		c.size -= old.cost()
	}
}

func (c *fileCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ll.Init()
	clear(c.m)
	c.size = 0
}

package serve

import (
	"sync"
	"time"

	"github.com/aptsnap/aptsnap/catalog"
)

// ttlCache is a small bounded map whose entries expire after ttl (or never
// when ttl is zero). When full, it drops an arbitrary entry.
type ttlCache[K comparable, V any] struct {
	mu  sync.RWMutex
	ttl time.Duration
	max int
	m   map[K]ttlEntry[V]
	now func() time.Time
}

type ttlEntry[V any] struct {
	v   V
	exp time.Time
}

func newTTLCache[K comparable, V any](max int, ttl time.Duration) *ttlCache[K, V] {
	return &ttlCache[K, V]{ttl: ttl, max: max, m: make(map[K]ttlEntry[V]), now: time.Now}
}

func (c *ttlCache[K, V]) get(k K) (V, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || (c.ttl > 0 && c.now().After(e.exp)) {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = ttlEntry[V]{v: v, exp: c.now().Add(c.ttl)}
}

func (c *ttlCache[K, V]) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

// bitset is a set of pool file IDs, from base on.
type bitset struct {
	base  int64
	words []uint64
}

// newBitset makes the set of ids, which must be sorted.
func newBitset(ids []int64) bitset {
	if len(ids) == 0 {
		return bitset{}
	}
	base := ids[0] &^ 63
	b := bitset{base: base, words: make([]uint64, (ids[len(ids)-1]-base)/64+1)}
	for _, id := range ids {
		i := id - base
		b.words[i/64] |= 1 << (uint(i) % 64)
	}
	return b
}

func (b bitset) has(id int64) bool {
	i := id - b.base
	return i >= 0 && i/64 < int64(len(b.words)) && b.words[i/64]&(1<<(uint(i)%64)) != 0
}

// answerCache remembers which pool file a snapshot serves at a path, so
// that a request for it costs one lookup without locks instead of the
// candidates' cache, the snapshot's index sets and their bitsets. What a
// snapshot lists never changes; an entry also names the snapshot's
// archive, serial and creation, so that an ID the catalog reuses for
// another snapshot does not find it. Bounded: at maxAnswers entries it
// starts again empty.
type answerCache struct {
	mu sync.RWMutex
	m  map[answerKey]*answer
}

// maxAnswers bounds the answers remembered (a few hundred bytes each).
const maxAnswers = 16384

type answerKey struct {
	snapshot int64
	path     string
}

type answer struct {
	archive, serial string
	created         time.Time
	file            catalog.PoolFile
}

func (c *answerCache) get(v *snapView, path string) (catalog.PoolFile, bool) {
	c.mu.RLock()
	a, ok := c.m[answerKey{v.snap.ID, path}]
	c.mu.RUnlock()
	if !ok {
		return catalog.PoolFile{}, false
	}
	if a.archive != v.snap.Archive || a.serial != v.snap.Serial || !a.created.Equal(v.snap.Created) {
		return catalog.PoolFile{}, false
	}
	return a.file, true
}

func (c *answerCache) put(v *snapView, path string, f catalog.PoolFile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxAnswers {
		c.m = make(map[answerKey]*answer)
	}
	c.m[answerKey{v.snap.ID, path}] = &answer{v.snap.Archive, v.snap.Serial, v.snap.Created, f}
}

func (c *answerCache) clear() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

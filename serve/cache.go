package serve

import (
	"sync"
	"time"
)

// ttlCache is a small bounded map whose entries expire after ttl (or never
// when ttl is zero). When full, it drops an arbitrary entry.
type ttlCache[K comparable, V any] struct {
	mu  sync.Mutex
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
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
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

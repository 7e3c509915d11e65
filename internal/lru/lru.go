// Package lru is a cache bounded by the total cost of its entries (bytes,
// packages...), the least recently used out first. The HTTP server keeps
// small files in one, the web UI parsed indices.
//
// Hand-written: the well-kept LRU packages bound the number of entries,
// not their cost, and both caches hold entries of very different sizes.
package lru

import (
	"container/list"
	"sync"
)

// Cache maps keys to values; it is safe for concurrent use.
type Cache[K comparable, V any] struct {
	max  int64
	cost func(V) int64

	mu   sync.Mutex
	size int64
	ll   *list.List // of *entry[K, V], most recent first
	m    map[K]*list.Element
}

type entry[K comparable, V any] struct {
	k    K
	v    V
	cost int64
}

// New returns a cache holding entries up to a total cost of max, each
// entry's cost given by cost. The newest entry is kept even when it alone
// costs more than max.
func New[K comparable, V any](max int64, cost func(V) int64) *Cache[K, V] {
	return &Cache[K, V]{max: max, cost: cost, ll: list.New(), m: map[K]*list.Element{}}
}

// Get returns the value of k and makes it the most recently used.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.ll.MoveToFront(e)
	return e.Value.(*entry[K, V]).v, true
}

// Contains reports whether k is cached, without making it more recent.
func (c *Cache[K, V]) Contains(k K) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[k]
	return ok
}

// Add caches v as the value of k, unless k is cached already, and drops
// the least recently used entries past the bound.
func (c *Cache[K, V]) Add(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok {
		return
	}
	e := &entry[K, V]{k, v, c.cost(v)}
	c.m[k] = c.ll.PushFront(e)
	c.size += e.cost
	for c.size > c.max && c.ll.Len() > 1 {
		old := c.ll.Remove(c.ll.Back()).(*entry[K, V])
		delete(c.m, old.k)
		c.size -= old.cost
	}
}

// Clear drops every entry.
func (c *Cache[K, V]) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ll.Init()
	clear(c.m)
	c.size = 0
}

// Cost is the total cost of the entries cached.
func (c *Cache[K, V]) Cost() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}

// Len is the number of entries cached.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

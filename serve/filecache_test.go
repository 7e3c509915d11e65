package serve

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"

	"github.com/aptsnap/aptsnap/blob"
)

func TestFileCache(t *testing.T) {
	// Room for 16 entries of 10 bytes; none over one byte (max/16).
	one := int64(cap(append([]byte(nil), make([]byte, 10)...))) + entryOverhead
	c := newFileCache(16 * one)
	d := func(i byte) blob.Digest { return blob.Sum([]byte{i}) }
	for i := range byte(20) {
		c.put(d(i), bytes.Repeat([]byte{i}, 10))
	}
	if c.lru.Cost() != 16*one || c.lru.Len() != 16 {
		t.Fatalf("size %d, %d entries; want %d, 16", c.lru.Cost(), c.lru.Len(), 16*one)
	}
	for i := range byte(4) {
		if _, ok := c.get(d(i)); ok {
			t.Errorf("entry %d not evicted", i)
		}
	}
	got, ok := c.get(d(4)) // now the most recent
	if !ok || !bytes.Equal(got, bytes.Repeat([]byte{4}, 10)) {
		t.Fatalf("get(4) = %v, %v", got, ok)
	}
	c.put(d(30), bytes.Repeat([]byte{30}, 10))
	if _, ok := c.get(d(4)); !ok {
		t.Error("the entry used last was evicted")
	}
	if _, ok := c.get(d(5)); ok {
		t.Error("the least recently used entry was kept")
	}
	// The cache holds its own copy.
	buf := []byte("0123456789")
	c.put(d(40), buf)
	buf[0] = 'X'
	if got, _ := c.get(d(40)); got[0] != '0' {
		t.Error("cache shares the caller's buffer")
	}
	c.put(d(50), make([]byte, one+1)) // over max/16: not cached
	if _, ok := c.get(d(50)); ok {
		t.Error("an entry over max/16 was cached")
	}
	c.clear()
	if _, ok := c.get(d(4)); ok || c.lru.Cost() != 0 {
		t.Error("clear kept entries")
	}
	off := newFileCache(-1)
	off.put(d(1), []byte("x"))
	if _, ok := off.get(d(1)); ok {
		t.Error("a disabled cache cached")
	}
}

// TestFileCacheMemoryBound: what the cache holds, bookkeeping included,
// stays within its bound when the files are tiny.
func TestFileCacheMemoryBound(t *testing.T) {
	const max = 1 << 20
	for _, size := range []int{4, 100, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			c := newFileCache(max)
			data := make([]byte, size)
			for i := range 100_000 {
				binary.BigEndian.PutUint32(data, uint32(i))
				c.put(blob.Sum(data), data)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			if held > 2*max {
				t.Errorf("%d entries of %d bytes hold %d kB; bound %d kB", c.lru.Len(), size, held>>10, max>>10)
			}
			runtime.KeepAlive(c)
		})
	}
}

package serve

import (
	"bytes"
	"testing"

	"github.com/aptsnap/aptsnap/blob"
)

func TestFileCache(t *testing.T) {
	c := newFileCache(160) // entries up to 10 bytes (max/16)
	d := func(i byte) blob.Digest { return blob.Sum([]byte{i}) }
	for i := range byte(20) {
		c.put(d(i), bytes.Repeat([]byte{i}, 10))
	}
	if c.size != 160 || c.ll.Len() != 16 {
		t.Fatalf("size %d, %d entries; want 160, 16", c.size, c.ll.Len())
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
	c.put(d(50), make([]byte, 11)) // over max/16: not cached
	if _, ok := c.get(d(50)); ok {
		t.Error("an entry over max/16 was cached")
	}
	c.clear()
	if _, ok := c.get(d(4)); ok || c.size != 0 {
		t.Error("clear kept entries")
	}
	off := newFileCache(-1)
	off.put(d(1), []byte("x"))
	if _, ok := off.get(d(1)); ok {
		t.Error("a disabled cache cached")
	}
}

package serve

import (
	"testing"
	"time"
)

func TestBitset(t *testing.T) {
	for _, tt := range []struct {
		ids  []int64
		in   []int64
		out  []int64
		size int // words at most
	}{
		{nil, nil, []int64{0, 1, 64}, 0},
		{[]int64{5}, []int64{5}, []int64{4, 6, 0, -1, 69}, 1},
		{[]int64{1000000, 1000001, 1000063, 1000064}, []int64{1000000, 1000064}, []int64{999999, 1000002, 1000128, 0}, 2},
	} {
		b := newBitset(tt.ids)
		for _, id := range tt.in {
			if !b.has(id) {
				t.Errorf("%v: has(%d) = false", tt.ids, id)
			}
		}
		for _, id := range tt.out {
			if b.has(id) {
				t.Errorf("%v: has(%d) = true", tt.ids, id)
			}
		}
		if len(b.words) > tt.size {
			t.Errorf("%v: %d words, want at most %d (sized by the range, not the largest id)", tt.ids, len(b.words), tt.size)
		}
	}
}

func TestTTLCache(t *testing.T) {
	c := newTTLCache[string, int](2, time.Minute)
	now := time.Now()
	c.now = func() time.Time { return now }
	c.put("a", 1)
	if v, ok := c.get("a"); !ok || v != 1 {
		t.Fatal("get after put")
	}
	now = now.Add(2 * time.Minute)
	if _, ok := c.get("a"); ok {
		t.Fatal("entry outlived its TTL")
	}
	c.put("b", 2)
	c.put("c", 3)
	c.put("d", 4)
	if len(c.m) > 2 {
		t.Fatalf("cache holds %d entries, bound 2", len(c.m))
	}
	c.clear()
	if _, ok := c.get("d"); ok {
		t.Fatal("entry survived clear")
	}
}

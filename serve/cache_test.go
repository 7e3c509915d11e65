package serve

import (
	"fmt"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/catalog"
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

// TestAnswerCache: an answer is found for its snapshot only, not for
// another snapshot given the same ID, and the cache stays bounded.
func TestAnswerCache(t *testing.T) {
	var c answerCache
	created := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	v := &snapView{snap: catalog.Snapshot{ID: 7, Archive: "debian", Serial: "2026120101", Created: created}}
	f := catalog.PoolFile{ID: 42}
	c.put(v, "pool/main/h/hello/hello_1_amd64.deb", f)
	if got, ok := c.get(v, "pool/main/h/hello/hello_1_amd64.deb"); !ok || got.ID != 42 {
		t.Fatalf("get = %v, %v", got, ok)
	}
	if _, ok := c.get(v, "pool/main/h/hello/hello_2_amd64.deb"); ok {
		t.Error("found an answer for another path")
	}
	reused := &snapView{snap: catalog.Snapshot{ID: 7, Archive: "debian", Serial: "2026120102", Created: created.Add(time.Hour)}}
	if _, ok := c.get(reused, "pool/main/h/hello/hello_1_amd64.deb"); ok {
		t.Error("another snapshot with the same ID found the answer")
	}
	for i := range 3 * maxAnswers {
		c.put(v, fmt.Sprint(i), f)
	}
	if len(c.m) > maxAnswers {
		t.Errorf("%d answers held, bound %d", len(c.m), maxAnswers)
	}
	c.clear()
	if _, ok := c.get(v, fmt.Sprint(3*maxAnswers-1)); ok {
		t.Error("clear kept answers")
	}
}

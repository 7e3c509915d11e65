package lru

import (
	"fmt"
	"sync"
	"testing"
)

func TestCache(t *testing.T) {
	c := New[string, string](10, func(v string) int64 { return int64(len(v)) })
	c.Add("a", "aaaa")
	c.Add("b", "bbbb")
	if _, ok := c.Get("a"); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	c.Add("c", "cccc") // 12 > 10: b, the least recently used, goes
	if _, ok := c.Get("b"); ok {
		t.Error("the least recently used entry stayed")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("%s was dropped", k)
		}
	}
	if !c.Contains("a") || c.Contains("b") || c.Cost() != 8 || c.Len() != 2 {
		t.Errorf("cost %d, len %d", c.Cost(), c.Len())
	}
	c.Add("a", "a different value") // already cached: kept as it was
	if v, _ := c.Get("a"); v != "aaaa" {
		t.Errorf("a = %q", v)
	}
	c.Add("big", "a value over the bound")
	if v, ok := c.Get("big"); !ok || c.Len() != 1 || c.Cost() != int64(len(v)) {
		t.Errorf("the newest entry is not kept alone: len %d, cost %d", c.Len(), c.Cost())
	}
	c.Clear()
	if c.Len() != 0 || c.Cost() != 0 {
		t.Errorf("after Clear: len %d, cost %d", c.Len(), c.Cost())
	}
}

func TestConcurrent(t *testing.T) {
	c := New[int, []byte](1000, func(v []byte) int64 { return int64(len(v)) })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				k := (g*1000 + i) % 300
				if _, ok := c.Get(k); !ok {
					c.Add(k, []byte(fmt.Sprint(k)))
				}
			}
		})
	}
	wg.Wait()
	if c.Cost() > 1000 {
		t.Errorf("cost %d over the bound", c.Cost())
	}
}

package idset

import (
	"math"
	"testing"
)

func TestSet(t *testing.T) {
	var s Set
	if s.Has(1) {
		t.Fatal("the zero Set has 1")
	}
	in := []int64{0, 1, 63, 64, 65535, 65536, 1 << 40, -1, -65536, -65537, math.MaxInt64, math.MinInt64}
	for _, id := range in {
		s.Add(id)
		s.Add(id) // twice: counted once
	}
	if s.Len() != len(in) {
		t.Errorf("Len() = %d after adding %d IDs twice each", s.Len(), len(in))
	}
	for _, id := range in {
		if !s.Has(id) {
			t.Errorf("Has(%d) = false after Add", id)
		}
	}
	for _, id := range []int64{2, 62, 66, 65534, 65537, 1<<40 + 1, -2, -65535, -65538, math.MaxInt64 - 1, math.MinInt64 + 1} {
		if s.Has(id) {
			t.Errorf("Has(%d) = true, never added", id)
		}
	}
}

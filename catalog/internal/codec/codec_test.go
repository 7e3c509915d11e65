package codec

import (
	"slices"
	"testing"
)

func TestIDCodec(t *testing.T) {
	for _, ids := range [][]int64{nil, {1}, {1, 2, 3, 1000000}, func() []int64 {
		var v []int64
		for i := int64(5); i < 70000; i += 1 + i%3 {
			v = append(v, i)
		}
		return v
	}()} {
		got, err := DecodeIDs(EncodeIDs(ids))
		if err != nil || len(got) != len(ids) || (len(ids) > 0 && !slices.Equal(got, ids)) {
			t.Errorf("round trip of %d ids: %d ids, %v", len(ids), len(got), err)
		}
	}
	if _, err := DecodeIDs([]byte("garbage")); err == nil {
		t.Error("decoding garbage succeeded")
	}
}

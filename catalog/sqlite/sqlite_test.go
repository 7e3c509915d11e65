package sqlite

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/catalogtest"
)

func TestConformance(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Catalog {
		c, err := Open(context.Background(), filepath.Join(t.TempDir(), "catalog.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	})
}

func TestIDCodec(t *testing.T) {
	for _, ids := range [][]int64{nil, {1}, {1, 2, 3, 1000000}, func() []int64 {
		var v []int64
		for i := int64(5); i < 70000; i += 1 + i%3 {
			v = append(v, i)
		}
		return v
	}()} {
		got, err := decodeIDs(encodeIDs(ids))
		if err != nil || len(got) != len(ids) || (len(ids) > 0 && !slices.Equal(got, ids)) {
			t.Errorf("round trip of %d ids: %d ids, %v", len(ids), len(got), err)
		}
	}
	if _, err := decodeIDs([]byte("garbage")); err == nil {
		t.Error("decoding garbage succeeded")
	}
}

package postgres

import (
	"fmt"

	"github.com/aptsnap/aptsnap/blob"
)

// digests converts bytea values to digests (a value of another length,
// which the catalog never writes, is an error).
func digests(bs [][]byte) ([]blob.Digest, error) {
	if len(bs) == 0 {
		return nil, nil
	}
	out := make([]blob.Digest, len(bs))
	for i, b := range bs {
		d, err := digest(b)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

func digest(b []byte) (blob.Digest, error) {
	var d blob.Digest
	if len(b) != len(d) {
		return d, fmt.Errorf("catalog: corrupt digest of %d bytes", len(b))
	}
	return blob.Digest(b), nil
}

// byteas converts digests to bytea values.
func byteas(ds []blob.Digest) [][]byte {
	out := make([][]byte, len(ds))
	for i := range ds {
		out[i] = ds[i][:]
	}
	return out
}

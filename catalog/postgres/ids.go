package postgres

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/aptsnap/aptsnap/blob"
)

// encodeIDs packs sorted, distinct IDs as deflated delta varints: an index
// of 63,000 consecutive IDs takes a few hundred bytes. It is catalog/sqlite's
// encoding, byte for byte (copied, not imported: importing that package
// would link the SQLite driver), so that a catalog moved from one to the
// other can copy index records as they are.
func encodeIDs(ids []int64) []byte {
	raw := make([]byte, 0, len(ids)+8)
	raw = binary.AppendUvarint(raw, uint64(len(ids)))
	var prev int64
	for _, id := range ids {
		raw = binary.AppendUvarint(raw, uint64(id-prev))
		prev = id
	}
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	w.Write(raw)
	w.Close()
	return buf.Bytes()
}

func decodeIDs(data []byte) ([]int64, error) {
	raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(data)))
	if err != nil {
		return nil, fmt.Errorf("member list: %w", err)
	}
	n, k := binary.Uvarint(raw)
	if k <= 0 || n > uint64(len(raw)) {
		return nil, errors.New("member list: bad length")
	}
	raw = raw[k:]
	ids := make([]int64, 0, n)
	var prev int64
	for i := uint64(0); i < n; i++ {
		d, k := binary.Uvarint(raw)
		if k <= 0 {
			return nil, errors.New("member list: truncated")
		}
		raw = raw[k:]
		prev += int64(d)
		ids = append(ids, prev)
	}
	return ids, nil
}

// PathKey is how the catalog finds a pool path: the first 8 bytes of its
// SHA-256, as catalog/sqlite's PathKey. Pool paths are not stored as text,
// which keeps the catalog to a few dozen bytes per distinct pool file; a
// lookup's candidates are confirmed by snapshot membership.
func PathKey(path string) int64 {
	d := blob.Sum([]byte(path))
	return int64(binary.BigEndian.Uint64(d[:8]))
}

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

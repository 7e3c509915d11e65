// Package codec is how both catalogs, catalog/sqlite and
// catalog/postgres, encode what they record alike: the member lists of
// indices and the keys of pool paths. The encodings are the same byte for
// byte, so that a catalog moved from one to the other can copy its records
// as they are. It links no database driver.
package codec

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/aptsnap/aptsnap/blob"
)

// EncodeIDs packs sorted, distinct IDs as deflated delta varints: an index
// of 63,000 consecutive IDs takes a few hundred bytes.
func EncodeIDs(ids []int64) []byte {
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

// DecodeIDs is the inverse of EncodeIDs.
func DecodeIDs(data []byte) ([]int64, error) {
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
// SHA-256. Pool paths are not stored as text, which keeps the catalog to a
// few dozen bytes per distinct pool file; a lookup's candidates are
// confirmed by snapshot membership, and two paths of one snapshot colliding
// on 64 bits is not a practical concern (about 1 in 10^8 for a million files).
func PathKey(path string) int64 {
	d := blob.Sum([]byte(path))
	return int64(binary.BigEndian.Uint64(d[:8]))
}

package sqlite

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// encodeIDs packs sorted, distinct IDs as deflated delta varints: an index
// of 63,000 consecutive IDs takes a few hundred bytes.
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

package debpkg

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// An xz file is read here rather than with xz.NewReader, which allocates
// whatever dictionary a block header asks for (up to 4 GiB) before reading
// any data. newXZReader walks the whole container first, without
// decompressing: stream headers, block headers (refusing dictionaries over
// the limit), the chunk headers of each block's LZMA2 data (which delimit
// it exactly), block padding and checks, indices (which must agree with
// the blocks), footers and stream padding. Then each block's LZMA2 data,
// and only it, goes to lzma.Reader2 with the dictionary its header asks
// for, and its check and size are verified when it ends.

const (
	xzHeaderMagic = "\xfd7zXZ\x00"
	xzFooterMagic = "YZ"
	xzMaxBlocks   = 1 << 16
)

var crc64Table = crc64.MakeTable(crc64.ECMA)

// xzBlock is one block of an xz file, as its container describes it.
type xzBlock struct {
	dataOff, dataLen int64 // the LZMA2 data
	dict             int   // dictionary size
	size             int64 // uncompressed size, from the index
	checkOff         int64
	check            byte // check type
}

// xzCheckSize is the size of the check of each check type (xz format 2.1.1.2).
func xzCheckSize(t byte) int64 {
	switch {
	case t == 0:
		return 0
	case t <= 3:
		return 4
	case t <= 6:
		return 8
	case t <= 9:
		return 16
	case t <= 12:
		return 32
	}
	return 64
}

// newXZCheck returns the hash of a supported check type, or nil for none.
func newXZCheck(t byte) hash.Hash {
	switch t {
	case 1:
		return crc32.NewIEEE()
	case 4:
		return crc64.New(crc64Table)
	case 10:
		return sha256.New()
	}
	return nil
}

func xzCorrupt(format string, args ...any) error {
	return errf(ErrInvalid, "corrupt xz data: "+format, args...)
}

// xzSource reads an xz file through a window buffer, so that walking its
// many small headers costs few ReadAt calls.
type xzSource struct {
	r      io.ReaderAt
	size   int64
	buf    []byte
	bufOff int64
}

// at returns the n bytes at off, or an ErrTruncated error.
// The slice is valid until the next call.
func (s *xzSource) at(off, n int64) ([]byte, error) {
	if off < 0 || n > s.size-off {
		return nil, errf(ErrTruncated, "xz data ends at %d, before byte %d", s.size, off+n)
	}
	if off >= s.bufOff && off+n <= s.bufOff+int64(len(s.buf)) {
		return s.buf[off-s.bufOff : off-s.bufOff+n], nil
	}
	if int64(cap(s.buf)) < max(n, 64<<10) {
		s.buf = make([]byte, 0, max(n, 64<<10))
	}
	s.buf = s.buf[:min(int64(cap(s.buf)), s.size-off)]
	k, err := s.r.ReadAt(s.buf, off)
	s.buf, s.bufOff = s.buf[:k], off
	if int64(k) < n {
		if err == nil || err == io.EOF {
			return nil, errf(ErrTruncated, "xz data ends early")
		}
		return nil, wrapf(ErrInvalid, err, "read xz data")
	}
	return s.buf[:n], nil
}

func (s *xzSource) byteAt(off int64) (byte, error) {
	b, err := s.at(off, 1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// varint reads an xz multibyte integer at off and returns it with the
// offset after it.
func (s *xzSource) varint(off int64) (uint64, int64, error) {
	var v uint64
	for i := range 9 {
		c, err := s.byteAt(off + int64(i))
		if err != nil {
			return 0, 0, err
		}
		if i > 0 && c == 0 {
			return 0, 0, xzCorrupt("non-minimal integer at %d", off)
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, off + int64(i) + 1, nil
		}
	}
	return 0, 0, xzCorrupt("integer too long at %d", off)
}

// sliceVarint reads an xz multibyte integer from b at i.
func sliceVarint(b []byte, i int) (uint64, int, error) {
	var v uint64
	for k := 0; k < 9 && i+k < len(b); k++ {
		c := b[i+k]
		if k > 0 && c == 0 {
			return 0, 0, xzCorrupt("non-minimal integer in a block header")
		}
		v |= uint64(c&0x7f) << (7 * k)
		if c&0x80 == 0 {
			return v, i + k + 1, nil
		}
	}
	return 0, 0, xzCorrupt("bad integer in a block header")
}

// newXZReader returns a reader of the decompressed content of the xz file
// r of size bytes, refusing blocks whose dictionary exceeds maxDict.
func newXZReader(r io.ReaderAt, size int64, maxDict int) (io.Reader, error) {
	blocks, err := walkXZ(&xzSource{r: r, size: size}, maxDict)
	if err != nil {
		return nil, err
	}
	return &xzReader{r: r, blocks: blocks}, nil
}

// walkXZ checks the container structure of an xz file and returns its
// blocks.
func walkXZ(s *xzSource, maxDict int) ([]xzBlock, error) {
	var blocks []xzBlock
	off := int64(0)
	for {
		h, err := s.at(off, 12)
		if err != nil {
			return nil, err
		}
		if string(h[:6]) != xzHeaderMagic {
			return nil, xzCorrupt("no stream header at %d", off)
		}
		flags := [2]byte{h[6], h[7]}
		if crc32.ChecksumIEEE(flags[:]) != binary.LittleEndian.Uint32(h[8:12]) {
			return nil, xzCorrupt("stream header CRC mismatch")
		}
		if flags[0] != 0 || flags[1]&0xf0 != 0 {
			return nil, errf(ErrUnsupported, "unsupported xz stream flags %#x", flags)
		}
		check := flags[1]
		if check != 0 && newXZCheck(check) == nil {
			return nil, errf(ErrUnsupported, "unsupported xz check type %d", check)
		}
		checkSize := xzCheckSize(check)
		off += 12

		first := len(blocks)
		var unpadded []int64
		for {
			c, err := s.byteAt(off)
			if err != nil {
				return nil, err
			}
			if c == 0 { // index indicator
				break
			}
			if len(blocks) == xzMaxBlocks {
				return nil, errf(ErrTooLarge, "more than %d xz blocks", xzMaxBlocks)
			}
			hlen := (int64(c) + 1) * 4
			hb, err := s.at(off, hlen)
			if err != nil {
				return nil, err
			}
			hdr := bytes.Clone(hb)
			if crc32.ChecksumIEEE(hdr[:hlen-4]) != binary.LittleEndian.Uint32(hdr[hlen-4:]) {
				return nil, xzCorrupt("block header CRC mismatch at %d", off)
			}
			dict, compSize, uncompSize, err := parseXZBlockHeader(hdr[:hlen-4])
			if err != nil {
				return nil, err
			}
			if dict > maxDict {
				return nil, errf(ErrTooLarge, "xz dictionary of %d bytes, more than %d", dict, maxDict)
			}
			b := xzBlock{dataOff: off + hlen, dict: dict, check: check, size: uncompSize}
			end, err := walkLZMA2(s, b.dataOff)
			if err != nil {
				return nil, err
			}
			b.dataLen = end - b.dataOff
			if compSize >= 0 && compSize != b.dataLen {
				return nil, xzCorrupt("block at %d: compressed size %d, header says %d", off, b.dataLen, compSize)
			}
			pad := (4 - (hlen+b.dataLen)%4) % 4
			p, err := s.at(end, pad)
			if err != nil {
				return nil, err
			}
			if !allZero(p) {
				return nil, xzCorrupt("non-zero block padding at %d", end)
			}
			b.checkOff = end + pad
			if _, err := s.at(b.checkOff, checkSize); err != nil {
				return nil, err
			}
			blocks = append(blocks, b)
			unpadded = append(unpadded, hlen+b.dataLen+checkSize)
			off = b.checkOff + checkSize
		}

		// Index: indicator, record count, records, padding, CRC32.
		indexOff := off
		n, next, err := s.varint(off + 1)
		if err != nil {
			return nil, err
		}
		if n != uint64(len(blocks)-first) {
			return nil, xzCorrupt("index lists %d blocks, the stream has %d", n, len(blocks)-first)
		}
		off = next
		for i := first; i < len(blocks); i++ {
			var u, size uint64
			if u, off, err = s.varint(off); err != nil {
				return nil, err
			}
			if size, off, err = s.varint(off); err != nil {
				return nil, err
			}
			if u != uint64(unpadded[i-first]) {
				return nil, xzCorrupt("index: block %d is %d bytes, index says %d", i, unpadded[i-first], u)
			}
			if size >= 1<<62 || blocks[i].size >= 0 && uint64(blocks[i].size) != size {
				return nil, xzCorrupt("index: block %d: bad uncompressed size %d", i, size)
			}
			blocks[i].size = int64(size)
		}
		pad := (4 - (off-indexOff)%4) % 4
		p, err := s.at(off, pad)
		if err != nil {
			return nil, err
		}
		if !allZero(p) {
			return nil, xzCorrupt("non-zero index padding")
		}
		off += pad
		indexLen := off - indexOff
		if indexLen > 1<<20 {
			return nil, errf(ErrTooLarge, "xz index of %d bytes", indexLen)
		}
		idx, err := s.at(indexOff, indexLen+4)
		if err != nil {
			return nil, err
		}
		if crc32.ChecksumIEEE(idx[:indexLen]) != binary.LittleEndian.Uint32(idx[indexLen:]) {
			return nil, xzCorrupt("index CRC mismatch")
		}
		off += 4

		// Footer: CRC32, backward size, flags, magic.
		f, err := s.at(off, 12)
		if err != nil {
			return nil, err
		}
		if crc32.ChecksumIEEE(f[4:10]) != binary.LittleEndian.Uint32(f[:4]) {
			return nil, xzCorrupt("stream footer CRC mismatch")
		}
		if (int64(binary.LittleEndian.Uint32(f[4:8]))+1)*4 != indexLen+4 {
			return nil, xzCorrupt("stream footer: wrong index size")
		}
		if f[8] != flags[0] || f[9] != flags[1] || string(f[10:12]) != xzFooterMagic {
			return nil, xzCorrupt("bad stream footer")
		}
		off += 12

		// Stream padding (groups of four zero bytes), then the end or
		// another stream.
		for off < s.size {
			p, err := s.at(off, 4)
			if err != nil {
				return nil, xzCorrupt("bad stream padding")
			}
			if !allZero(p) {
				break
			}
			off += 4
		}
		if off == s.size {
			return blocks, nil
		}
		if s.size-off < 12 {
			return nil, xzCorrupt("%d bytes of garbage after the stream", s.size-off)
		}
	}
}

// parseXZBlockHeader reads a block header (without its CRC32): the
// dictionary size of its only filter, LZMA2, and the compressed and
// uncompressed sizes it announces (-1 when absent).
func parseXZBlockHeader(h []byte) (dict int, compSize, uncompSize int64, err error) {
	flags := h[1]
	if flags&0x3c != 0 {
		return 0, 0, 0, errf(ErrUnsupported, "unsupported xz block flags %#x", flags)
	}
	compSize, uncompSize = -1, -1
	i := 2
	if flags&0x40 != 0 {
		var v uint64
		if v, i, err = sliceVarint(h, i); err != nil {
			return 0, 0, 0, err
		}
		if v == 0 || v >= 1<<62 {
			return 0, 0, 0, xzCorrupt("bad compressed size in a block header")
		}
		compSize = int64(v)
	}
	if flags&0x80 != 0 {
		var v uint64
		if v, i, err = sliceVarint(h, i); err != nil {
			return 0, 0, 0, err
		}
		if v >= 1<<62 {
			return 0, 0, 0, xzCorrupt("bad uncompressed size in a block header")
		}
		uncompSize = int64(v)
	}
	if nf := flags&3 + 1; nf != 1 {
		return 0, 0, 0, errf(ErrUnsupported, "xz block with %d filters (only LZMA2 alone is supported)", nf)
	}
	id, i, err := sliceVarint(h, i)
	if err != nil {
		return 0, 0, 0, err
	}
	if id != 0x21 {
		return 0, 0, 0, errf(ErrUnsupported, "unsupported xz filter %#x (only LZMA2 is supported)", id)
	}
	psize, i, err := sliceVarint(h, i)
	if err != nil {
		return 0, 0, 0, err
	}
	if psize != 1 || i >= len(h) {
		return 0, 0, 0, xzCorrupt("bad LZMA2 filter properties")
	}
	d := h[i]
	i++
	if d > 40 {
		return 0, 0, 0, xzCorrupt("bad LZMA2 dictionary size %d", d)
	}
	if !allZero(h[i:]) {
		return 0, 0, 0, xzCorrupt("non-zero block header padding")
	}
	if d == 40 {
		return 1<<32 - 1, compSize, uncompSize, nil
	}
	return (2 | int(d&1)) << (d/2 + 11), compSize, uncompSize, nil
}

// walkLZMA2 follows the chunk headers of LZMA2 data starting at off and
// returns the offset after its end marker.
func walkLZMA2(s *xzSource, off int64) (int64, error) {
	for first := true; ; first = false {
		c, err := s.byteAt(off)
		if err != nil {
			return 0, err
		}
		switch {
		case c == 0:
			if first {
				return 0, xzCorrupt("empty LZMA2 data at %d", off)
			}
			return off + 1, nil
		case c == 1 || c == 2: // uncompressed chunk
			h, err := s.at(off+1, 2)
			if err != nil {
				return 0, err
			}
			off += 3 + int64(binary.BigEndian.Uint16(h)) + 1
		case c >= 0x80: // LZMA chunk
			h, err := s.at(off+1, 4)
			if err != nil {
				return 0, err
			}
			off += 5 + int64(binary.BigEndian.Uint16(h[2:])) + 1
			if c >= 0xc0 { // properties byte
				off++
			}
		default:
			return 0, xzCorrupt("bad LZMA2 chunk type %#x at %d", c, off)
		}
		if off > s.size {
			return 0, errf(ErrTruncated, "xz data ends at %d, inside an LZMA2 chunk", s.size)
		}
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// xzReader decompresses the blocks walkXZ found, one after the other.
type xzReader struct {
	r      io.ReaderAt
	blocks []xzBlock
	i      int
	cur    *lzma.Reader2
	check  hash.Hash
	n      int64 // bytes of the current block read so far
	err    error
}

func (x *xzReader) Read(p []byte) (int, error) {
	if x.err != nil {
		return 0, x.err
	}
	n, err := x.read(p)
	x.err = err
	if err == nil && n == 0 && len(p) > 0 {
		x.err = xzCorrupt("no progress")
	}
	return n, x.err
}

func (x *xzReader) read(p []byte) (int, error) {
	for {
		if x.i == len(x.blocks) {
			return 0, io.EOF
		}
		b := &x.blocks[x.i]
		if x.cur == nil {
			// Each block starts with a dictionary reset, so no match
			// reaches further back than the block's own output: a
			// dictionary larger than that is never needed.
			dict := int(min(int64(b.dict), b.size))
			lr, err := lzma.Reader2Config{DictCap: max(dict, lzma.MinDictCap)}.NewReader2(
				io.NewSectionReader(x.r, b.dataOff, b.dataLen))
			if err != nil {
				return 0, xzCorrupt("block %d: %v", x.i, err)
			}
			x.cur, x.check, x.n = lr, newXZCheck(b.check), 0
		}
		n, err := x.cur.Read(p)
		if int64(n) > b.size-x.n {
			return 0, xzCorrupt("block %d is longer than the index says", x.i)
		}
		x.n += int64(n)
		if x.check != nil {
			x.check.Write(p[:n])
		}
		if errors.Is(err, io.EOF) {
			if err := x.finishBlock(b); err != nil {
				return 0, err
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			return 0, xzCorrupt("block %d: %v", x.i, err)
		}
		if n > 0 || len(p) == 0 {
			return n, nil
		}
	}
}

// finishBlock checks the size and the check of the block just read.
func (x *xzReader) finishBlock(b *xzBlock) error {
	if x.n != b.size {
		return xzCorrupt("block %d is %d bytes long, the index says %d", x.i, x.n, b.size)
	}
	if x.check != nil {
		want := make([]byte, xzCheckSize(b.check))
		if _, err := x.r.ReadAt(want, b.checkOff); err != nil {
			return wrapf(ErrInvalid, err, "read xz check")
		}
		got := x.check.Sum(nil)
		if b.check != 10 { // CRC32 and CRC64 are stored little-endian
			for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
				got[i], got[j] = got[j], got[i]
			}
		}
		if !bytes.Equal(got, want) {
			return xzCorrupt("block %d: check mismatch", x.i)
		}
	}
	x.cur, x.check = nil, nil
	x.i++
	return nil
}

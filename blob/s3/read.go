package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/minio/minio-go/v7"

	"github.com/aptsnap/aptsnap/blob"
)

// Open implements blob.Store. It GETs the whole file: the returned reader
// streams it, and a Read after a Seek elsewhere issues a ranged GET from
// there.
func (s *Store) Open(ctx context.Context, d blob.Digest) (io.ReadSeekCloser, blob.Info, error) {
	body, oi, _, err := s.core.GetObject(ctx, s.bucket, s.Key(d), minio.GetObjectOptions{})
	if err != nil {
		return nil, blob.Info{}, wrap(ctx, "open "+d.String(), d, err)
	}
	if oi.Size < 0 {
		body.Close()
		return nil, blob.Info{}, fmt.Errorf("blob: s3: open %s: the server did not say the size", d)
	}
	o := &object{s: s, ctx: ctx, d: d, size: oi.Size, body: body}
	return o, blob.Info{Digest: d, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// drainLimit is the most an object reads and discards from a stream it
// leaves, to keep its connection for the next request rather than close it.
const drainLimit = 64 << 10

// object is an open stored file.
type object struct {
	s       *Store
	ctx     context.Context
	d       blob.Digest
	size    int64
	pos     int64         // where the next Read reads
	body    io.ReadCloser // nil, or a response body streaming from bodyPos
	bodyPos int64
	closed  bool
}

func (o *object) Read(p []byte) (int, error) {
	if o.closed {
		return 0, os.ErrClosed
	}
	if o.pos >= o.size {
		return 0, io.EOF
	}
	if o.body != nil && o.bodyPos != o.pos {
		o.drop()
	}
	if o.body == nil {
		var opts minio.GetObjectOptions
		if o.pos > 0 {
			opts.SetRange(o.pos, 0) // bytes=pos-
		}
		body, _, _, err := o.s.core.GetObject(o.ctx, o.s.bucket, o.s.Key(o.d), opts)
		if err != nil {
			return 0, wrap(o.ctx, "read "+o.d.String(), o.d, err)
		}
		o.body, o.bodyPos = body, o.pos
	}
	if rest := o.size - o.pos; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := o.body.Read(p)
	o.pos += int64(n)
	o.bodyPos = o.pos
	if errors.Is(err, io.EOF) && o.pos < o.size {
		err = fmt.Errorf("blob: s3: read %s: %w at %d of %d bytes", o.d, io.ErrUnexpectedEOF, o.pos, o.size)
	} else if err != nil && !errors.Is(err, io.EOF) {
		err = wrap(o.ctx, "read "+o.d.String(), o.d, err)
	}
	return n, err
}

// drop ends the current stream, reading what little is left of it so that
// its connection serves again.
func (o *object) drop() {
	if rest := o.size - o.bodyPos; rest <= drainLimit {
		io.Copy(io.Discard, io.LimitReader(o.body, rest))
	}
	o.body.Close()
	o.body = nil
}

func (o *object) Seek(offset int64, whence int) (int64, error) {
	if o.closed {
		return 0, os.ErrClosed
	}
	pos := offset
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		pos += o.pos
	case io.SeekEnd:
		pos += o.size
	default:
		return 0, fmt.Errorf("blob: s3: seek: invalid whence %d", whence)
	}
	if pos < 0 {
		return 0, fmt.Errorf("blob: s3: seek to %d: negative position", pos)
	}
	o.pos = pos
	return pos, nil
}

func (o *object) Close() error {
	if o.closed {
		return os.ErrClosed
	}
	o.closed = true
	if o.body != nil {
		o.drop()
	}
	return nil
}

// ReadFile implements blob.Store with one GET. It reads no more than the
// size the server announced.
func (s *Store) ReadFile(ctx context.Context, d blob.Digest, buf []byte) ([]byte, error) {
	body, oi, _, err := s.core.GetObject(ctx, s.bucket, s.Key(d), minio.GetObjectOptions{})
	if err != nil {
		return buf, wrap(ctx, "read "+d.String(), d, err)
	}
	defer body.Close()
	if oi.Size < 0 {
		return buf, fmt.Errorf("blob: s3: read %s: the server did not say the size", d)
	}
	n := len(buf)
	buf = slices.Grow(buf, int(oi.Size))[:n+int(oi.Size)]
	if _, err := io.ReadFull(body, buf[n:]); err != nil {
		return buf[:n], wrap(ctx, "read "+d.String(), d, err)
	}
	return buf, nil
}

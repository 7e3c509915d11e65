package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/aptsnap/aptsnap/blob"
)

// contentType is what objects are stored as: serving sets the real type
// from the file's name, which the content-addressed key has lost.
const contentType = "application/octet-stream"

// cleanupTimeout bounds the requests that clean up after a failed Put,
// which run even when the Put's context has ended.
const cleanupTimeout = 30 * time.Second

// Put implements blob.Store; see the package documentation for how.
func (s *Store) Put(ctx context.Context, r io.Reader, want blob.Digest, size int64) (blob.Info, error) {
	if !want.IsZero() {
		info, err := s.Stat(ctx, want)
		if err == nil && (size < 0 || info.Size == size) {
			return info, nil // already stored: r is not read
		}
		if err != nil && !errors.Is(err, blob.ErrNotFound) {
			return blob.Info{}, err
		}
	}
	if size >= 0 {
		r = io.LimitReader(r, size+1) // one byte more tells a longer body
	}
	ps := s.partSize
	if size > maxParts*ps {
		// Parts big enough for the whole file within S3's 10,000, in MiB.
		ps = (size/maxParts + 1<<20) &^ (1<<20 - 1)
	}
	// pctx ends the reading when an upload fails.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr := &partReader{r: ctxReader{pctx, r}}
	var buf *[]byte
	if size >= 0 && size < 64<<10 {
		b := make([]byte, size+1)
		buf = &b
	} else {
		buf = s.getBuf(ps)
	}
	n, last, err := pr.next(*buf)
	if err != nil {
		s.putBuf(buf)
		return blob.Info{}, wrap(ctx, "put: read", blob.Digest{}, err)
	}
	h := sha256.New()
	h.Write((*buf)[:n])
	if last {
		defer s.putBuf(buf)
		return s.putSmall(ctx, (*buf)[:n], want, size, h)
	}
	return s.putLarge(ctx, pctx, cancel, pr, buf, n, ps, want, size, h)
}

// mismatch returns the error for content of digest got and length n,
// or nil if it is what want and size ask.
func mismatch(got, want blob.Digest, n, size int64) error {
	if (!want.IsZero() && got != want) || (size >= 0 && n != size) {
		return fmt.Errorf("%w: got sha256 %s size %d, want %s size %d", blob.ErrMismatch, got, n, want, size)
	}
	return nil
}

// putSmall stores a whole file held in memory with one PUT, which the
// server checks against its SHA-256.
func (s *Store) putSmall(ctx context.Context, data []byte, want blob.Digest, size int64, h hash.Hash) (blob.Info, error) {
	var got blob.Digest
	h.Sum(got[:0])
	n := int64(len(data))
	if err := mismatch(got, want, n, size); err != nil {
		return blob.Info{}, err
	}
	ui, err := s.core.PutObject(ctx, s.bucket, s.Key(got), bytes.NewReader(data), n, "", got.String(),
		minio.PutObjectOptions{ContentType: contentType, DisableContentSha256: true})
	if err != nil {
		return blob.Info{}, wrap(ctx, "put "+got.String(), blob.Digest{}, err)
	}
	return blob.Info{Digest: got, Size: n, ModTime: modTime(ui)}, nil
}

func modTime(ui minio.UploadInfo) time.Time {
	if ui.LastModified.IsZero() {
		return time.Now()
	}
	return ui.LastModified
}

// putLarge sends a file of more than one part as a multipart upload: to
// its final key if want is known, else to a temporary key it then copies.
// The first part, n bytes (hashed), is in buf, which putLarge now owns.
// pr reads under pctx, which cancel ends.
func (s *Store) putLarge(ctx, pctx context.Context, cancel func(), pr *partReader, buf *[]byte, n int, ps int64,
	want blob.Digest, size int64, h hash.Hash) (blob.Info, error) {
	key := s.tmpKey()
	if !want.IsZero() {
		key = s.Key(want)
	}
	id, err := s.core.NewMultipartUpload(ctx, s.bucket, key, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		s.putBuf(buf)
		return blob.Info{}, wrap(ctx, "put: start a multipart upload", blob.Digest{}, err)
	}
	completed := false
	defer func() {
		if !completed {
			// Also when ctx has ended; if this fails too, CleanTemp will.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			s.core.AbortMultipartUpload(cctx, s.bucket, key, id)
		}
	}()

	up := s.startUploader(pctx, cancel, key, id)
	total := int64(0)
	tooMany := false
	var rerr error
	for num := 1; ; num++ {
		total += int64(n)
		if size >= 0 && total > size {
			up.recycle(buf) // longer than said: no need to send it
			break
		}
		if num > maxParts {
			up.recycle(buf)
			tooMany = true
			break
		}
		up.send(num, buf, n)
		if pr.last {
			break
		}
		if buf = up.buffer(ps); buf == nil {
			break // a part's upload failed
		}
		if n, _, rerr = pr.next(*buf); rerr != nil {
			up.recycle(buf)
			break
		}
		h.Write((*buf)[:n])
	}
	parts := up.finish()
	switch {
	case ctx.Err() != nil:
		return blob.Info{}, wrap(ctx, "put", blob.Digest{}, ctx.Err())
	case up.err != nil:
		return blob.Info{}, wrap(ctx, "put: upload a part", blob.Digest{}, up.err)
	case rerr != nil:
		return blob.Info{}, wrap(ctx, "put: read", blob.Digest{}, rerr)
	case tooMany:
		return blob.Info{}, fmt.Errorf("blob: s3: put: more than %d parts of %d bytes", maxParts, ps)
	}
	var got blob.Digest
	h.Sum(got[:0])
	if err := mismatch(got, want, total, size); err != nil {
		return blob.Info{}, err
	}
	ui, err := s.core.CompleteMultipartUpload(ctx, s.bucket, key, id, parts, minio.PutObjectOptions{})
	if err != nil {
		return blob.Info{}, wrap(ctx, "put: complete a multipart upload", blob.Digest{}, err)
	}
	completed = true
	info := blob.Info{Digest: got, Size: total, ModTime: modTime(ui)}
	if !want.IsZero() {
		return info, nil
	}
	// The digest is known now: copy to the final key, then delete the
	// temporary one, whatever happens (or CleanTemp will, later).
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		s.client.RemoveObject(cctx, s.bucket, key, minio.RemoveObjectOptions{})
	}()
	src := minio.CopySrcOptions{Bucket: s.bucket, Object: key}
	dst := minio.CopyDestOptions{Bucket: s.bucket, Object: s.Key(got)}
	if total <= maxCopySize {
		ui, err = s.client.CopyObject(ctx, dst, src)
	} else {
		// A multipart copy (UploadPartCopy), in parts of up to 5 GiB.
		ui, err = s.client.ComposeObject(ctx, dst, src)
	}
	if err != nil {
		return blob.Info{}, wrap(ctx, "put: copy to "+got.String(), blob.Digest{}, err)
	}
	info.ModTime = modTime(ui)
	return info, nil
}

func (s *Store) getBuf(n int64) *[]byte {
	if n == s.partSize {
		return s.bufs.Get().(*[]byte)
	}
	b := make([]byte, n)
	return &b
}

func (s *Store) putBuf(b *[]byte) {
	if int64(len(*b)) == s.partSize {
		s.bufs.Put(b)
	}
}

// uploader uploads the parts of a multipart upload in a goroutine of its
// own, one at a time, while the next is read: two part buffers in use,
// the one being sent and the one being filled.
type uploader struct {
	s       *Store
	ctx     context.Context
	cancel  func() // ends the reading when an upload fails
	key, id string
	jobs    chan job
	free    chan *[]byte // buffers sent, to fill again
	done    chan struct{}
	nbufs   int
	failed  atomic.Bool
	// parts and err are written by the uploader's goroutine only: read
	// them after done.
	parts []minio.CompletePart
	err   error
}

type job struct {
	num int
	buf *[]byte
	n   int
}

func (s *Store) startUploader(ctx context.Context, cancel func(), key, id string) *uploader {
	u := &uploader{s: s, ctx: ctx, cancel: cancel, key: key, id: id,
		jobs: make(chan job), free: make(chan *[]byte, 2), done: make(chan struct{}), nbufs: 1}
	go u.run()
	return u
}

func (u *uploader) run() {
	defer close(u.done)
	for j := range u.jobs {
		if u.err == nil {
			data := (*j.buf)[:j.n]
			sum := sha256.Sum256(data)
			// The part's SHA-256 is signed (x-amz-content-sha256): the
			// server refuses a part that does not hash to it.
			p, err := u.s.core.PutObjectPart(u.ctx, u.s.bucket, u.key, u.id, j.num, bytes.NewReader(data), int64(j.n),
				minio.PutObjectPartOptions{Sha256Hex: hex.EncodeToString(sum[:]), DisableContentSha256: true})
			if err != nil {
				u.err = err
				u.failed.Store(true)
				u.cancel()
			} else {
				u.parts = append(u.parts, minio.CompletePart{PartNumber: j.num, ETag: p.ETag})
			}
		}
		u.free <- j.buf
	}
}

// send hands part num, the first n bytes of buf, to the uploader.
func (u *uploader) send(num int, buf *[]byte, n int) { u.jobs <- job{num, buf, n} }

// buffer returns a buffer of n bytes to fill: a new one while fewer than
// two are in use, else one whose part was sent; nil if an upload failed.
func (u *uploader) buffer(n int64) *[]byte {
	if u.nbufs < 2 {
		u.nbufs++
		return u.s.getBuf(n)
	}
	b := <-u.free
	if u.failed.Load() {
		u.recycle(b)
		return nil
	}
	return b
}

func (u *uploader) recycle(b *[]byte) { u.s.putBuf(b) }

// finish waits for the parts sent, recycles the buffers and returns the
// parts uploaded; u.err is then the first upload error.
func (u *uploader) finish() []minio.CompletePart {
	close(u.jobs)
	<-u.done
	for {
		select {
		case b := <-u.free:
			u.recycle(b)
		default:
			return u.parts
		}
	}
}

// partReader reads a body a part at a time and tells the last part: it
// reads one byte ahead.
type partReader struct {
	r       io.Reader
	ahead   [1]byte
	hasNext bool
	last    bool
}

// next fills buf, but for the last part; last tells that no byte follows.
func (p *partReader) next(buf []byte) (n int, last bool, err error) {
	if p.hasNext {
		buf[0] = p.ahead[0]
		n, p.hasNext = 1, false
	}
	m, err := io.ReadFull(p.r, buf[n:])
	n += m
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		p.last = true
		return n, true, nil
	case err != nil:
		return n, false, err
	}
	k, err := io.ReadFull(p.r, p.ahead[:])
	switch {
	case k == 1:
		p.hasNext = true
		return n, false, nil
	case err == io.EOF:
		p.last = true
		return n, true, nil
	default:
		return n, false, err
	}
}

// ctxReader stops reading when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

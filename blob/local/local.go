// Package local is the blob.Store in a directory of the local file system:
// the embedded default.
package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aptsnap/aptsnap/blob"
)

// Store is a blob.Store in a directory of the local file system:
//
//	ROOT/sha256/ab/abcdef...   one file per digest, 256 fan-out directories
//	ROOT/tmp/                  files being written
type Store struct {
	root string
}

var _ blob.Store = (*Store)(nil)

// Open opens (creating if needed) a local store rooted at dir and
// removes temporary files last written more than a day ago.
func Open(dir string) (*Store, error) {
	for _, d := range []string{filepath.Join(dir, "sha256"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("blob: %w", err)
		}
	}
	s := &Store{root: dir}
	s.CleanTemp(context.Background(), time.Now().Add(-24*time.Hour))
	return s, nil
}

// Root returns the store's directory.
func (s *Store) Root() string { return s.root }

// CleanTemp implements blob.Store.
func (s *Store) CleanTemp(ctx context.Context, before time.Time) error {
	ents, err := os.ReadDir(filepath.Join(s.root, "tmp"))
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(before) {
			os.Remove(filepath.Join(s.root, "tmp", e.Name()))
		}
	}
	return nil
}

// Path returns the file name of digest d.
func (s *Store) Path(d blob.Digest) string {
	h := d.String()
	return filepath.Join(s.root, "sha256", h[:2], h)
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, r io.Reader, want blob.Digest, size int64) (blob.Info, error) {
	if !want.IsZero() {
		if fi, err := os.Stat(s.Path(want)); err == nil && (size < 0 || fi.Size() == size) {
			// Already stored: drain nothing, the caller decides whether to read.
			return blob.Info{Digest: want, Size: fi.Size(), ModTime: fi.ModTime()}, nil
		}
	}
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "put-*")
	if err != nil {
		return blob.Info{}, fmt.Errorf("blob: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if tmp != "" {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	if size >= 0 {
		r = io.LimitReader(r, size+1) // one byte more tells a longer file
	}
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, r})
	if err != nil {
		return blob.Info{}, fmt.Errorf("blob: write: %w", err)
	}
	var got blob.Digest
	h.Sum(got[:0])
	if (!want.IsZero() && got != want) || (size >= 0 && n != size) {
		return blob.Info{}, fmt.Errorf("%w: got sha256 %s size %d, want %s size %d", blob.ErrMismatch, got, n, want, size)
	}
	if err := f.Sync(); err != nil {
		return blob.Info{}, fmt.Errorf("blob: fsync: %w", err)
	}
	if err := f.Close(); err != nil {
		return blob.Info{}, fmt.Errorf("blob: close: %w", err)
	}
	dst := s.Path(got)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return blob.Info{}, fmt.Errorf("blob: %w", err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return blob.Info{}, fmt.Errorf("blob: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return blob.Info{}, fmt.Errorf("blob: %w", err)
	}
	tmp = ""
	return blob.Info{Digest: got, Size: n, ModTime: time.Now()}, nil
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, d blob.Digest) (blob.Info, error) {
	fi, err := os.Stat(s.Path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return blob.Info{}, fmt.Errorf("%w: %s", blob.ErrNotFound, d)
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("blob: %w", err)
	}
	return blob.Info{Digest: d, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Open implements blob.Store.
func (s *Store) Open(ctx context.Context, d blob.Digest) (io.ReadSeekCloser, blob.Info, error) {
	f, err := os.Open(s.Path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, blob.Info{}, fmt.Errorf("%w: %s", blob.ErrNotFound, d)
	}
	if err != nil {
		return nil, blob.Info{}, fmt.Errorf("blob: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, blob.Info{}, fmt.Errorf("blob: %w", err)
	}
	return f, blob.Info{Digest: d, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// ReadFile implements blob.Store, with the fewest system calls: open, read
// until end of file, close.
func (s *Store) ReadFile(ctx context.Context, d blob.Digest, buf []byte) ([]byte, error) {
	fd, err := unix.Open(s.Path(d), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return buf, fmt.Errorf("%w: %s", blob.ErrNotFound, d)
	}
	if err != nil {
		return buf, fmt.Errorf("blob: %w", err)
	}
	defer unix.Close(fd)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return buf, fmt.Errorf("blob: read %s: %w", d, err)
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, d blob.Digest) error {
	err := os.Remove(s.Path(d))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

// Walk implements blob.Store.
func (s *Store) Walk(ctx context.Context, fn func(blob.Info) error) error {
	top := filepath.Join(s.root, "sha256")
	shards, err := os.ReadDir(top)
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	for _, sh := range shards {
		if err := ctx.Err(); err != nil {
			return err
		}
		ents, err := os.ReadDir(filepath.Join(top, sh.Name()))
		if err != nil {
			return fmt.Errorf("blob: %w", err)
		}
		for _, e := range ents {
			name := e.Name()
			if len(name) != 64 || !strings.HasPrefix(name, sh.Name()) {
				continue
			}
			var d blob.Digest
			if _, err := hex.Decode(d[:], []byte(name)); err != nil {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			if err := fn(blob.Info{Digest: d, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Sync implements blob.Store: it flushes the whole file system holding the store
// (syncfs), which also makes the renames of new files durable.
func (s *Store) Sync(ctx context.Context) error {
	f, err := os.Open(s.root)
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("blob: syncfs: %w", err)
	}
	return nil
}

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

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
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aptsnap/aptsnap/blob"
)

// Store is a blob.Store in a directory of the local file system:
//
//	ROOT/sha256/ab/abcdef...   one file per digest, 256 fan-out directories
//	ROOT/tmp/                  files being written
//	ROOT/unsynced-*            a process's files may not be durable yet
//
// Put does not flush each file: a first mirror stores tens of thousands
// and one fsync each was the largest part of its CPU time. Writers call
// Sync (one syncfs) before they commit a reference, so whatever the
// catalog references is durable. What a crash of the machine can leave
// behind is a file at its final name whose content never reached the
// disk, which the next Put of it would take as stored. So before its
// first unflushed file takes its name, a process creates and flushes an
// unsynced-* marker, held with flock while it lives and removed by the
// Sync that covers every such file; Open, finding a marker nobody holds,
// hashes every file written since it was made, deletes those that do not
// match their name, and removes it.
type Store struct {
	root string

	mu      sync.Mutex
	marker  *os.File // held while files written since the last Sync may not be durable
	seq     int64    // files given their name under the marker
	pending int      // Puts between taking the marker and naming their file
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
	if err := s.recover(); err != nil {
		return nil, err
	}
	s.CleanTemp(context.Background(), time.Now().Add(-24*time.Hour))
	return s, nil
}

// recover checks what processes that died with files not flushed left:
// for each marker nobody holds, every file written since it was made is
// hashed, and deleted if its content is not its name.
func (s *Store) recover() error {
	markers, _ := filepath.Glob(filepath.Join(s.root, "unsynced-*"))
	for _, m := range markers {
		f, err := os.Open(m)
		if err != nil {
			continue
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close() // its process lives
			continue
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			continue
		}
		since := fi.ModTime().Add(-2 * time.Second) // file times may lag
		var bad []blob.Digest
		err = s.Walk(context.Background(), func(info blob.Info) error {
			if info.ModTime.Before(since) {
				return nil
			}
			got, err := hashFile(s.Path(info.Digest))
			if err != nil || got != info.Digest {
				bad = append(bad, info.Digest)
			}
			return nil
		})
		if err == nil {
			for _, d := range bad {
				os.Remove(s.Path(d))
			}
			if err = s.syncfs(); err == nil {
				os.Remove(m)
			}
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("blob: checking the files a crashed process left unflushed (%s): %w", m, err)
		}
	}
	return nil
}

func hashFile(path string) (blob.Digest, error) {
	var d blob.Digest
	f, err := os.Open(path)
	if err != nil {
		return d, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return d, err
	}
	h.Sum(d[:0])
	return d, nil
}

// unflushed is called by Put before it names a file it has not flushed:
// it makes sure this process's marker exists (flushed, held), and counts
// the Put as pending until named (done).
func (s *Store) unflushed() (done func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.marker == nil {
		f, err := os.CreateTemp(s.root, "unsynced-*")
		if err != nil {
			return nil, fmt.Errorf("blob: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, fmt.Errorf("blob: lock %s: %w", f.Name(), err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, fmt.Errorf("blob: fsync: %w", err)
		}
		if err := syncDir(s.root); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, err
		}
		s.marker = f
	}
	s.pending++
	return func() {
		s.mu.Lock()
		s.pending--
		s.seq++
		s.mu.Unlock()
	}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("blob: fsync %s: %w", dir, err)
	}
	return nil
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
	bp := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(f, h), ctxReader{ctx, r}, *bp)
	copyBufs.Put(bp)
	if err != nil {
		return blob.Info{}, fmt.Errorf("blob: write: %w", err)
	}
	var got blob.Digest
	h.Sum(got[:0])
	if (!want.IsZero() && got != want) || (size >= 0 && n != size) {
		return blob.Info{}, fmt.Errorf("%w: got sha256 %s size %d, want %s size %d", blob.ErrMismatch, got, n, want, size)
	}
	if err := f.Close(); err != nil {
		return blob.Info{}, fmt.Errorf("blob: close: %w", err)
	}
	dst := s.Path(got)
	if err := os.Chmod(tmp, 0o644); err != nil {
		return blob.Info{}, fmt.Errorf("blob: %w", err)
	}
	named, err := s.unflushed()
	if err != nil {
		return blob.Info{}, err
	}
	err = os.Rename(tmp, dst)
	if errors.Is(err, fs.ErrNotExist) { // the fan-out directory's first file
		if err = os.MkdirAll(filepath.Dir(dst), 0o755); err == nil {
			err = os.Rename(tmp, dst)
		}
	}
	named()
	if err != nil {
		return blob.Info{}, fmt.Errorf("blob: %w", err)
	}
	tmp = ""
	return blob.Info{Digest: got, Size: n, ModTime: time.Now()}, nil
}

// copyBufs are Put's copy buffers: a first mirror stores tens of
// thousands of files, and a buffer each was most of what it allocated.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

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

// Walk implements blob.Store. It reads a shard's names and stats each
// file relative to the shard's descriptor, into one buffer: a store of
// 70,000 files is walked with a few MB of garbage, not 45 (what os.ReadDir
// and DirEntry.Info allocate), which is what a collection's memory was.
func (s *Store) Walk(ctx context.Context, fn func(blob.Info) error) error {
	top := filepath.Join(s.root, "sha256")
	shards, err := os.ReadDir(top)
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	var st unix.Stat_t
	var hexName [2 * sha256.Size]byte
	for _, sh := range shards {
		if err := ctx.Err(); err != nil {
			return err
		}
		dir, err := os.Open(filepath.Join(top, sh.Name()))
		if err != nil {
			return fmt.Errorf("blob: %w", err)
		}
		names, err := dir.Readdirnames(-1)
		if err != nil {
			dir.Close()
			return fmt.Errorf("blob: %w", err)
		}
		fd := int(dir.Fd())
		for _, name := range names {
			if len(name) != len(hexName) || !strings.HasPrefix(name, sh.Name()) {
				continue
			}
			var d blob.Digest
			copy(hexName[:], name)
			if _, err := hex.Decode(d[:], hexName[:]); err != nil {
				continue
			}
			if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				continue // removed meanwhile
			}
			if err := fn(blob.Info{Digest: d, Size: st.Size, ModTime: time.Unix(st.Mtim.Unix())}); err != nil {
				dir.Close()
				return err
			}
		}
		dir.Close()
	}
	return nil
}

// Sync implements blob.Store: it flushes the whole file system holding the store
// (syncfs), which also makes the renames of new files durable.
// Once every file named before it is flushed, the marker goes.
//
// With no marker at all (this process's or another's), every file is
// durable already, and nothing is done.
func (s *Store) Sync(ctx context.Context) error {
	s.mu.Lock()
	seq, pending, mine := s.seq, s.pending, s.marker != nil
	s.mu.Unlock()
	if !mine {
		if m, err := filepath.Glob(filepath.Join(s.root, "unsynced-*")); err == nil && len(m) == 0 {
			return nil
		}
	}
	if err := s.syncfs(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.marker != nil && pending == 0 && s.seq == seq {
		os.Remove(s.marker.Name())
		s.marker.Close()
		s.marker = nil
	}
	return nil
}

func (s *Store) syncfs() error {
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

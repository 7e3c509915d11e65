package index

import (
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/ulikunitz/xz"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/deb822"
)

// PoolFiles returns the pool files an index lists: Filename, Size and
// SHA256 of each stanza of a Packages index (kind "Packages"), or the
// Checksums-Sha256 files under Directory of a Sources index (kind
// "Sources"). Paths that could escape the archive are refused.
func PoolFiles(kind string, data []byte) ([]catalog.PoolEntry, error) {
	return poolFiles(kind, deb822.NewScanner(data))
}

// PoolFilesFrom is PoolFiles reading the index from r, holding one stanza
// at a time.
func PoolFilesFrom(kind string, r io.Reader) ([]catalog.PoolEntry, error) {
	return poolFiles(kind, deb822.NewStreamScanner(r))
}

func poolFiles(kind string, sc *deb822.Scanner) ([]catalog.PoolEntry, error) {
	if kind == "Sources" {
		return scanSources(sc)
	}
	return scanPackages(sc)
}

func parsePackages(data []byte) ([]catalog.PoolEntry, error) {
	return scanPackages(deb822.NewScanner(data))
}
func parseSources(data []byte) ([]catalog.PoolEntry, error) {
	return scanSources(deb822.NewScanner(data))
}

// Decompress returns a reader of the uncompressed content of an index
// file, by the extension of its name (none, .gz, .xz or .bz2).
func Decompress(name string, r io.Reader) (io.Reader, error) {
	switch path.Ext(name) {
	case ".gz":
		return gzip.NewReader(r)
	case ".xz":
		return xz.NewReader(r)
	case ".bz2":
		return bzip2.NewReader(r), nil
	case "", ".":
		return r, nil
	}
	if !strings.Contains(path.Base(name), ".") {
		return r, nil
	}
	return nil, fmt.Errorf("index: cannot decompress %s", path.Base(name))
}

// checkPoolPath refuses pool paths that could escape the archive.
func checkPoolPath(p string) error {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") ||
		strings.ContainsAny(p, "\\\x00\n") || strings.HasPrefix(p, "dists/") {
		return fmt.Errorf("unsafe pool path %q", p)
	}
	return nil
}

func scanPackages(sc *deb822.Scanner) ([]catalog.PoolEntry, error) {
	var out []catalog.PoolEntry
	for sc.Scan() {
		fn, sz, sum := sc.Field("Filename"), sc.Field("Size"), sc.Field("SHA256")
		if fn == nil {
			return nil, fmt.Errorf("line %d: stanza without Filename", sc.Line())
		}
		e, err := poolEntry(string(fn), string(sz), string(sum))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", sc.Line(), err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func scanSources(sc *deb822.Scanner) ([]catalog.PoolEntry, error) {
	var out []catalog.PoolEntry
	for sc.Scan() {
		dir := string(sc.Field("Directory"))
		sums := sc.Field("Checksums-Sha256")
		if dir == "" || sums == nil {
			return nil, fmt.Errorf("line %d: source stanza without Directory or Checksums-Sha256", sc.Line())
		}
		for line := range strings.SplitSeq(string(sums), "\n") {
			parts := strings.Fields(line)
			if len(parts) == 0 {
				continue
			}
			if len(parts) != 3 {
				return nil, fmt.Errorf("line %d: malformed Checksums-Sha256 line %q", sc.Line(), line)
			}
			e, err := poolEntry(dir+"/"+parts[2], parts[1], parts[0])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", sc.Line(), err)
			}
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func poolEntry(p, size, sum string) (catalog.PoolEntry, error) {
	if err := checkPoolPath(p); err != nil {
		return catalog.PoolEntry{}, err
	}
	d, err := blob.ParseDigest(sum)
	if err != nil {
		return catalog.PoolEntry{}, fmt.Errorf("%s: SHA256: %w", p, err)
	}
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil || n < 0 {
		return catalog.PoolEntry{}, fmt.Errorf("%s: bad Size %q", p, size)
	}
	return catalog.PoolEntry{Path: p, SHA256: d, Size: n}, nil
}

// DefaultMaxSize bounds the uncompressed size of an index whose Release
// lists no size for it: Debian's largest Packages index is under 100 MB.
const DefaultMaxSize = 256 << 20

// ErrTooLarge is returned (wrapped) for an index that decompresses to more
// than its bound: a decompression bomb, or an index listed larger than
// the bound.
var ErrTooLarge = errors.New("index: larger than allowed")

// Read returns the uncompressed content of a stored index file named name,
// reading no more than max bytes of it (DefaultMaxSize when max <= 0): an
// index decompressing to more is an error wrapping ErrTooLarge.
func Read(ctx context.Context, store blob.Store, name string, d blob.Digest, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxSize
	}
	rc, _, err := store.Open(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer rc.Close()
	r, err := Decompress(name, rc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: %w: decompresses to more than %d bytes", name, ErrTooLarge, max)
	}
	return data, nil
}

// ReadSuite returns the uncompressed content of the index at base
// ("main/binary-amd64/Packages") among a suite's files (by path), from
// the plain variant if the suite has it stored, else from .gz or .xz,
// bounded as Read.
func ReadSuite(ctx context.Context, store blob.Store, byPath map[string]catalog.IndexFile, base string, max int64) ([]byte, error) {
	for _, ext := range []string{"", ".gz", ".xz"} {
		if f, ok := byPath[base+ext]; ok {
			data, err := Read(ctx, store, f.Path, f.SHA256, max)
			if ext == "" && errors.Is(err, blob.ErrNotFound) {
				continue // derived (see OpenDerived)
			}
			return data, err
		}
	}
	return nil, fmt.Errorf("no readable variant of %s", base)
}

// Derivable are the compressed variants a plain index file is derived
// from, in order of preference: the fastest to decompress first.
var Derivable = []string{".gz", ".xz", ".bz2"}

// DerivedFrom returns the stored-or-not variant among a suite's files (by
// path) that the plain file at p would be derived from, if any: an
// uncompressed index upstream lists but does not serve (Debian lists
// every one, serves few) is listed in our Release too, as APT wants, and
// served decompressed from a compressed variant rather than stored.
func DerivedFrom(byPath map[string]catalog.IndexFile, p string) (catalog.IndexFile, bool) {
	switch path.Ext(p) {
	case ".gz", ".xz", ".bz2", ".lzma", ".lz4", ".zst":
		return catalog.IndexFile{}, false
	}
	for _, ext := range Derivable {
		if f, ok := byPath[p+ext]; ok {
			return f, true
		}
	}
	return catalog.IndexFile{}, false
}

// OpenDerived opens the plain file f of a suite, derived from its
// compressed variant from (see DerivedFrom): it reads no more than f.Size
// bytes, and a content of another size or checksum fails the read with
// blob.ErrMismatch at its end.
func OpenDerived(ctx context.Context, store blob.Store, f, from catalog.IndexFile) (io.ReadCloser, error) {
	rc, _, err := store.Open(ctx, from.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from.Path, err)
	}
	dr, err := Decompress(from.Path, rc)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("%s: %w", from.Path, err)
	}
	return &derived{r: io.LimitReader(dr, f.Size+1), c: rc, h: sha256.New(), f: f}, nil
}

type derived struct {
	r io.Reader
	c io.Closer
	h hash.Hash
	n int64
	f catalog.IndexFile
}

func (d *derived) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.h.Write(p[:n])
	d.n += int64(n)
	if d.n > d.f.Size {
		return n, fmt.Errorf("%s: %w: decompresses to more than the %d bytes listed", d.f.Path, blob.ErrMismatch, d.f.Size)
	}
	if err == io.EOF {
		var got blob.Digest
		d.h.Sum(got[:0])
		if d.n != d.f.Size || got != d.f.SHA256 {
			return n, fmt.Errorf("%s: %w: decompressed content is not the one listed", d.f.Path, blob.ErrMismatch)
		}
	}
	return n, err
}

func (d *derived) Close() error { return d.c.Close() }

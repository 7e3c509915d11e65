// Package blob is aptsnap's content-addressed file store.
//
// Every file aptsnap keeps (pool files, upstream index files, upstream
// InRelease files) is stored once, named by the SHA-256 of its content,
// whatever number of snapshots and archives reference it. A Store never
// exposes a partly written file: content is written to a temporary file,
// checked, flushed to disk and only then renamed into place.
//
// This package is the contract: blob/local is the local directory store
// (the default), blob/s3 one on S3-compatible object storage, and blob/blobtest is the
// conformance suite each passes.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
)

// Digest is the SHA-256 of a stored file's content.
type Digest [sha256.Size]byte

// String returns the digest in lower-case hex, as Release files write it.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// IsZero reports whether d is the zero digest (no digest).
func (d Digest) IsZero() bool { return d == Digest{} }

// ParseDigest parses a 64-character hex SHA-256.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*sha256.Size {
		return d, fmt.Errorf("blob: digest %q: want %d hex characters", s, 2*sha256.Size)
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("blob: digest %q: %w", s, err)
	}
	return d, nil
}

// Sum returns the digest of data.
func Sum(data []byte) Digest { return sha256.Sum256(data) }

// Info describes a stored file.
type Info struct {
	Digest  Digest
	Size    int64
	ModTime time.Time
}

// Errors a Store reports; match them with errors.Is.
var (
	// ErrNotFound: no file with that digest is stored.
	ErrNotFound = errors.New("blob: not found")
	// ErrMismatch: content did not have the expected digest or size.
	ErrMismatch = errors.New("blob: content does not match its expected digest or size")
)

// Store is a content-addressed file store.
type Store interface {
	// Put stores everything read from r. If want is not zero, the content
	// must hash to want; if size >= 0, it must be size bytes long, and no
	// more than size+1 bytes are read from r (an endless body stops
	// there). Otherwise nothing is stored and the error wraps ErrMismatch.
	// Storing content that is already present is cheap and not an error.
	Put(ctx context.Context, r io.Reader, want Digest, size int64) (Info, error)
	// Stat describes a stored file, or returns an error wrapping ErrNotFound.
	Stat(ctx context.Context, d Digest) (Info, error)
	// Open opens a stored file for reading. For the local store the
	// reader is an *os.File, so that serving it can use sendfile.
	Open(ctx context.Context, d Digest) (io.ReadSeekCloser, Info, error)
	// ReadFile appends a whole stored file to buf and returns the result:
	// for small files, cheaper than Open.
	ReadFile(ctx context.Context, d Digest, buf []byte) ([]byte, error)
	// Delete removes a stored file; deleting a missing file is not an error.
	Delete(ctx context.Context, d Digest) error
	// Walk calls fn for every stored file, in no particular order. fn may
	// Delete files Walk has reported (a sweep deletes as it walks): every
	// file stored for the whole walk is still reported, once.
	Walk(ctx context.Context, fn func(Info) error) error
	// Sync makes every file stored so far durable.
	Sync(ctx context.Context) error
	// CleanTemp removes files being written that were last touched before
	// t: left behind by writers that died.
	CleanTemp(ctx context.Context, before time.Time) error
}

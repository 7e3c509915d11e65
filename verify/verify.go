// Package verify checks an installation's live snapshots (time-based and
// tagged) as a client would find them: every file they reference is stored
// with its size and SHA-256, every index's pool files are recorded and
// stored, and every Release verifies against our key, InRelease and
// Release.gpg alike.
package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/pgp"
)

// Options configure a Verifier.
type Options struct {
	Catalog catalog.Catalog
	Store   blob.Store
	// Keyring holds the key our Release files are signed with.
	Keyring *pgp.Keyring
}

// Verifier checks snapshots.
type Verifier struct{ o Options }

// New returns a Verifier.
func New(o Options) *Verifier { return &Verifier{o: o} }

// Problem is one thing found wrong.
type Problem struct {
	Archive string
	Serial  string
	What    string
}

// Run checks that every file the selected snapshots reference is stored
// with the right size and SHA-256, and that their Release files verify with
// our key. Empty archive means all archives; empty serial all snapshots.
func (v *Verifier) Run(ctx context.Context, archive, serial string) ([]Problem, error) {
	archives := []string{archive}
	if archive == "" {
		var err error
		if archives, err = v.o.Catalog.Archives(ctx); err != nil {
			return nil, err
		}
	}
	kr := v.o.Keyring
	checked := map[blob.Digest]string{} // digest -> "" if good, else the problem
	check := func(d blob.Digest, size int64) string {
		if p, ok := checked[d]; ok {
			return p
		}
		p := v.checkBlob(ctx, d, size)
		checked[d] = p
		return p
	}
	probs := []Problem{}
	for _, arc := range archives {
		snaps, err := v.o.Catalog.Snapshots(ctx, arc)
		if err != nil {
			return nil, err
		}
		tags, err := v.o.Catalog.Tags(ctx) // tagged snapshots are live too
		if err != nil {
			return nil, err
		}
		for _, t := range tags {
			if t.Archive == arc {
				snaps = append(snaps, t)
			}
		}
		if serial != "" {
			s, err := v.o.Catalog.Snapshot(ctx, arc, serial)
			if err != nil {
				return nil, err
			}
			snaps = []catalog.Snapshot{s}
		}
		for _, s := range snaps {
			bad := func(format string, args ...any) {
				probs = append(probs, Problem{Archive: arc, Serial: s.Serial, What: fmt.Sprintf(format, args...)})
			}
			for _, name := range s.Suites {
				su, err := v.o.Catalog.Suite(ctx, s.ID, name)
				if err != nil {
					return nil, err
				}
				if pt, _, err := kr.VerifyClearsigned(su.InRelease); err != nil {
					bad("%s: InRelease: %v", name, err)
				} else if !bytes.Equal(bytes.TrimRight(pt, "\n"), bytes.TrimRight(su.Release, "\n")) {
					// A clearsigned text does not include its last line break.
					bad("%s: InRelease and Release differ", name)
				}
				if _, err := kr.VerifyDetached(su.Release, su.ReleaseGPG); err != nil {
					bad("%s: Release.gpg: %v", name, err)
				}
				for _, f := range su.Files {
					if p := check(f.SHA256, f.Size); p != "" {
						bad("%s: %s: %s", name, f.Path, p)
					}
				}
				for _, idx := range su.Indices {
					ids, err := v.o.Catalog.IndexMembers(ctx, idx)
					if err != nil {
						bad("%s: index %s: %v", name, idx, err)
						continue
					}
					files, err := v.o.Catalog.PoolFiles(ctx, ids)
					if err != nil {
						return nil, err
					}
					if len(files) != len(ids) {
						bad("%s: index %s lists %d pool files, the catalog has %d", name, idx, len(ids), len(files))
					}
					for _, f := range files {
						if p := check(f.SHA256, f.Size); p != "" {
							bad("%s: pool file sha256 %s: %s", name, f.SHA256, p)
						}
					}
				}
			}
		}
	}
	return probs, nil
}

func (v *Verifier) checkBlob(ctx context.Context, d blob.Digest, size int64) string {
	f, info, err := v.o.Store.Open(ctx, d)
	if err != nil {
		return "missing from the store"
	}
	defer f.Close()
	if info.Size != size {
		return fmt.Sprintf("stored size %d, want %d", info.Size, size)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Sprintf("read: %v", err)
	}
	var got blob.Digest
	h.Sum(got[:0])
	if got != d {
		return fmt.Sprintf("stored content has sha256 %s", got)
	}
	return ""
}

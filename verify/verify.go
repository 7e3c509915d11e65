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
	"path"
	"slices"
	"strings"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/index"
	"github.com/aptsnap/aptsnap/pgp"
)

// Options configure a Verifier.
type Options struct {
	Catalog catalog.Catalog
	Store   blob.Store
	// Keyring holds the key our Release files are signed with.
	Keyring *pgp.Keyring
	// MaxIndexSize bounds reading an index (index.DefaultMaxSize when zero).
	MaxIndexSize int64
}

// Verifier checks snapshots.
type Verifier struct{ o Options }

// New returns a Verifier.
func New(o Options) *Verifier { return &Verifier{o: o} }

// Report is what a run checked, and what it found wrong.
type Report struct {
	Problems []Problem
	// Snapshots, Files (distinct stored files), Bytes and Signatures
	// are what was checked.
	Snapshots, Files, Signatures int
	Bytes                        int64
}

// Problem is one thing found wrong.
type Problem struct {
	Archive string
	Serial  string
	What    string
}

// Run checks that every file the selected snapshots reference is stored
// with the right size and SHA-256, that every pool file their indices list
// resolves as a client asks for it (by path, in the snapshot's archive),
// and that their Release files verify with our key. Empty archive means
// all archives; empty serial all snapshots.
func (v *Verifier) Run(ctx context.Context, archive, serial string) (Report, error) {
	var rep Report
	probs, err := v.run(ctx, archive, serial, &rep)
	rep.Problems = probs
	return rep, err
}

func (v *Verifier) run(ctx context.Context, archive, serial string, rep *Report) ([]Problem, error) {
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
		rep.Files++
		rep.Bytes += max(size, 0)
		return p
	}
	type derivedKey struct{ plain, from blob.Digest }
	derivedChecked := map[derivedKey]string{}
	resolve := &resolver{v: v, done: map[archiveIndex][]string{}}
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
		rep.Snapshots += len(snaps)
		for _, s := range snaps {
			bad := func(format string, args ...any) {
				probs = append(probs, Problem{Archive: arc, Serial: s.Serial, What: fmt.Sprintf(format, args...)})
			}
			for _, name := range s.Suites {
				su, err := v.o.Catalog.Suite(ctx, s.ID, name)
				if err != nil {
					return nil, err
				}
				rep.Signatures += 2
				if pt, _, err := kr.VerifyClearsigned(su.InRelease); err != nil {
					bad("%s: InRelease: %v", name, err)
				} else if !bytes.Equal(bytes.TrimRight(pt, "\n"), bytes.TrimRight(su.Release, "\n")) {
					// A clearsigned text does not include its last line break.
					bad("%s: InRelease and Release differ", name)
				}
				if _, err := kr.VerifyDetached(su.Release, su.ReleaseGPG); err != nil {
					bad("%s: Release.gpg: %v", name, err)
				}
				byPath := make(map[string]catalog.IndexFile, len(su.Files))
				for _, f := range su.Files {
					byPath[f.Path] = f
				}
				for _, f := range su.Files {
					p := check(f.SHA256, f.Size)
					if from, ok := index.DerivedFrom(byPath, f.Path); ok && p == "missing from the store" {
						// Made from a stored variant: checked once per content,
						// as stored files are (a suite state recurs in snapshot
						// after snapshot).
						key := derivedKey{f.SHA256, from.SHA256}
						dp, seen := derivedChecked[key]
						if !seen {
							dp = v.checkDerived(ctx, f, from)
							derivedChecked[key] = dp
						}
						p = dp
					}
					if p != "" {
						bad("%s: %s: %s", name, f.Path, p)
					}
				}
				for _, p := range resolve.check(ctx, arc, su) {
					bad("%s: %s", name, p)
				}
				for _, idx := range su.Indices {
					ids, err := v.o.Catalog.IndexMembers(ctx, arc, idx)
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

// checkDerived checks a plain file served decompressed from another (see
// index.DerivedFrom).
func (v *Verifier) checkDerived(ctx context.Context, f, from catalog.IndexFile) string {
	rc, err := index.OpenDerived(ctx, v.o.Store, f, from)
	if err != nil {
		return fmt.Sprintf("made from %s: %v", path.Base(from.Path), err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Sprintf("made from %s: %v", path.Base(from.Path), err)
	}
	return ""
}

// archiveIndex is an index of an archive.
type archiveIndex struct {
	archive string
	index   blob.Digest
}

// resolver checks that the pool files each index lists resolve, once per
// index and archive.
type resolver struct {
	v    *Verifier
	done map[archiveIndex][]string
}

// check reads every Packages and Sources index of a suite whose pool files
// it serves and returns a problem for each listed file that a client
// asking the archive for its path would not get: no pool file of the
// archive under that path with that content among the index's members.
func (r *resolver) check(ctx context.Context, archive string, su catalog.Suite) []string {
	byPath := map[string]catalog.IndexFile{}
	bases := map[string]string{} // base path -> kind
	for _, f := range su.Files {
		byPath[f.Path] = f
		if strings.Contains(f.Path, "/by-hash/") {
			continue
		}
		base := strings.TrimSuffix(strings.TrimSuffix(f.Path, ".gz"), ".xz")
		if k := path.Base(base); k == "Packages" || k == "Sources" {
			bases[base] = k
		}
	}
	var out []string
	for base, kind := range bases {
		data, err := index.ReadSuite(ctx, r.v.o.Store, byPath, base, r.v.o.MaxIndexSize)
		if err != nil {
			continue // a missing or damaged file is a problem of its own
		}
		key := archiveIndex{archive, blob.Sum(data)}
		if !slices.Contains(su.Indices, key.index) {
			continue
		}
		probs, ok := r.done[key]
		if !ok {
			probs = r.resolve(ctx, archive, base, kind, key.index, data)
			r.done[key] = probs
		}
		out = append(out, probs...)
	}
	slices.Sort(out)
	return out
}

func (r *resolver) resolve(ctx context.Context, archive, base, kind string, d blob.Digest, data []byte) []string {
	entries, err := index.PoolFiles(kind, data)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", base, err)}
	}
	ids, err := r.v.o.Catalog.IndexMembers(ctx, archive, d)
	if err != nil {
		return []string{fmt.Sprintf("%s: the catalog records no pool files of it for %s: %v", base, archive, err)}
	}
	var out []string
	for _, e := range entries {
		cands, err := r.v.o.Catalog.LookupPool(ctx, archive, e.Path)
		if err != nil {
			return append(out, fmt.Sprintf("%s: %v", base, err))
		}
		if !slices.ContainsFunc(cands, func(c catalog.PoolFile) bool {
			_, member := slices.BinarySearch(ids, c.ID)
			return member && c.SHA256 == e.SHA256
		}) {
			out = append(out, fmt.Sprintf("%s lists %s, which does not resolve in %s (a client gets 404)", base, e.Path, archive))
		}
	}
	return out
}

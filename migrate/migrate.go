// Package migrate copies an installation's storage into another: the
// stored files, then the catalog (every snapshot with its serial, creation
// time, Release files and pool records; tagged snapshots; pulse log;
// tokens; stable update requests; the shared key-value store), from the
// embedded default to PostgreSQL + S3 or back. It goes through the storage
// contracts only, so any pair of implementations works.
//
// A run is resumable: whatever the target holds already (a file by its
// digest, a snapshot by its serial, a request by its ID, a token by its
// name) is left as it is, so a run killed at any point is finished by the
// next. Files go first: a snapshot is copied only once every file it
// references is stored. The source should not change meanwhile (stop its
// servers); a second run copies what changed since.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/index"
)

// Side is one installation's storage.
type Side struct {
	Catalog catalog.Catalog
	Store   blob.Store
}

// Result counts what a run copied, and what it found already there.
type Result struct {
	Files, FilesThere         int
	Bytes                     int64
	Snapshots, SnapshotsThere int
	Pulses, Tokens, Requests  int
	Keys                      int
}

// Options configure a run.
type Options struct {
	// Parallel is how many files are copied at once (8 if zero).
	Parallel int
	// Log receives a line per step (slog.Default() if nil).
	Log *slog.Logger
	// Progress, if set, hears of each file copied.
	Progress func(files int, bytes int64)
}

// Run copies from into to.
func Run(ctx context.Context, from, to Side, o Options) (Result, error) {
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	var res Result
	if err := copyFiles(ctx, from.Store, to.Store, o, &res); err != nil {
		return res, err
	}
	// Durable before the catalog that references them.
	if err := to.Store.Sync(ctx); err != nil {
		return res, err
	}
	o.Log.Info("migrate: files", "copied", res.Files, "bytes", res.Bytes, "already_there", res.FilesThere)
	steps := []struct {
		name string
		f    func(context.Context, Side, Side, *Result) error
	}{
		{"snapshots", copySnapshots},
		{"pulses", copyPulses},
		{"tokens", copyTokens},
		{"requests", copyRequests},
		{"keys", copyKeys},
	}
	for _, st := range steps {
		if err := st.f(ctx, from, to, &res); err != nil {
			return res, fmt.Errorf("migrate %s: %w", st.name, err)
		}
	}
	o.Log.Info("migrate: catalog", "snapshots", res.Snapshots, "snapshots_there", res.SnapshotsThere, "pulses", res.Pulses,
		"tokens", res.Tokens, "requests", res.Requests, "keys", res.Keys)
	return res, nil
}

// copyFiles copies every stored file the target lacks, checked against
// its digest on the way in.
func copyFiles(ctx context.Context, from, to blob.Store, o Options, res *Result) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan blob.Info)
	var wg sync.WaitGroup
	var files, there atomic.Int64
	var bytes atomic.Int64
	for range o.Parallel {
		wg.Go(func() {
			for info := range work {
				copied, err := copyFile(ctx, from, to, info)
				if err != nil {
					cancel(fmt.Errorf("migrate: file %s: %w", info.Digest, err))
					return
				}
				if !copied {
					there.Add(1)
					continue
				}
				n, b := files.Add(1), bytes.Add(info.Size)
				if o.Progress != nil {
					o.Progress(int(n), b)
				}
			}
		})
	}
	err := from.Walk(ctx, func(info blob.Info) error {
		select {
		case work <- info:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(work)
	wg.Wait()
	res.Files, res.FilesThere, res.Bytes = int(files.Load()), int(there.Load()), bytes.Load()
	if cerr := context.Cause(ctx); cerr != nil && !errors.Is(cerr, context.Canceled) {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("migrate: walking the source's files: %w", err)
	}
	return ctx.Err()
}

func copyFile(ctx context.Context, from, to blob.Store, info blob.Info) (bool, error) {
	if _, err := to.Stat(ctx, info.Digest); err == nil {
		return false, nil
	} else if !errors.Is(err, blob.ErrNotFound) {
		return false, err
	}
	r, _, err := from.Open(ctx, info.Digest)
	if err != nil {
		return false, err
	}
	defer r.Close()
	_, err = to.Put(ctx, io.Reader(r), info.Digest, info.Size)
	return err == nil, err
}

// copySnapshots copies every snapshot, oldest first per archive, then the
// tagged ones.
func copySnapshots(ctx context.Context, from, to Side, res *Result) error {
	archives, err := from.Catalog.Archives(ctx)
	if err != nil {
		return err
	}
	for _, archive := range archives {
		snaps, err := from.Catalog.Snapshots(ctx, archive)
		if err != nil {
			return err
		}
		for _, s := range snaps {
			if err := copySnapshot(ctx, from, to, s, "", res); err != nil {
				return fmt.Errorf("%s/%s: %w", s.Archive, s.Serial, err)
			}
		}
		// A custom archive's working state (changes not published yet).
		if w, err := from.Catalog.Snapshot(ctx, archive, catalog.TagSerial(catalog.WorkingTag)); err == nil {
			if err := copySnapshot(ctx, from, to, w, catalog.WorkingTag, res); err != nil {
				return fmt.Errorf("%s working state: %w", archive, err)
			}
		} else if !errors.Is(err, catalog.ErrNotFound) {
			return err
		}
		untracked, err := from.Catalog.Untracked(ctx, archive)
		if err != nil {
			return err
		}
		if len(untracked) > 0 {
			if _, err := to.Catalog.Untrack(ctx, archive, untracked...); err != nil {
				return err
			}
		}
	}
	tags, err := from.Catalog.Tags(ctx)
	if err != nil {
		return err
	}
	for _, s := range tags {
		if err := copySnapshot(ctx, from, to, s, strings.TrimPrefix(s.Serial, "@"), res); err != nil {
			return fmt.Errorf("%s/%s: %w", s.Archive, s.Serial, err)
		}
	}
	return nil
}

func copySnapshot(ctx context.Context, from, to Side, s catalog.Snapshot, tag string, res *Result) error {
	if _, err := to.Catalog.Snapshot(ctx, s.Archive, s.Serial); err == nil {
		res.SnapshotsThere++
		return nil
	} else if !errors.Is(err, catalog.ErrNotFound) {
		return err
	}
	ns := catalog.NewSnapshot{Archive: s.Archive, Tag: tag, Created: s.Created, ValidUntil: s.ValidUntil}
	if tag == "" {
		ns.Serial = s.Serial
	}
	for _, name := range s.Suites {
		su, err := from.Catalog.Suite(ctx, s.ID, name)
		if err != nil {
			return err
		}
		nsu := catalog.NewSuite{Name: su.Name, UpstreamDate: su.UpstreamDate, Upstream: su.Upstream, Files: su.Files,
			Indices: su.Indices, Release: su.Release, InRelease: su.InRelease, ReleaseGPG: su.ReleaseGPG}
		known, err := to.Catalog.KnownIndices(ctx, s.Archive, su.Indices)
		if err != nil {
			return err
		}
		var unknown []blob.Digest
		for _, d := range su.Indices {
			if !known[d] {
				unknown = append(unknown, d)
			}
		}
		if len(unknown) > 0 {
			// The catalog keeps no pool paths by themselves: they are read
			// again from the indices, as the pulse that made them did.
			if nsu.NewIndices, err = poolEntries(ctx, from.Store, su, unknown); err != nil {
				return err
			}
		}
		ns.Suites = append(ns.Suites, nsu)
	}
	got, err := to.Catalog.CreateSnapshot(ctx, ns)
	if err != nil {
		return err
	}
	if got.Serial != s.Serial {
		return fmt.Errorf("copied as %s: the target gave another serial", got.Serial)
	}
	res.Snapshots++
	return nil
}

// poolEntries reads the pool entries of the given indices (digests of
// uncompressed Packages or Sources) from the suite's index files.
func poolEntries(ctx context.Context, store blob.Store, su catalog.Suite, want []blob.Digest) (map[blob.Digest][]catalog.PoolEntry, error) {
	byPath := map[string]catalog.IndexFile{}
	bases := map[string]bool{}
	for _, f := range su.Files {
		byPath[f.Path] = f
		if strings.Contains(f.Path, "/by-hash/") {
			continue
		}
		base := strings.TrimSuffix(strings.TrimSuffix(f.Path, ".gz"), ".xz")
		if b := path.Base(base); b == "Packages" || b == "Sources" {
			bases[base] = true
		}
	}
	missing := map[blob.Digest]bool{}
	for _, d := range want {
		missing[d] = true
	}
	out := map[blob.Digest][]catalog.PoolEntry{}
	for _, base := range slices.Sorted(maps.Keys(bases)) {
		data, err := index.ReadSuite(ctx, store, byPath, base, index.DefaultMaxSize)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", base, err)
		}
		d := blob.Sum(data)
		if !missing[d] {
			continue
		}
		entries, err := index.PoolFiles(path.Base(base), data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", base, err)
		}
		out[d] = entries
		delete(missing, d)
	}
	for d := range missing {
		return nil, fmt.Errorf("suite %s: no index file of it has the content %s", su.Name, d)
	}
	return out, nil
}

// maxPulses bounds the pulse log copied per archive.
const maxPulses = 10000

// copyPulses copies each archive's pulse log: the pulses that started
// after the newest the target has.
func copyPulses(ctx context.Context, from, to Side, res *Result) error {
	archives, err := from.Catalog.Archives(ctx)
	if err != nil {
		return err
	}
	for _, archive := range archives {
		have, err := to.Catalog.Pulses(ctx, archive, 1)
		if err != nil {
			return err
		}
		ps, err := from.Catalog.Pulses(ctx, archive, maxPulses)
		if err != nil {
			return err
		}
		for i := len(ps) - 1; i >= 0; i-- { // oldest first
			if len(have) > 0 && !ps[i].Started.After(have[0].Started) {
				continue
			}
			if err := to.Catalog.RecordPulse(ctx, ps[i]); err != nil {
				return err
			}
			res.Pulses++
		}
	}
	return nil
}

func copyTokens(ctx context.Context, from, to Side, res *Result) error {
	have, err := to.Catalog.ListTokens(ctx)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, t := range have {
		names[t.Name] = true
	}
	list, err := from.Catalog.ListTokens(ctx)
	if err != nil {
		return err
	}
	for _, t := range list {
		if names[t.Name] {
			continue
		}
		if _, err := to.Catalog.CreateToken(ctx, t.Name, t.Role, t.SecretHash); err != nil {
			return err
		}
		res.Tokens++
	}
	return nil
}

func copyRequests(ctx context.Context, from, to Side, res *Result) error {
	list, err := from.Catalog.Requests(ctx, "", "")
	if err != nil {
		return err
	}
	for _, r := range list {
		_, err := to.Catalog.CreateRequest(ctx, catalog.Request{ID: r.ID, Series: r.Series, State: r.State, Doc: r.Doc, Files: r.Files})
		if errors.Is(err, errdefs.ErrExists) {
			continue
		}
		if err != nil {
			return fmt.Errorf("request %d: %w", r.ID, err)
		}
		res.Requests++
	}
	return nil
}

// copyKeys copies the key-value store (ACME storage), where both sides
// have one.
func copyKeys(ctx context.Context, from, to Side, res *Result) error {
	src, ok1 := from.Catalog.(catalog.KV)
	dst, ok2 := to.Catalog.(catalog.KV)
	if !ok1 || !ok2 {
		return nil
	}
	keys, err := src.KVList(ctx, "")
	if err != nil {
		return err
	}
	for _, k := range keys {
		v, _, err := src.KVGet(ctx, k)
		if err != nil {
			return err
		}
		if err := dst.KVPut(ctx, k, v); err != nil {
			return err
		}
		res.Keys++
	}
	return nil
}

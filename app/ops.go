package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/datadir"
	"github.com/aptsnap/aptsnap/lock"
	"github.com/aptsnap/aptsnap/web"
)

var _ api.Ops = (*App)(nil)

func apiSnapshot(s catalog.Snapshot) api.Snapshot {
	return api.Snapshot{Archive: s.Archive, Serial: s.Serial, Created: s.Created, ValidUntil: s.ValidUntil, Suites: s.Suites}
}

// locker is the App's Locker, by default flock on files in the data directory.
func (a *App) locker() lock.Locker {
	if a.Locker != nil {
		return a.Locker
	}
	return lock.NewFlock(datadir.Dir(a.Config.DataDir).Locks())
}

// deleteAll deletes stored files a few at a time: freeing a large file's
// blocks is file system work that overlaps well with the next unlink. It
// stops at the first error or when ctx ends, and returns what it deleted.
func (a *App) deleteAll(ctx context.Context, infos []blob.Info) (files int, bytes int64, err error) {
	const workers = 4
	ch := make(chan blob.Info)
	errs := make(chan error, workers)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for info := range ch {
				if err := a.Store.Delete(ctx, info.Digest); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				files++
				bytes += info.Size
				mu.Unlock()
			}
		})
	}
feed:
	for _, info := range infos {
		select {
		case ch <- info:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(ch)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return files, bytes, err
}

// sidecarDir holds the web UI's package list per index.
func (a *App) sidecarDir() string { return filepath.Join(a.Config.DataDir, "cache", "packages") }

func (a *App) invalidate() {
	if a.server != nil {
		a.server.Invalidate()
	}
}

// Snapshots implements api.Ops.
func (a *App) Snapshots(ctx context.Context, archive string) ([]api.Snapshot, error) {
	names := []string{archive}
	if archive == "" {
		names = a.Config.Names()
	}
	out := []api.Snapshot{}
	for _, n := range names {
		snaps, err := a.Catalog.Snapshots(ctx, n)
		if err != nil {
			return nil, err
		}
		for _, s := range snaps {
			out = append(out, apiSnapshot(s))
		}
	}
	return out, nil
}

// Bump implements api.Ops: Valid-Until becomes now + days and the
// snapshot's Release files are signed again; their Date stays.
func (a *App) Bump(ctx context.Context, archive, serial string, days int) (api.BumpResult, error) {
	prev, snap, err := a.publisher().Bump(ctx, archive, serial, days)
	if err != nil {
		return api.BumpResult{}, err
	}
	a.invalidate()
	a.Log.Info("bumped", "archive", archive, "serial", serial, "valid_until", snap.ValidUntil, "previous", prev.ValidUntil)
	return api.BumpResult{Snapshot: apiSnapshot(snap), Previous: prev.ValidUntil}, nil
}

// GC implements api.Ops. It deletes expired snapshots and what only they
// referenced from the catalog in one transaction, then sweeps the store of
// files no snapshot references. A file written since the oldest running
// pulse started is never swept (that pulse may be about to reference it),
// and a pulse re-checks what it references under the sweep lock before it
// commits, so a pulse and a GC can run at once. Killing a GC at any point
// loses nothing live; the next run finishes the sweep.
func (a *App) GC(ctx context.Context, dryRun bool) (api.GCResult, error) {
	res, err := a.gc(ctx, dryRun)
	if !dryRun && a.Metrics != nil {
		a.Metrics.GC(err, len(res.Expired), res.Files, res.Bytes)
	}
	return res, err
}

func (a *App) gc(ctx context.Context, dryRun bool) (api.GCResult, error) {
	res := api.GCResult{DryRun: dryRun, Expired: []api.Snapshot{}}
	gl, err := a.locker().GC(ctx)
	if errors.Is(err, lock.ErrBusy) {
		return res, fmt.Errorf("gc: %w: another garbage collection is running", api.ErrExists)
	}
	if err != nil {
		return res, err
	}
	defer gl.Release()

	// The sweep lock is taken before the catalog is read: a pulse that
	// commits before it is in the catalog Collect reads; one that commits
	// after re-checks its files under the shared lock once we are done.
	if !dryRun {
		sweep, err := a.locker().Sweep(ctx, true)
		if err != nil {
			return res, err
		}
		defer sweep.Release()
	}
	// Files older than this are not being written by a running pulse.
	cutoff := time.Now().Add(-time.Second)
	pulses, err := a.locker().Writers(ctx)
	if err != nil {
		return res, err
	}
	for _, started := range pulses {
		if t := started.Add(-time.Second); t.Before(cutoff) {
			cutoff = t
		}
	}
	var customs []string
	for _, cu := range a.Config.Customs {
		customs = append(customs, cu.Name)
	}
	started := time.Now()
	col, err := a.Catalog.Collect(ctx, a.Now(), dryRun, customs...)
	collected := time.Since(started)
	if err != nil {
		return res, fmt.Errorf("gc: %w", err)
	}
	for _, s := range col.Snapshots {
		res.Expired = append(res.Expired, apiSnapshot(s))
	}
	if !dryRun {
		a.invalidate()
		if err := a.Store.CleanTemp(ctx, cutoff); err != nil {
			return res, fmt.Errorf("gc: %w", err)
		}
		// The web UI's package lists of collected indices (one written for
		// an index committed meanwhile is only rebuilt on its next use).
		if _, err := web.PruneSidecars(a.sidecarDir(), func(d blob.Digest) bool { return col.Live[d] }); err != nil {
			a.Log.Warn("gc: web package lists", "err", err)
		}
	}
	var dead []blob.Info
	err = a.Store.Walk(ctx, func(info blob.Info) error {
		if col.Live[info.Digest] || !info.ModTime.Before(cutoff) {
			res.Kept++
			return nil
		}
		dead = append(dead, info)
		res.Files++
		res.Bytes += info.Size
		return nil
	})
	if !dryRun {
		// What was deleted, also when the sweep stops short.
		res.Files, res.Bytes = 0, 0
		if err == nil {
			res.Files, res.Bytes, err = a.deleteAll(ctx, dead)
		}
	}
	if err != nil {
		return res, fmt.Errorf("gc: sweep: %w", err)
	}
	a.Log.Info("gc", "dry_run", dryRun, "expired", len(res.Expired), "files", res.Files, "bytes", res.Bytes, "kept", res.Kept,
		"catalog", collected.Round(time.Millisecond), "sweep", (time.Since(started) - collected).Round(time.Millisecond))
	return res, nil
}

// Untrack implements api.Ops.
func (a *App) Untrack(ctx context.Context, archive, suite string) (api.UntrackResult, error) {
	arc, err := a.Config.Archive(archive)
	if err != nil {
		return api.UntrackResult{}, fmt.Errorf("untrack: %w: %v", catalog.ErrNotFound, err)
	}
	if !slices.Contains(arc.Suites, suite) {
		snaps, err := a.Catalog.Snapshots(ctx, archive)
		if err != nil {
			return api.UntrackResult{}, err
		}
		if !slices.ContainsFunc(snaps, func(s catalog.Snapshot) bool { return slices.Contains(s.Suites, suite) }) {
			return api.UntrackResult{}, fmt.Errorf("untrack: %w: %s tracks no suite %q", catalog.ErrNotFound, archive, suite)
		}
	}
	n, err := a.Catalog.Untrack(ctx, archive, suite)
	if err != nil {
		return api.UntrackResult{}, fmt.Errorf("untrack %s %s: %w", archive, suite, err)
	}
	a.invalidate()
	a.Log.Info("untracked", "archive", archive, "suite", suite, "snapshots", n)
	return api.UntrackResult{Archive: archive, Suite: suite, Snapshots: n}, nil
}

// Package gc collects garbage, as restic prunes: a mark step deletes the
// expired snapshots from the catalog, with every record only they
// referenced, in one transaction, and learns the set of stored files
// everything left references; a sweep step then deletes every other
// stored file. An archive's newest snapshot is kept, expired or not
// (stale): an archive whose pulses fail keeps answering.
//
// It runs while the server serves and pulses and imports write (see
// package lock for the protocol): a file written since the oldest running
// writer started is never swept, since that writer may be about to
// reference it; writers re-check what they reference under the shared
// sweep lock before they commit, and GC holds that lock exclusively from
// before its mark to the end of its sweep. Killing a GC at any point loses
// nothing live; the next run finishes the sweep.
package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/events"
	"github.com/aptsnap/aptsnap/lock"
)

// Options configure a Collector.
type Options struct {
	Catalog catalog.Catalog
	Store   blob.Store
	Locker  lock.Locker
	// Now is the clock snapshots expire by (time.Now if nil). File ages
	// are compared with the real time, as file systems keep it.
	Now func() time.Time
	// Log receives a line per collection (slog.Default() if nil).
	Log *slog.Logger
	// Events hears of the collection (catalog changed, files no longer
	// live) and of its end.
	Events *events.Bus
}

// Collector collects garbage.
type Collector struct{ o Options }

// New returns a Collector.
func New(o Options) *Collector {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Collector{o: o}
}

// Result is what a collection deleted, or, dry, would delete.
type Result struct {
	DryRun bool
	// Expired are the snapshots collected.
	Expired []catalog.Snapshot
	// Files and Bytes are the stored files deleted: on an error, those
	// deleted before it.
	Files int
	Bytes int64
	// Kept is the number of stored files left.
	Kept int
}

// Run collects: expired snapshots, then unreferenced files. With dryRun
// it changes nothing and reports what it would delete.
func (c *Collector) Run(ctx context.Context, dryRun bool) (Result, error) {
	res, err := c.run(ctx, dryRun)
	if !dryRun {
		c.o.Events.GCDone(events.GC{Err: err, Expired: len(res.Expired), Files: res.Files, Bytes: res.Bytes})
	}
	return res, err
}

func (c *Collector) run(ctx context.Context, dryRun bool) (Result, error) {
	res := Result{DryRun: dryRun}
	// A dry run changes nothing: it takes no lock, so that looking (the
	// web UI's storage page, gc --dry-run) never keeps a collection from
	// running. Its figures may then be those of a moment ago.
	if !dryRun {
		gl, err := c.o.Locker.GC(ctx)
		if errors.Is(err, lock.ErrBusy) {
			return res, errdefs.Errorf(errdefs.ErrExists, "gc: another garbage collection is running")
		}
		if err != nil {
			return res, err
		}
		defer gl.Release()

		// The sweep lock is taken before the catalog is read: a writer that
		// commits before it is in the catalog Collect reads; one that commits
		// after re-checks its files under the shared lock once we are done.
		sweep, err := c.o.Locker.Sweep(ctx, true)
		if err != nil {
			return res, err
		}
		defer sweep.Release()
	}
	// Files older than this are not being written by a running writer.
	cutoff := time.Now().Add(-time.Second)
	writers, err := c.o.Locker.Writers(ctx)
	if err != nil {
		return res, err
	}
	for _, started := range writers {
		if t := started.Add(-time.Second); t.Before(cutoff) {
			cutoff = t
		}
	}
	started := time.Now()
	now := c.o.Now()
	col, err := c.o.Catalog.Collect(ctx, now, dryRun)
	marked := time.Since(started)
	if err != nil {
		return res, fmt.Errorf("gc: %w", err)
	}
	res.Expired = col.Snapshots
	c.warnStale(ctx, now)
	if !dryRun {
		c.o.Events.Collected(ctx, func(d blob.Digest) bool { return col.Live[d] })
		if err := c.o.Store.CleanTemp(ctx, cutoff); err != nil {
			return res, fmt.Errorf("gc: %w", err)
		}
	}
	var dead []blob.Info
	err = c.o.Store.Walk(ctx, func(info blob.Info) error {
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
			res.Files, res.Bytes, err = c.deleteAll(ctx, dead)
		}
	}
	if err != nil {
		return res, fmt.Errorf("gc: sweep: %w", err)
	}
	c.o.Log.Info("gc", "dry_run", dryRun, "expired", len(res.Expired), "files", res.Files, "bytes", res.Bytes, "kept", res.Kept,
		"catalog", marked.Round(time.Millisecond), "sweep", (time.Since(started) - marked).Round(time.Millisecond))
	return res, nil
}

// warnStale says which archives are down to an expired newest snapshot,
// which GC keeps (stale) so that the archive still answers: its pulses
// have been failing for longer than its snapshots live.
func (c *Collector) warnStale(ctx context.Context, now time.Time) {
	archives, err := c.o.Catalog.Archives(ctx)
	if err != nil {
		return
	}
	for _, a := range archives {
		s, err := c.o.Catalog.Latest(ctx, a)
		if err == nil && !s.ValidUntil.IsZero() && !now.Before(s.ValidUntil) {
			c.o.Log.Warn("gc: an archive's newest snapshot has expired: kept, stale, until a pulse succeeds or a bump",
				"archive", a, "serial", s.Serial, "valid_until", s.ValidUntil)
		}
	}
}

// deleteAll deletes stored files a few at a time: freeing a large file's
// blocks is file system work that overlaps well with the next unlink. It
// stops at the first error or when ctx ends, and returns what it deleted.
func (c *Collector) deleteAll(ctx context.Context, infos []blob.Info) (files int, bytes int64, err error) {
	const workers = 4
	ch := make(chan blob.Info)
	errs := make(chan error, workers)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for info := range ch {
				if err := c.o.Store.Delete(ctx, info.Digest); err != nil {
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

// Package gc collects garbage, as restic prunes, in two steps.
//
// The mark deletes the expired snapshots from the catalog, with every
// record only they referenced, in one short transaction: from its commit
// they are gone from the catalog and from serving. The sweep then deletes
// every stored file the catalog does not reference. An archive's newest
// snapshot is kept, expired or not (stale): an archive whose pulses fail
// keeps answering.
//
// Both run while the server serves and pulses and imports write (see
// package lock for the protocol): a file written since the oldest running
// writer started is never swept, since that writer may be about to
// reference it; writers re-check what they reference under the shared
// sweep lock before they commit. The mark holds the sweep lock exclusively
// for its transaction. The sweep lists the store without it, then deletes
// in rounds: each round takes the sweep lock exclusively, reads what the
// catalog references now, and deletes candidates that are not referenced
// for at most SweepOptions.Hold, then lets writers commit for
// SweepOptions.Pause. A writer that commits between rounds is seen by the
// next round's read; one that found a file stored commits before the file
// can go. So a background sweep bounds how long a pulse waits, and its
// rate. Killing a GC at any point loses nothing live; the next sweep
// finishes the work (a sweep considers every unreferenced file, not only
// those of the last mark).
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
	// Marked is how long the mark took (to its commit), Swept how long
	// the sweep did.
	Marked, Swept time.Duration
}

// SweepOptions bound a sweep's hold on writers and its rate.
type SweepOptions struct {
	// Hold is how long a round holds the sweep lock (writers wait that long
	// at most to commit, besides reading the catalog); zero holds it until
	// the sweep is done.
	Hold time.Duration
	// Pause is how long the sweep waits between rounds.
	Pause time.Duration
}

// Background is how a server sweeps behind a mark: rounds of 200 ms
// with as long between them.
var Background = SweepOptions{Hold: 200 * time.Millisecond, Pause: 200 * time.Millisecond}

// Run collects: expired snapshots (Mark), then unreferenced files (Sweep,
// holding the sweep lock until done). With dryRun it changes nothing and
// reports what it would delete.
func (c *Collector) Run(ctx context.Context, dryRun bool) (Result, error) {
	var res Result
	var err error
	if dryRun {
		res, err = c.dry(ctx)
	} else {
		res, err = c.run(ctx)
	}
	if !dryRun {
		c.o.Events.GCDone(events.GC{Err: err, Expired: len(res.Expired), Files: res.Files, Bytes: res.Bytes})
	}
	return res, err
}

// dry reports what Run would do, taking no lock: looking (the web UI's
// storage page, gc --dry-run) never keeps a collection from running. Its
// figures may then be those of a moment ago.
func (c *Collector) dry(ctx context.Context) (Result, error) {
	res := Result{DryRun: true}
	cutoff, err := c.cutoff(ctx)
	if err != nil {
		return res, err
	}
	started := time.Now()
	col, err := c.o.Catalog.Collect(ctx, c.o.Now(), true)
	res.Marked = time.Since(started)
	if err != nil {
		return res, fmt.Errorf("gc: %w", err)
	}
	res.Expired = col.Snapshots
	err = c.o.Store.Walk(ctx, func(info blob.Info) error {
		if col.Live.Has(info.Digest) || !info.ModTime.Before(cutoff) {
			res.Kept++
			return nil
		}
		res.Files++
		res.Bytes += info.Size
		return nil
	})
	res.Swept = time.Since(started) - res.Marked
	if err != nil {
		return res, fmt.Errorf("gc: sweep: %w", err)
	}
	return res, nil
}

func (c *Collector) run(ctx context.Context) (Result, error) {
	gl, err := c.gcLock(ctx)
	if err != nil {
		return Result{}, err
	}
	defer gl.Release()
	// The sweep lock is held from before the mark to the end of the
	// sweep: what the mark learns is live stays so.
	sl, err := c.o.Locker.Sweep(ctx, true)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		if sl != nil {
			sl.Release()
		}
	}()
	res, live, err := c.mark(ctx)
	if err != nil {
		return res, err
	}
	sw, err := c.sweep(ctx, SweepOptions{}, &sl, live)
	res.Files, res.Bytes, res.Kept, res.Swept = sw.Files, sw.Bytes, sw.Kept, sw.Swept
	c.o.Log.Info("gc", "expired", len(res.Expired), "files", res.Files, "bytes", res.Bytes, "kept", res.Kept,
		"catalog", res.Marked.Round(time.Millisecond), "sweep", res.Swept.Round(time.Millisecond))
	return res, err
}

// Mark deletes the expired snapshots from the catalog, and every record
// only they referenced, in one transaction; their files stay until a
// Sweep.
func (c *Collector) Mark(ctx context.Context) (Result, error) {
	sl, err := c.o.Locker.Sweep(ctx, true)
	if err != nil {
		return Result{}, err
	}
	defer sl.Release()
	res, _, err := c.mark(ctx)
	if err == nil {
		c.o.Log.Info("gc: marked", "expired", len(res.Expired), "catalog", res.Marked.Round(time.Millisecond))
	}
	c.o.Events.GCDone(events.GC{Err: err, Expired: len(res.Expired)})
	return res, err
}

// mark runs the catalog's collection; the caller holds the sweep lock.
func (c *Collector) mark(ctx context.Context) (Result, *blob.Set, error) {
	var res Result
	started := time.Now()
	now := c.o.Now()
	col, err := c.o.Catalog.Collect(ctx, now, false)
	res.Marked = time.Since(started)
	if err != nil {
		return res, nil, fmt.Errorf("gc: %w", err)
	}
	res.Expired = col.Snapshots
	c.warnStale(ctx, now)
	c.o.Events.Collected(ctx, col.Live.Has)
	return res, &col.Live, nil
}

// Sweep deletes every stored file the catalog does not reference, in
// rounds bounded by o. Only one sweep (or Run) runs at a time.
func (c *Collector) Sweep(ctx context.Context, o SweepOptions) (Result, error) {
	gl, err := c.gcLock(ctx)
	if err != nil {
		return Result{}, err
	}
	defer gl.Release()
	var sl lock.Lock
	defer func() {
		if sl != nil {
			sl.Release()
		}
	}()
	res, err := c.sweep(ctx, o, &sl, nil)
	c.o.Events.GCDone(events.GC{Err: err, Files: res.Files, Bytes: res.Bytes, Sweep: true})
	c.o.Log.Info("gc: swept", "files", res.Files, "bytes", res.Bytes, "kept", res.Kept, "sweep", res.Swept.Round(time.Millisecond), "err", err)
	return res, err
}

func (c *Collector) gcLock(ctx context.Context) (lock.Lock, error) {
	gl, err := c.o.Locker.GC(ctx)
	if errors.Is(err, lock.ErrBusy) {
		return nil, errdefs.Errorf(errdefs.ErrExists, "gc: another garbage collection is running")
	}
	return gl, err
}

// cutoff is the time before which stored files are not being written by
// a running writer.
func (c *Collector) cutoff(ctx context.Context) (time.Time, error) {
	cutoff := time.Now().Add(-time.Second)
	writers, err := c.o.Locker.Writers(ctx)
	if err != nil {
		return cutoff, err
	}
	for _, started := range writers {
		if t := started.Add(-time.Second); t.Before(cutoff) {
			cutoff = t
		}
	}
	return cutoff, nil
}

// live is every file the catalog references now: a dry collection at the
// epoch expires nothing.
func (c *Collector) live(ctx context.Context) (*blob.Set, error) {
	col, err := c.o.Catalog.Collect(ctx, time.Unix(1, 0), true)
	if err != nil {
		return nil, fmt.Errorf("gc: reading what the catalog references: %w", err)
	}
	return &col.Live, nil
}

// sweep deletes what is not live in rounds. *sl is the sweep lock when
// held (and live, if not nil, what the catalog referenced when it was
// taken); sweep takes and releases it between rounds, leaving *sl as it
// holds it.
func (c *Collector) sweep(ctx context.Context, o SweepOptions, sl *lock.Lock, live *blob.Set) (res Result, err error) {
	started := time.Now()
	defer func() { res.Swept = time.Since(started) }()
	cutoff, err := c.cutoff(ctx)
	if err != nil {
		return res, err
	}
	if err := c.o.Store.CleanTemp(ctx, cutoff); err != nil {
		return res, fmt.Errorf("gc: %w", err)
	}
	// The candidates: files written before the cutoff, and, if known, not
	// live. Listing the store holds up no writer. Holding the lock to the
	// end with what is live known (a local gc), every candidate is dead:
	// they are deleted as the walk goes, in batches, rather than listed
	// first (a list as long as the store's dead files, 64 bytes each);
	// the loop below deletes the last batch.
	var cands []blob.Info
	stream := *sl != nil && live != nil && o.Hold == 0
	flush := func() error {
		files, bytes, err := c.deleteAll(ctx, cands)
		res.Files += files
		res.Bytes += bytes
		cands = cands[:0]
		return err
	}
	err = c.o.Store.Walk(ctx, func(info blob.Info) error {
		if !info.ModTime.Before(cutoff) || live != nil && live.Has(info.Digest) {
			res.Kept++
			return nil
		}
		if cands = append(cands, info); stream && len(cands) == 1024 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("gc: sweep: %w", err)
	}
	for len(cands) > 0 {
		if *sl == nil {
			if *sl, err = c.o.Locker.Sweep(ctx, true); err != nil {
				return res, err
			}
			live = nil
		}
		if live == nil {
			if live, err = c.live(ctx); err != nil {
				return res, err
			}
		}
		// Delete until the round's time is up, in batches so that it is
		// looked at often.
		deadline := time.Now().Add(o.Hold)
		for len(cands) > 0 && (o.Hold == 0 || time.Now().Before(deadline)) {
			n := len(cands) // all at once when holding until done
			if o.Hold > 0 {
				n = min(n, 32)
			}
			var dead []blob.Info
			for _, info := range cands[:n] {
				if live.Has(info.Digest) {
					res.Kept++
				} else {
					dead = append(dead, info)
				}
			}
			cands = cands[n:]
			files, bytes, err := c.deleteAll(ctx, dead)
			res.Files += files
			res.Bytes += bytes
			if err != nil {
				return res, fmt.Errorf("gc: sweep: %w", err)
			}
		}
		if len(cands) > 0 {
			(*sl).Release()
			*sl = nil
			select {
			case <-ctx.Done():
				return res, fmt.Errorf("gc: sweep: %w", ctx.Err())
			case <-time.After(o.Pause):
			}
		}
	}
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

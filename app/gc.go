package app

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/gc"
)

// sweepPendingKey, in the catalog's KV, says that a mark has left files
// to sweep: any process may set it, the leading server sweeps and clears
// it (and a sweep killed half way is taken up again from it).
const sweepPendingKey = "aptsnap/gc/sweep-pending"

// GC implements api.Ops (see package gc). While a server's schedule runs,
// a collection returns once its mark is committed (the snapshots gone
// from the catalog and from serving) and the leading server sweeps in the
// background (gc.Background); otherwise it sweeps before it returns.
func (a *App) GC(ctx context.Context, dryRun bool) (api.GCResult, error) {
	kv, hasKV := a.Catalog.(catalog.KV)
	if dryRun || !a.sweeper.Load() || !hasKV {
		res, err := a.collector().Run(ctx, dryRun)
		return gcResult(res, false), err
	}
	res, err := a.collector().Mark(ctx)
	if err != nil {
		return gcResult(res, false), err
	}
	if err := kv.KVPut(ctx, sweepPendingKey, []byte(time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		a.Log.Warn("gc: the sweep to do could not be recorded: sweeping now", "err", err)
		sw, err := a.collector().Sweep(ctx, gc.SweepOptions{})
		res.Files, res.Bytes, res.Kept, res.Swept = sw.Files, sw.Bytes, sw.Kept, sw.Swept
		return gcResult(res, false), err
	}
	select {
	case a.sweepNow <- struct{}{}:
	default:
	}
	return gcResult(res, true), nil
}

func gcResult(res gc.Result, background bool) api.GCResult {
	return api.GCResult{DryRun: res.DryRun, Expired: apiSnapshots(res.Expired), Files: res.Files, Bytes: res.Bytes, Kept: res.Kept,
		Background: background, CatalogSeconds: res.Marked.Seconds(), SweepSeconds: res.Swept.Seconds()}
}

// sweepInBackground sweeps what marks leave, at gc.Background's pace,
// until ctx ends: at once if a sweep is pending (one a killed server
// left), on each mark of this process, and when another's is seen.
func (a *App) sweepInBackground(ctx context.Context) {
	kv, ok := a.Catalog.(catalog.KV)
	if !ok {
		return
	}
	poll := a.SweepPoll
	if poll <= 0 {
		poll = time.Minute
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		for a.sweepPending(ctx, kv) {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.sweepNow:
		}
	}
}

// sweepPending sweeps if a sweep is pending, and reports whether to look
// again at once (a mark came during the sweep).
func (a *App) sweepPending(ctx context.Context, kv catalog.KV) bool {
	mark, _, err := kv.KVGet(ctx, sweepPendingKey)
	if err != nil {
		if !errors.Is(err, catalog.ErrNotFound) && ctx.Err() == nil {
			a.Log.Warn("gc: looking for a sweep to do", "err", err)
		}
		return false
	}
	if _, err := a.collector().Sweep(ctx, gc.Background); err != nil {
		if ctx.Err() == nil && !errors.Is(err, errdefs.ErrExists) {
			a.Log.Error("gc: background sweep; tried again later", "err", err)
		}
		return false // another collection runs (it sweeps too), or later
	}
	now, _, err := kv.KVGet(ctx, sweepPendingKey)
	if err == nil && !bytes.Equal(now, mark) {
		return true // marked again meanwhile
	}
	if err := kv.KVDelete(ctx, sweepPendingKey); err != nil && ctx.Err() == nil {
		a.Log.Warn("gc: clearing the sweep done", "err", err)
	}
	return false
}

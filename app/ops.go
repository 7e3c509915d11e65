package app

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/datadir"
	"github.com/aptsnap/aptsnap/gc"
	"github.com/aptsnap/aptsnap/lock"
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

// sidecarDir holds the web UI's package list per index.
func (a *App) sidecarDir() string { return filepath.Join(a.Config.DataDir, "cache", "packages") }

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
	var customs []string
	for _, cu := range a.Config.Customs {
		customs = append(customs, cu.Name)
	}
	c := gc.New(gc.Options{Catalog: a.Catalog, Store: a.Store, Locker: a.locker(), KeepNewest: customs,
		Now: a.Now, Log: a.Log, Events: a.Events})
	res, err := c.Run(ctx, dryRun)
	out := api.GCResult{DryRun: res.DryRun, Expired: []api.Snapshot{}, Files: res.Files, Bytes: res.Bytes, Kept: res.Kept}
	for _, s := range res.Expired {
		out.Expired = append(out.Expired, apiSnapshot(s))
	}
	return out, err
}

// Untrack implements api.Ops.
func (a *App) Untrack(ctx context.Context, archive, suite string) (api.UntrackResult, error) {
	arc, err := a.Config.Archive(archive)
	if err != nil {
		return api.UntrackResult{}, fmt.Errorf("untrack: %w: %v", catalog.ErrNotFound, err)
	}
	n, err := a.Mirror().Untrack(ctx, arc, suite)
	if err != nil {
		return api.UntrackResult{}, err
	}
	return api.UntrackResult{Archive: archive, Suite: suite, Snapshots: n}, nil
}
